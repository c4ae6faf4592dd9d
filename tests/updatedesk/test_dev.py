"""`updatedesk dev` as a user runs it: a subprocess in an empty directory, no external services.
The whole seed path happens there: request, staff schedules, live progress, completed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support_live import LiveServer, free_port, wait_until, ws_client

STARTUP_SECONDS = 60
TOKEN_LINE = re.compile(r"^\s+(?P<role>[A-Z_]+)\s+(?P<email>\S+@\S+)\s+(?P<token>ud_\S+)$")


@dataclass
class DevProcess:
    process: asyncio.subprocess.Process
    port: int
    tokens: dict[str, str]
    banner: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def dev_process(directory: Path) -> AsyncIterator[DevProcess]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")}
    env.update(UPDATEDESK_SIMULATED_STEP_SECONDS="0.02", UPDATEDESK_SCHEDULER_INTERVAL="0.2")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "updatedesk.cli", "dev", "--port", str(port),
        cwd=directory, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    banner: list[str] = []
    tokens: dict[str, str] = {}
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            while "hosting@provider.example" not in tokens or "tc@lakeside.example" not in tokens:
                line = (await process.stdout.readline()).decode()
                assert line, "updatedesk dev exited early:\n" + "".join(banner)
                banner.append(line)
                if match := TOKEN_LINE.match(line.rstrip("\n")):
                    tokens[match["email"]] = match["token"]
        drain = asyncio.create_task(_drain(process.stdout))
        dev = DevProcess(process, port, tokens, banner)
        async with httpx.AsyncClient(base_url=dev.url) as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, "updatedesk dev to answer", within=STARTUP_SECONDS)
        yield dev
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
    if drain is not None:
        drain.cancel()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def gql(http: httpx.AsyncClient, token: str, query: str, **variables: object) -> dict:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_dev_serves_graphiql_and_runs_the_seed_path(tmp_path: Path) -> None:
    async with dev_process(tmp_path) as dev, httpx.AsyncClient(base_url=dev.url) as http:
        assert (tmp_path / "updatedesk.sqlite3").exists()
        assert any(f"http://127.0.0.1:{dev.port}/graphql" in line for line in dev.banner)
        page = await http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()

        contact, staff = dev.tokens["tc@lakeside.example"], dev.tokens["hosting@provider.example"]
        districts = (await gql(http, contact, "{ districts { id name } }"))["districts"]
        assert [d["name"] for d in districts] == ["Lakeside Public Schools"]
        requested = await gql(
            http,
            contact,
            """mutation($d: ID!) { requestUpdate(input: {districtId: $d, kind: VERSION_UPDATE,
                 environment: PRODUCTION, targetVersion: "Campus.2435.4"}) {
                 updateRequest { id status } errors { code message } } }""",
            d=districts[0]["id"],
        )
        payload = requested["requestUpdate"]
        assert payload["errors"] == [] and payload["updateRequest"]["status"] == "TO_BE_SCHEDULED"
        request_id = payload["updateRequest"]["id"]

        async with ws_client(LiveServer(app=None, port=dev.port), contact) as ws:  # type: ignore[arg-type]
            await ws.subscribe("one", {"updateRequestId": request_id})
            snapshot = await ws.event("one")
            assert snapshot["type"] == "SNAPSHOT"
            scheduled = await gql(
                http,
                staff,
                """mutation($id: ID!, $start: DateTime!) { scheduleUpdateRequest(id: $id, start: $start,
                     overrideMaintenanceWindow: true) { updateRequest { status } errors { code } } }""",
                id=request_id,
                start=datetime.now(UTC).isoformat(),
            )
            assert scheduled["scheduleUpdateRequest"]["errors"] == []
            statuses: list[str] = []
            percents: list[int] = []
            while not statuses or statuses[-1] != "COMPLETED":
                event = await ws.event("one", within=30)
                if event["type"] == "PROGRESS":
                    percents.append(event["progress"]["percent"])
                else:
                    statuses.append(event["updateRequest"]["status"])
        assert statuses == ["SCHEDULED", "NOT_STARTED", "IN_PROGRESS", "COMPLETED"]
        assert percents and percents == sorted(percents)

        environments = await gql(
            http,
            contact,
            """query($d: ID!) { district(id: $d) { environments { kind currentVersion }
                 updateRequests(first: 10) { edges { node { automatic environment { kind } } } } } }""",
            d=districts[0]["id"],
        )
        district = environments["district"]
        production = next(e for e in district["environments"] if e["kind"] == "PRODUCTION")
        assert production["currentVersion"] == "Campus.2435.4"
        automatic = [e["node"] for e in district["updateRequests"]["edges"] if e["node"]["automatic"]]
        assert [a["environment"]["kind"] for a in automatic] == ["SANDBOX"]
