"""`updatedesk bootstrap` as compose runs it: a subprocess on an empty database prints one line, a
staff token that works against the API; run again it changes nothing and prints another."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from models.enums import Role, UpdateStatus
from models.tables import Account, District, UpdateRequest
from tests.support import create_postgres_database, drop_postgres_database, selected_backends
from tests.support_graphql import api_client
from tests.support_live import free_port
from tests.support_processes import stop, until_healthy

ROOT = Path(__file__).resolve().parents[2]
DESIGN_EXAMPLE = Path(__file__).with_name("design-example.json")
STARTUP_SECONDS = 60
VIEWER = "{ viewer { account { email role } } updateRequests(first: 1) { totalCount } }"


def bootstrap(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SMTP_URL")}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "updatedesk.cli", "bootstrap", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def the_token(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # one line, like `tokens issue`: `$(updatedesk bootstrap)`
    assert lines[0].startswith("ud_")
    return lines[0]


async def test_bootstrap_loads_the_demo_once_and_prints_a_working_staff_token(db):
    first = bootstrap(db.url)
    token = the_token(first)
    assert "tokens issue hosting@provider.example" in first.stderr  # how to get another
    counts = (await District.all().count(), await UpdateRequest.all().count())
    assert await UpdateRequest.filter(status=UpdateStatus.IN_PROGRESS).exists()

    async with api_client() as api:
        data = await api.data(VIEWER, token=token)
    assert data["viewer"]["account"] == {"email": "hosting@provider.example", "role": "HOSTING_STAFF"}
    assert data["updateRequests"]["totalCount"] > 0

    again = bootstrap(db.url)
    second = the_token(again)
    assert second != token
    assert "already has data" in again.stderr
    assert (await District.all().count(), await UpdateRequest.all().count()) == counts
    async with api_client() as api:
        assert (await api.data(VIEWER, token=second))["viewer"]["account"]["role"] == "HOSTING_STAFF"


async def test_bootstrap_with_a_catalog_imports_it_instead_of_the_demo(db, tmp_path):
    document = json.loads(DESIGN_EXAMPLE.read_text())
    refused = bootstrap(db.url, str(DESIGN_EXAMPLE))  # no staff account in it: nobody could get in
    assert refused.returncode == 2 and refused.stdout == ""
    assert "HOSTING_STAFF" in refused.stderr and "Traceback" not in refused.stderr
    assert not await District.exists() and not await Account.exists()  # nothing written

    document["accounts"].append(
        {"email": "ops@provider.example", "name": "Ops", "role": "HOSTING_STAFF", "districts": []}
    )
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(document))
    token = the_token(bootstrap(db.url, str(catalog), "--expires-in", "7"))
    assert [d.name for d in await District.all()] == ["Lakeside Public Schools"]
    assert not await UpdateRequest.exists()  # the catalog only, no demo requests
    async with api_client() as api:
        account = (await api.data(VIEWER, token=token))["viewer"]["account"]
    assert account == {"email": "ops@provider.example", "role": Role.HOSTING_STAFF.value}


@asynccontextmanager
async def fresh_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """A database nothing has touched yet: not even migrated."""
    if backend == "sqlite":
        yield f"sqlite://{directory / 'never-migrated.sqlite3'}"
        return
    url = await create_postgres_database("updatedesk_bootstrap")
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@asynccontextmanager
async def api_process(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """`updatedesk serve` on that database (embedded queue and bus), as its own process."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SMTP_URL")}
    env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "updatedesk.cli", "serve", "--port", str(port),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await until_healthy(http, "updatedesk serve to answer", within=STARTUP_SECONDS)
            yield http
    finally:
        await stop(process)


@pytest.mark.parametrize("backend", selected_backends())
async def test_bootstrap_migrates_a_new_database_and_its_token_works_against_the_api(backend, tmp_path):
    async with fresh_database(backend, tmp_path) as url:
        token = the_token(bootstrap(url))
        async with api_process(url) as http:
            response = await http.post(
                "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}
            )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["viewer"]["account"]["role"] == "HOSTING_STAFF"
    assert body["data"]["updateRequests"]["totalCount"] > 0
