"""`updatedesk dev` as a user runs it: a subprocess in an empty directory, no external services.
The whole seed path happens there: request, staff schedules, live progress, completed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support_live import LiveServer, free_port, wait_until, ws_client
from tests.support_processes import drain, stop, until_healthy
from tests.support_webhooks import receiver

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
async def dev_process(
    directory: Path, *args: str, settings: dict[str, str] | None = None
) -> AsyncIterator[DevProcess]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")}
    env.update(
        UPDATEDESK_SIMULATED_STEP_SECONDS="0.02", UPDATEDESK_SCHEDULER_INTERVAL="0.2", **(settings or {})
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "updatedesk.cli", "dev", "--port", str(port), *args,
        cwd=directory, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    banner: list[str] = []
    tokens: dict[str, str] = {}
    reader: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(STARTUP_SECONDS):
            # The banner ends with the examples; every line of it is read before the test goes on.
            while not banner or not banner[-1].lstrip().startswith("3. "):
                line = (await process.stdout.readline()).decode()
                assert line, "updatedesk dev exited early:\n" + "".join(banner)
                banner.append(line)
                if match := TOKEN_LINE.match(line.rstrip("\n")):
                    tokens[match["email"]] = match["token"]
            banner.append((await process.stdout.readline()).decode())  # the third example's link
        reader = asyncio.create_task(drain(process.stdout))
        dev = DevProcess(process, port, tokens, banner)
        async with httpx.AsyncClient(base_url=dev.url) as http:
            await until_healthy(http, "updatedesk dev to answer", within=STARTUP_SECONDS)
        yield dev
    finally:
        await stop(process)
    if reader is not None:
        reader.cancel()


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
                 updateRequests(first: 10) {
                   edges { node { automatic targetVersion environment { kind } } } } } }""",
            d=districts[0]["id"],
        )
        district = environments["district"]
        production = next(e for e in district["environments"] if e["kind"] == "PRODUCTION")
        assert production["currentVersion"] == "Campus.2435.4"
        # The sandbox follows production (the demo's own automatic update, weeks old, aside).
        automatic = [
            e["node"]
            for e in district["updateRequests"]["edges"]
            if e["node"]["automatic"] and e["node"]["targetVersion"] == "Campus.2435.4"
        ]
        assert [a["environment"]["kind"] for a in automatic] == ["SANDBOX"]


def example_links(banner: list[str]) -> list[tuple[str, dict[str, object]]]:
    """The (document, variables) of each GraphiQL link the banner offers, in order."""
    found = []
    for line in banner:
        text = line.strip()
        if text.startswith("http://") and "/graphql?" in text:
            parameters = parse_qs(urlsplit(text).query)
            variables = json.loads(parameters["variables"][0]) if "variables" in parameters else {}
            found.append((parameters["query"][0], variables))
    return found


async def run_example(http: httpx.AsyncClient, token: str, document: str, variables: dict) -> dict:
    """As a person would in GraphiQL: the first operation, its id into the variables, StartNow."""
    asked_name, start_name = re.findall(r"^mutation (\w+)", document, re.MULTILINE)
    asked = await gql_operation(http, token, document, asked_name, variables)
    payload = next(iter(asked.values()))
    assert payload["errors"] == [], payload
    variables = {
        **variables,
        "request": payload["updateRequest"]["id"],
        "start": datetime.now(UTC).isoformat(),
    }
    started = await gql_operation(http, token, document, start_name, variables)
    return next(iter(started.values()))


