"""A real `updatedesk dev` process for the web page's browser tests, and a small API client.

`updatedesk dev` is what a district contact opens: the embedded default (in-process queue, bus and
scheduler), demo data, demo tokens, and the page at `/` offering those accounts. Its database is a
SQLite file in a temporary directory, or a fresh PostgreSQL database for the PostgreSQL half.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.support import create_postgres_database, drop_postgres_database
from tests.support_live import free_port
from tests.support_processes import drain, stop, until_healthy

STARTUP_SECONDS = 60
#: Simulated runbook steps last this long: a refresh (4 steps) stays In Progress ~1.6 s, long
#: enough for a person (and the test) to see its progress bar, short enough for a fast suite.
STEP_SECONDS = "0.4"
SCHEDULER_INTERVAL = "0.2"
STAFF_EMAIL = "hosting@provider.example"
TOKEN_LINE = re.compile(r"^\s+(?P<role>[A-Z_]+)\s+(?P<email>\S+@\S+)\s+(?P<token>ud_\S+)$")


@dataclass
class WebServer:
    url: str
    backend: str
    tokens: dict[str, str]
    http: httpx.AsyncClient
    #: The folder `updatedesk dev` runs in (its SQLite file is there), and its environment.
    directory: Path
    env: dict[str, str]

    async def gql(self, email: str, query: str, **variables: Any) -> dict[str, Any]:
        """Run an operation as a demo account; fail on GraphQL errors."""
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.tokens[email]}"},
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def cli(self, *args: str) -> str:
        """Run `updatedesk ARGS` on the server's database (as an operator would); its output."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "updatedesk.cli", *args,
            cwd=self.directory, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, f"updatedesk {' '.join(args)}: {err.decode()}"
        return out.decode()

    async def open_subscriptions(self) -> int:
        """Subscriptions the server holds now (its /metrics gauge)."""
        text = (await self.http.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith("updatedesk_open_subscriptions "):
                return int(float(line.split()[1]))
        raise AssertionError("the server reports no updatedesk_open_subscriptions gauge")


# Shortcuts through the API, for what a test prepares or checks outside the page.
DISTRICTS = "{ districts { id name } }"
REQUEST = """
mutation($input: RequestUpdateInput!) {
  requestUpdate(input: $input) { updateRequest { id status } errors { code message field } }
}"""
SCHEDULE = """
mutation($id: ID!, $start: DateTime!) {
  scheduleUpdateRequest(id: $id, start: $start) { updateRequest { status } errors { code message } }
}"""
STATUS = "query($id: ID!) { updateRequest(id: $id) { status } }"
SLOTS = "query($d: ID!) { maintenanceWindows(districtId: $d, first: 2) { start } }"


async def district_id(web: WebServer, email: str, name: str) -> str:
    districts = (await web.gql(email, DISTRICTS))["districts"]
    return next(d["id"] for d in districts if d["name"] == name)


async def first_slot(web: WebServer, district: str) -> str:
    """The start of the district's next maintenance slot that has not begun: the first the staff's
    Schedule dialog offers (inside a window, the slot in progress starts in the past)."""
    slots = (await web.gql(STAFF_EMAIL, SLOTS, d=district))["maintenanceWindows"]
    now = datetime.now(UTC)
    start: str = next(slot["start"] for slot in slots if datetime.fromisoformat(slot["start"]) >= now)
    return start


async def request_via_api(web: WebServer, email: str, district: str, **input: Any) -> str:
    payload = (await web.gql(email, REQUEST, input={"districtId": district, **input}))["requestUpdate"]
    assert payload["errors"] == [], payload
    request_id: str = payload["updateRequest"]["id"]
    return request_id


async def schedule_via_api(web: WebServer, request_id: str, start: str | None = None) -> None:
    start = start or datetime.now(UTC).isoformat()
    payload = (await web.gql(STAFF_EMAIL, SCHEDULE, id=request_id, start=start))["scheduleUpdateRequest"]
    assert payload["errors"] == [], payload


async def status_via_api(web: WebServer, email: str, request_id: str) -> str | None:
    found = (await web.gql(email, STATUS, id=request_id))["updateRequest"]
    return None if found is None else str(found["status"])


#: The SQLite file of `updatedesk dev` in its folder (the default DATABASE_URL).
SQLITE_FILE = "updatedesk.sqlite3"


@asynccontextmanager
async def table_away(web: WebServer, table: str) -> AsyncIterator[None]:
    """The server's database without `table` (renamed aside) for the block: every statement that
    reads it fails, as when the database stops answering, while the rest of the server works on."""
    aside = f"{table}_away"
    await _rename_table(web, table, aside)
    try:
        yield
    finally:
        await _rename_table(web, aside, table)


async def _rename_table(web: WebServer, name: str, new_name: str) -> None:
    statement = f'ALTER TABLE "{name}" RENAME TO "{new_name}"'
    database_url = web.env.get("DATABASE_URL")
    if database_url is None:

        def rename() -> None:
            with contextlib.closing(sqlite3.connect(web.directory / SQLITE_FILE, timeout=10)) as db:
                db.execute(statement)
                db.commit()

        await asyncio.to_thread(rename)
        return
    connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def dev_server(
    directory: Path, backend: str, settings: dict[str, str] | None = None
) -> AsyncIterator[WebServer]:
    """`updatedesk dev` on `backend`, with `settings` (UPDATEDESK_* variables) on top of the
    tests' own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")}
    env.update(
        UPDATEDESK_SIMULATED_STEP_SECONDS=STEP_SECONDS, UPDATEDESK_SCHEDULER_INTERVAL=SCHEDULER_INTERVAL
    )
    env.update(settings or {})
    database_url = await create_postgres_database("updatedesk_web") if backend == "postgres" else None
    if database_url:
        env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "updatedesk.cli", "dev", "--port", str(port),
        cwd=directory, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    reader: asyncio.Task[None] | None = None
    try:
        tokens: dict[str, str] = {}
        lines: list[str] = []
        async with asyncio.timeout(STARTUP_SECONDS):
            while len(tokens) < 7:  # one per demo account
                line = (await process.stdout.readline()).decode()
                assert line, "updatedesk dev exited early:\n" + "".join(lines)
                lines.append(line)
                if match := TOKEN_LINE.match(line.rstrip("\n")):
                    tokens[match["email"]] = match["token"]
        reader = asyncio.create_task(drain(process.stdout))
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            await until_healthy(http, "updatedesk dev to answer", within=STARTUP_SECONDS)
            yield WebServer(url, backend, tokens, http, directory, env)
    finally:
        await stop(process)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if database_url:
            await drop_postgres_database(database_url)
