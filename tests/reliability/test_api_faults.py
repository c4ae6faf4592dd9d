"""A real API process (`updatedesk serve`) under faults: SIGKILL while clients submit
requestUpdate with idempotency keys; one key sent many times at once; its database going away."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from models.enums import EnvironmentKind, Role
from models.tables import StatusChange, UpdateRequest
from tests import support
from tests.factories import make_account, make_catalog, make_district, make_token
from tests.reliability.api_process import ApiProcess, api_env
from tests.reliability.support import Row, count, illegal_moves, record
from tests.support_graphql import gid
from tests.workers.conftest import REDIS_URL

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.postgres]

REQUEST_UPDATE = """
mutation Request($input: RequestUpdateInput!) {
  requestUpdate(input: $input) { updateRequest { id status } errors { code message } }
}
"""
CONCURRENCY = 8


def request_input(district_id: str, key: str) -> dict[str, Any]:
    return {
        "input": {
            "districtId": district_id,
            "kind": "VERSION_UPDATE",
            "environment": "PRODUCTION",
            "targetVersion": "Campus.2435.4",
            "idempotencyKey": key,
        }
    }


async def submit(client: httpx.AsyncClient, token: str, district_id: str, key: str) -> str | None:
    """The id of the request, or None when the answer never came (connection lost)."""
    try:
        response = await client.post(
            "/graphql",
            json={"query": REQUEST_UPDATE, "variables": request_input(district_id, key)},
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload = body["data"]["requestUpdate"]
    assert payload["errors"] == [], payload
    request_id: str = payload["updateRequest"]["id"]
    return request_id


async def submit_then_kill(
    api: ApiProcess,
    token: str,
    districts_by_key: dict[str, str],
    kill_after: int,
    confirmed: dict[str, str],
    unknown: dict[str, str],
) -> float:
    """Submit every key, CONCURRENCY at a time; SIGKILL the API once `kill_after` of them were
    answered. Fills `confirmed` (key: id) and `unknown` (key: district); returns the kill time."""
    answered = asyncio.Event()
    gate = asyncio.Semaphore(CONCURRENCY)
    answers = 0

    async def one(key: str, district_id: str, client: httpx.AsyncClient) -> None:
        nonlocal answers
        async with gate:
            result = await submit(client, token, district_id, key)
        if result is None:
            unknown[key] = district_id
            return
        confirmed[key] = result
        answers += 1
        if answers >= kill_after:
            answered.set()

    async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:

        async def send_all() -> None:
            await asyncio.gather(*(one(key, district, client) for key, district in districts_by_key.items()))

        sending = asyncio.create_task(send_all())
        waiting = asyncio.create_task(answered.wait())
        await asyncio.wait([sending, waiting], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if sending.done():
            sending.result()  # raises what went wrong before the kill
        api.kill()
        killed_at = time.monotonic()
        await sending
    return killed_at


async def districts_and_token(how_many: int) -> tuple[list[str], str]:
    await make_catalog()
    districts = [await make_district(environments=[EnvironmentKind.PRODUCTION]) for _ in range(how_many)]
    account = await make_account(Role.PARTNER, districts)
    return [gid(d) for d in districts], await make_token(account)


async def judge_keys(row: Row, keys: list[str]) -> None:
    """Duplicates (two rows for one key) and partial requests (a row without its creation move)."""
    rows = await UpdateRequest.filter(idempotency_key__in=keys).values_list("id", "idempotency_key")
    per_key = Counter(key for _, key in rows)
    row.duplicated += sum(n - 1 for n in per_key.values() if n > 1)
    ids = [request_id for request_id, _ in rows]
    moves = Counter(c.update_request_id for c in await StatusChange.filter(update_request_id__in=ids))
    row.lost += sum(1 for request_id in ids if moves[request_id] != 1)
    row.illegal += len(await illegal_moves(ids))


async def test_api_sigkill_during_request_update(
    postgres_db: support.TestDatabase, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Kill the API after a random number of answers while eight clients submit; restart it; every
    request exists wholly or not at all, and sending its key again returns it (or creates it once)."""
    kills, per_round = count(2, 10), 30
    rng = random.Random(4)
    district_ids, token = await districts_and_token(kills * per_round)
    api = ApiProcess(
        api_env(postgres_db.url, REDIS_URL=REDIS_URL, UPDATEDESK_REDIS_NAMESPACE=namespace),
        tmp_path / "api.log",
    )
    api.start()
    await api.ready()
    row = Row("API SIGKILL during requestUpdate", "fault", test=request.node.nodeid)
    confirmed: dict[str, str] = {}
    unknown: dict[str, str] = {}
    try:
        for round_number in range(kills):
            batch = district_ids[round_number * per_round : (round_number + 1) * per_round]
            keys = [f"kill-{round_number}-{i}" for i in range(len(batch))]
            killed_at = await submit_then_kill(
                api,
                token,
                dict(zip(keys, batch, strict=True)),
                rng.randint(1, per_round // 2),
                confirmed,
                unknown,
            )
            row.trials += 1
            row.submitted += len(batch)
            api.start()
            await api.ready()
            row.recovery.append(time.monotonic() - killed_at)
        # After the last restart: every key again, confirmed or not.
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            for key, district_id in unknown.items():
                if await submit(client, token, district_id, key) is None:
                    row.lost += 1
            again = {
                key: await submit(client, token, _district_of(key, district_ids, per_round), key)
                for key in confirmed
            }
        row.lost += sum(1 for key, request_id in confirmed.items() if again[key] != request_id)
    finally:
        api.stop()
    await judge_keys(row, list(confirmed) + list(unknown))
    row.note = (
        f"{len(confirmed)} answered before the kill, {len(unknown)} unanswered and sent again; "
        "recovery = kill to /healthz of the new process"
    )
    record(row)
    row.assert_clean()


def _district_of(key: str, district_ids: list[str], per_round: int) -> str:
    _, round_number, index = key.split("-")
    return district_ids[int(round_number) * per_round + int(index)]


async def test_one_idempotency_key_sent_concurrently_over_http(
    postgres_db: support.TestDatabase, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Each key sent five times at once through the HTTP API: one request per key."""
    keys, copies = count(20, 200), 5
    district_ids, token = await districts_and_token(keys)
    api = ApiProcess(
        api_env(postgres_db.url, REDIS_URL=REDIS_URL, UPDATEDESK_REDIS_NAMESPACE=namespace),
        tmp_path / "api.log",
    )
    api.start()
    await api.ready()
    row = Row("same idempotency key sent concurrently (HTTP)", "race", test=request.node.nodeid)
    row.note = f"{copies} simultaneous requestUpdate per key through a real API process"
    all_keys = []
    try:
        limits = httpx.Limits(max_connections=copies * 4)
        async with httpx.AsyncClient(base_url=api.url, timeout=30, limits=limits) as client:
            for index, district_id in enumerate(district_ids):
                key = f"same-{index}"
                all_keys.append(key)
                answers = await asyncio.gather(
                    *(submit(client, token, district_id, key) for _ in range(copies))
                )
                row.trials += 1
                row.submitted += copies
                row.lost += sum(1 for a in answers if a is None)
                row.duplicated += len({a for a in answers if a is not None}) - 1
    finally:
        api.stop()
    await judge_keys(row, all_keys)
    record(row)
    row.assert_clean()


PASSWORD = "Rel1ability-Pw-9f3"


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "updatedesk.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def admin() -> asyncpg.Connection:
    return await asyncpg.connect(support.POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1))


VIEWER = "{ viewer { account { email } } }"


async def test_database_going_away_gives_clear_errors_and_recovers(
    postgres_db: support.TestDatabase, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """An API process on its own database (password in the URL): connections are refused and the
    existing ones terminated, repeatedly. Meanwhile /graphql answers with masked errors (no 5xx, no
    traceback, no password) and /readyz with 503 naming the database; afterwards it serves again
    without a restart."""
    rounds = count(2, 10)
    plain = await support.create_postgres_database("updatedesk_outage")
    name = plain.rpartition("/")[2]
    url = plain.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    env = api_env(url)
    cli(env, "migrate")
    world = tmp_path / "world.json"
    world.write_text(json.dumps({
        "districts": [{"name": "Outage District", "hostingModel": "ASP_HOSTED",
                       "environments": [{"kind": "PRODUCTION", "currentVersion": "Campus.2435.2"}]}],
        "accounts": [{"email": "tc@outage.example", "name": "Pat Lee", "role": "TECHNICAL_CONTACT",
                      "districts": ["Outage District"]}],
    }))  # fmt: skip
    cli(env, "import", str(world))
    token = cli(env, "tokens", "issue", "tc@outage.example")
    log = tmp_path / "api.log"
    api = ApiProcess(env, log)
    row = Row("PostgreSQL unreachable for the API", "fault", test=request.node.nodeid)
    answers: Counter[str] = Counter()
    bad: list[str] = []
    connection = await admin()
    try:
        api.start()
        await api.ready()
        async with httpx.AsyncClient(base_url=api.url, timeout=15) as client:
            headers = {"Authorization": f"Bearer {token}"}
            assert (await client.post("/graphql", json={"query": VIEWER}, headers=headers)).status_code == 200
            for _ in range(rounds):
                await connection.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                await connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
                for _ in range(5):
                    graphql = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
                    ready = await client.get("/readyz")
                    answers[f"graphql {graphql.status_code}"] += 1
                    answers[f"readyz {ready.status_code}"] += 1
                    problem = outage_answer_problem(graphql, ready)
                    if problem:
                        bad.append(problem)
                await connection.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
                back_at = time.monotonic()
                while True:
                    graphql = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
                    body = graphql.json() if graphql.status_code == 200 else {}
                    if body.get("data") and not body.get("errors"):
                        break
                    if time.monotonic() - back_at > 30:
                        row.stuck += 1
                        break
                    await asyncio.sleep(0.05)
                row.recovery.append(time.monotonic() - back_at)
                row.trials += 1
                row.submitted += 5
        row.lost = len(bad)
    finally:
        api.stop()
        await connection.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await connection.close()
        await support.drop_postgres_database(plain)
    text = log.read_text()
    leaks = [secret for secret in (PASSWORD, token) if secret in text]
    row.note = (
        f"answers while down {dict(sorted(answers.items()))}; recovery = access back to first good answer; "
        f"secrets in the log: {len(leaks)}"
    )
    record(row)
    assert not bad, bad[:5]
    assert not leaks, "a secret reached the log"
    row.assert_clean()


def outage_answer_problem(graphql: httpx.Response, ready: httpx.Response) -> str | None:
    """What is wrong with the answers given while the database is away (None: all clear)."""
    if ready.status_code != 503 or "database" not in ready.text:
        return f"/readyz {ready.status_code}: {ready.text[:200]}"
    if graphql.status_code >= 500:
        return f"/graphql {graphql.status_code}: {graphql.text[:200]}"
    text = graphql.text
    if "Traceback" in text or PASSWORD in text or "asyncpg" in text:
        return f"/graphql leaked internals: {text[:300]}"
    body = graphql.json()
    errors = body.get("errors") or []
    if not errors:
        return f"/graphql answered without an error while the database was away: {text[:200]}"
    for error in errors:
        if error.get("message") != "Unexpected error." and not error.get("extensions", {}).get("code"):
            return f"/graphql error neither masked nor coded: {error}"
    return None