async def gql_operation(
    http: httpx.AsyncClient, token: str, document: str, name: str, variables: dict
) -> dict:
    response = await http.post(
        "/graphql",
        json={"query": document, "operationName": name, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_dev_reset_starts_over_and_its_three_examples_work(tmp_path: Path) -> None:
    # A dev database with something of its own in it, which --reset must drop.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")}
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"districts": [{"name": "Before Reset", "hostingModel": "ASP_HOSTED"}]}))
    for command in (["bootstrap"], ["import", str(extra)]):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "updatedesk.cli", *command],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    async with dev_process(tmp_path, "--reset") as dev, httpx.AsyncClient(base_url=dev.url) as http:
        text = "".join(dev.banner)
        assert f"dev --reset: deleted {tmp_path / 'updatedesk.sqlite3'}" in text
        assert "(demo data loaded)" in text
        staff = dev.tokens["hosting@provider.example"]
        names = {d["name"] for d in (await gql(http, staff, "{ districts { name } }"))["districts"]}
        assert "Before Reset" not in names and "Lakeside Public Schools" in names

        # The mails of the demo's history go out (here: logged) as soon as the queue runs, not
        # minutes later as "lost" jobs of the outbox sweep.
        def mail_states() -> list[str]:
            with closing(sqlite3.connect(tmp_path / "updatedesk.sqlite3")) as database:
                return [state for (state,) in database.execute("SELECT state FROM notification")]

        assert mail_states()
        await wait_until(lambda: set(mail_states()) == {"LOGGED"}, "the demo's mails to be logged", within=20)

        refresh, update, watch = example_links(dev.banner)
        assert "subscription Watch" in watch[0]
        async with ws_client(LiveServer(app=None, port=dev.port), staff) as ws:  # type: ignore[arg-type]
            await ws.subscribe("watch", query=watch[0])
            await ws.ping_pong()
            refreshed = await run_example(http, staff, *refresh)
            assert refreshed["errors"] == [] and refreshed["updateRequest"]["status"] == "SCHEDULED"
            # Now, outside the window or in it: with the override, staff's start is accepted.
            updated = await run_example(http, staff, *update)
            assert updated["errors"] == [] and updated["updateRequest"]["status"] == "SCHEDULED"
            # The subscription sees both run to the end.
            finished: set[str] = set()
            wanted = {refreshed["updateRequest"]["id"], updated["updateRequest"]["id"]}
            while not wanted <= finished:
                event = await ws.event("watch", within=30)
                if event["updateRequest"]["status"] == "COMPLETED" and event["type"] == "STATUS_CHANGED":
                    finished.add(event["updateRequest"]["id"])


def test_dev_reset_never_drops_a_server_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SMTP_URL")}
    env["DATABASE_URL"] = "postgresql://updatedesk@127.0.0.1:1/updatedesk"  # refused before connecting
    result = subprocess.run(
        [sys.executable, "-m", "updatedesk.cli", "dev", "--reset"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "never drops" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


async def test_a_second_dev_on_the_same_folder_is_refused_and_a_killed_one_frees_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")}
    second = [sys.executable, "-m", "updatedesk.cli", "dev", "--reset", "--port", str(free_port())]
    async with dev_process(tmp_path) as dev, httpx.AsyncClient(base_url=dev.url) as http:
        staff = dev.tokens["hosting@provider.example"]
        before = await gql(http, staff, "{ districts { name } }")
        refused = await asyncio.to_thread(
            subprocess.run, second, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"(pid {dev.process.pid}) is already running" in refused.stderr
        assert "Traceback" not in refused.stderr and "Demo tokens" not in refused.stdout
        # Its --reset deleted nothing: the first one serves its data, and it alone schedules.
        assert await gql(http, staff, "{ districts { name } }") == before
        dev.process.kill()  # kill -9: the operating system drops the lock with the process
        await dev.process.wait()
    async with dev_process(tmp_path) as dev, httpx.AsyncClient(base_url=dev.url) as http:
        assert "data kept" in "".join(dev.banner)
        assert await gql(http, dev.tokens["hosting@provider.example"], "{ districts { name } }") == before


async def test_dev_killed_mid_step_finishes_the_work_after_a_restart_and_sends_every_move(
    tmp_path: Path,
) -> None:
    # Each step appends its name; the steps of the request in `hold` wait there until killed.
    steps, hold = tmp_path / "steps.log", tmp_path / "hold"
    script = tmp_path / "step.sh"
    script.write_text(
        f'#!/bin/sh\necho "$UPDATEDESK_REQUEST_ID $UPDATEDESK_STEP" >> {steps}\n'
        f'[ "$UPDATEDESK_REQUEST_ID" = "$(cat {hold} 2>/dev/null)" ] && sleep 60\nexit 0\n'
    )
    script.chmod(0o755)
    settings = {
        "UPDATEDESK_EXECUTOR": "command",
        "UPDATEDESK_COMMAND_DATABASE_REFRESH": str(script),
        "UPDATEDESK_COMMAND_VERSION_UPDATE": str(script),
        "UPDATEDESK_LEASE_SECONDS": "6",  # short, for the restart; renewed every 2 s even under load
        "UPDATEDESK_WEBHOOK_ALLOW_PRIVATE": "true",
        "UPDATEDESK_WEBHOOK_TIMEOUT_SECONDS": "1",
        "UPDATEDESK_WEBHOOK_RETRY_SECONDS": "1",
    }
    status = "query($id: ID!) { updateRequest(id: $id) { status history { to } } }"
    add_hook = """mutation($u: String!, $d: ID!) {
        createWebhook(input: {url: $u, districtId: $d}) { errors { code } } }"""

    def steps_of(request: int) -> list[str]:
        lines = steps.read_text().splitlines() if steps.exists() else []
        return [line.split()[1] for line in lines if line.split()[0] == str(request)]

    async with receiver() as endpoint:
        async with (
            dev_process(tmp_path, settings=settings) as dev,
            httpx.AsyncClient(base_url=dev.url) as http,
        ):
            contact, staff = dev.tokens["tc@lakeside.example"], dev.tokens["hosting@provider.example"]
            district = (await gql(http, contact, "{ districts { id } }"))["districts"][0]["id"]
            hook = await gql(http, contact, add_hook, u=endpoint.url(), d=district)
            assert hook["createWebhook"]["errors"] == []
            asked = await gql(
                http, contact,
                """mutation($d: ID!) { requestUpdate(input: {districtId: $d, kind: DATABASE_REFRESH,
                     environment: SANDBOX}) { updateRequest { id } errors { code } } }""",
                d=district,
            )  # fmt: skip
            request_id = asked["requestUpdate"]["updateRequest"]["id"]
            number = int(base64.b64decode(request_id).decode().split(":")[1])
            hold.write_text(str(number))
            scheduled = await gql(
                http, staff,
                """mutation($id: ID!, $s: DateTime!) { scheduleUpdateRequest(id: $id, start: $s) {
                     errors { code } } }""",
                id=request_id, s=datetime.now(UTC).isoformat(),
            )  # fmt: skip
            assert scheduled["scheduleUpdateRequest"]["errors"] == []
            await wait_until(lambda: bool(steps_of(number)), "the first step to begin", within=30)
            dev.process.kill()  # kill -9 in the middle of that step
            await dev.process.wait()
        killed_step = steps_of(number)
        hold.unlink()

        async with (
            dev_process(tmp_path, settings=settings) as dev,
            httpx.AsyncClient(base_url=dev.url) as http,
        ):
            staff = dev.tokens["hosting@provider.example"]

            async def completed() -> bool:
                found = (await gql(http, staff, status, id=request_id))["updateRequest"]
                return found["status"] == "COMPLETED"

            await wait_until(completed, "the request to complete after the restart", within=60)
            moves = [
                m["to"] for m in (await gql(http, staff, status, id=request_id))["updateRequest"]["history"]
            ]

            def moves_received() -> set[str]:
                return {
                    r.json["toStatus"]
                    for r in endpoint.requests
                    if r.json["type"] in ("CREATED", "STATUS_CHANGED")
                    and r.json["updateRequest"]["id"] == request_id
                }

            await wait_until(
                lambda: set(moves) <= moves_received(), "every move to reach the webhook", within=30
            )
    assert moves == ["TO_BE_SCHEDULED", "SCHEDULED", "NOT_STARTED", "IN_PROGRESS", "COMPLETED"]
    # The step that was cut short ran again (README: operator commands are idempotent per step);
    # every other step ran once.
    ran = steps_of(number)
    assert len(killed_step) == 1 and ran.count(killed_step[0]) == 2
    assert all(ran.count(step) == 1 for step in ran if step != killed_step[0])
