"""Attacks the other suites do not cover: oversized and deeply nested inputs, expired and revoked
tokens on HTTP and on an open WebSocket, and secrets in the log of a real API process.

Covered elsewhere and counted in RELIABILITY.md: the authorization matrix (tests/resolvers/
test_authorization_matrix.py), depth / alias / token / batch limits, anonymous introspection and
suggestions, GET mutations and form-encoded or multipart POSTs (tests/schema/test_http_and_limits.py).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.clock import utcnow
from models.enums import EnvironmentKind, Role, UpdateKind
from models.requests.requesting import request_update
from models.requests.withdrawing import cancel_update_request
from models.tables import ApiToken
from models.tokens import hash_token, issue_token, revoke_token
from tests import support
from tests.factories import actor_of, make_account, make_catalog, make_district, make_token
from tests.reliability.api_process import ApiProcess, api_env
from tests.reliability.support import Row, record
from tests.schema.test_subscriptions import live_settings
from tests.support_graphql import api_client, gid
from tests.support_live import live_server, wait_until, ws_client
from tests.workers.conftest import REDIS_URL
from updatedesk.http import MAX_BODY_BYTES

pytestmark = [pytest.mark.reliability]

REQUEST_UPDATE = """
mutation Request($input: RequestUpdateInput!) {
  requestUpdate(input: $input) { updateRequest { id } errors { code field message } }
}
"""
LIST = """
query List($statuses: [UpdateStatus!], $kinds: [UpdateKind!], $first: Int) {
  updateRequests(statuses: $statuses, kinds: $kinds, first: $first) { totalCount }
}
"""
VIEWER = "{ viewer { account { email } } }"


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def clear_refusal(response: httpx.Response) -> str | None:
    """None if the answer is a clear refusal or a normal answer; else what is wrong with it."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]}"
    if "Traceback" in response.text:
        return "traceback in the answer"
    if response.status_code != 200:
        return None if response.text.strip() else f"{response.status_code} without a message"
    for error in response.json().get("errors") or []:
        if error.get("message") == "Unexpected error.":
            return f"masked internal error: {error}"
    return None


async def test_oversized_and_nested_inputs_are_refused_clearly(db, request: pytest.FixtureRequest) -> None:
    await make_catalog()
    district = await make_district(environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX])
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def refresh(notes: Any) -> dict[str, Any]:
        return {
            "query": REQUEST_UPDATE,
            "variables": {
                "input": {
                    "districtId": gid(district),
                    "kind": "DATABASE_REFRESH",
                    "environment": "SANDBOX",
                    "notes": notes,
                }
            },
        }

    cases: dict[str, bytes] = {
        "notes of 10,000 characters": json.dumps(refresh("n" * 10_000)).encode(),
        "notes of 900,000 characters": json.dumps(refresh("n" * 900_000)).encode(),
        "5 MB of variables": json.dumps(refresh("n" * 5_000_000)).encode(),
        "10,000-element list variable": json.dumps(
            {"query": LIST, "variables": {"statuses": ["SCHEDULED"] * 10_000}}
        ).encode(),
        "first = 10^9": json.dumps({"query": LIST, "variables": {"first": 10**9}}).encode(),
        "variables nested 500 deep": json.dumps(refresh(nested(500))).encode(),
        "JSON nested 100,000 deep": b'{"query": "{ viewer { preferences { hideCompleted } } }", "variables": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
    }
    answers: dict[str, str] = {}
    problems: list[str] = []
    async with api_client() as client:
        for name, body in cases.items():
            response = await client.http.post("/graphql", content=body, headers=headers)
            problem = clear_refusal(response)
            if problem:
                problems.append(f"{name}: {problem}")
            summary = str(response.status_code)
            if response.status_code == 200:
                payload = response.json()
                codes = [e.get("extensions", {}).get("code") for e in payload.get("errors") or []]
                data = payload.get("data") or {}
                codes += [e["code"] for e in (data.get("requestUpdate") or {}).get("errors", [])]
                summary += " " + ",".join(str(c) for c in codes if c) if codes else ""
            answers[name] = summary
    assert answers["5 MB of variables"] == "413"
    assert answers["notes of 10,000 characters"] == "200 VALIDATION"
    row = Row("oversized and deeply nested inputs", "attack", test=request.node.nodeid)
    row.trials = row.submitted = len(cases)
    row.lost = len(problems)
    row.note = "; ".join(f"{name} -> {answer}" for name, answer in answers.items())
    row.note += f"; body limit {MAX_BODY_BYTES} bytes (413)"
    record(row)
    assert not problems, problems


async def test_expired_and_revoked_tokens_on_http(db, request: pytest.FixtureRequest) -> None:
    account = await make_account(Role.VIEWER)
    expired = await issue_token(account, timedelta(seconds=1), now=utcnow() - timedelta(seconds=5))
    revoked = await make_token(account)
    assert await revoke_token(revoked)
    cases = {"expired": expired, "revoked": revoked, "made up": "ud_" + "A" * 43, "empty": ""}
    refused = 0
    async with api_client() as client:
        for token in cases.values():
            body = await client.post(VIEWER, token=token or None)
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
            refused += codes == ["UNAUTHENTICATED"] and body.get("data") is None
    row = Row("expired / revoked / unknown tokens on HTTP", "attack", test=request.node.nodeid)
    row.trials = row.submitted = len(cases)
    row.lost = len(cases) - refused
    row.note = "each answered UNAUTHENTICATED with no data"
    record(row)
    row.assert_clean()


async def test_revoked_or_expired_token_stops_an_open_websocket(
    db, run_id: str, request: pytest.FixtureRequest
) -> None:
    """A subscriber's token is revoked (or expires) while its socket is open: the next event closes
    the socket with 4403 and delivers nothing."""
    await make_catalog()
    district = await make_district()
    account = await make_account(Role.TECHNICAL_CONTACT, [district])
    actor = await actor_of(account)
    settings = live_settings(db, run_id)
    row = Row("expired / revoked token on an open WebSocket", "attack", test=request.node.nodeid)
    leaked = 0
    expires_in = timedelta(seconds=1)
    failures: list[str] = []
    async with live_server(settings) as server:
        # Events published before the process's Redis listener is up would never reach it.
        await wait_until(server.bus.listening.is_set, "the API's event listener")
        for how in ("revoked", "expired"):
            token = await issue_token(account, expires_in if how == "expired" else None)
            watched = await request_update(
                actor, district_id=district.id, kind=UpdateKind.DATABASE_REFRESH,
                environment=EnvironmentKind.SANDBOX if how == "revoked" else EnvironmentKind.STAGING,
            )  # fmt: skip
            async with ws_client(server, token) as client:
                await client.subscribe("events", {"updateRequestId": gid(watched)})
                # The SNAPSHOT comes once the subscription listens: no event can slip by before.
                assert (await client.event("events"))["type"] == "SNAPSHOT"
                if how == "revoked":
                    assert await revoke_token(token)
                else:
                    # The token reaches its own expiry time while the socket stays open.
                    expires_at = (await ApiToken.get(token_hash=hash_token(token))).expires_at
                    assert expires_at is not None
                    deadline = expires_at

                    def expired(at: datetime = deadline) -> bool:
                        return utcnow() > at

                    await wait_until(expired, "the token to expire")
                started = time.monotonic()
                await cancel_update_request(actor, watched.id)
                try:
                    code, _ = await client.closed()
                except TimeoutError:
                    code = None
                    failures.append(f"{how}: socket still open; messages {client.unread()}")
                row.recovery.append(time.monotonic() - started)
                delivered = [m for m in client.unread() if m.get("type") == "next"]
                leaked += len(delivered)
                row.trials += 1
                row.submitted += 1
                row.lost += code != 4403
    row.duplicated = leaked
    row.note = f"closed 4403 on the next event; events delivered after revocation: {leaked}"
    record(row)
    assert leaked == 0
    assert not failures, failures
    row.assert_clean()


async def test_no_token_or_password_in_the_logs_of_an_api_process(
    postgres_db: support.TestDatabase, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A real API process with JSON logs, a password in DATABASE_URL and REDIS_URL, driven with
    valid, revoked and made-up tokens (HTTP and WebSocket), mutations and errors."""
    password = "Pg-Pa55word-for-logs"
    smtp_password = "Redis-Pa55word-for-logs"
    url = postgres_db.url.replace("postgres@", f"postgres:{password}@", 1)
    await make_catalog()
    district = await make_district()
    account = await make_account(Role.TECHNICAL_CONTACT, [district])
    token, revoked = await make_token(account), await make_token(account)
    await revoke_token(revoked)
    made_up = "ud_" + "Z" * 43
    log = tmp_path / "api.log"
    # The shared Redis has no password: the SMTP URL carries the second one (held, never logged).
    api = ApiProcess(
        api_env(
            url,
            REDIS_URL=REDIS_URL,
            UPDATEDESK_REDIS_NAMESPACE=namespace,
            SMTP_URL=f"smtp://mailer:{smtp_password}@127.0.0.1:1",
        ),
        log,
    )
    api.start()
    sent = 0
    try:
        await api.ready()
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            for bearer in (token, revoked, made_up, token):
                for body in (
                    {"query": VIEWER},
                    {"query": REQUEST_UPDATE, "variables": {"input": {
                        "districtId": gid(district), "kind": "DATABASE_REFRESH", "environment": "STAGING",
                        "notes": f"my token is {bearer}"}}},
                    {"query": "{ nosuchfield }"},
                    {"query": "{ node(id: \"" + bearer + "\") { id } }"},
                ):  # fmt: skip
                    await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {bearer}"})
                    sent += 1
                await client.get("/graphql", params={"query": VIEWER}, headers={"Authorization": bearer})
                sent += 1
            await client.get("/readyz")
    finally:
        api.stop()
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    secrets = {"token": token, "revoked token": revoked, "made-up token": made_up,
               "database password": password, "SMTP password": smtp_password}  # fmt: skip
    leaks = [name for name, secret in secrets.items() if secret in text]
    row = Row("no token or password in logs", "attack", test=request.node.nodeid)
    row.trials = 1
    row.submitted = sent
    row.lost = len(leaks)
    row.note = f"{len(lines)} JSON log lines searched for {len(secrets)} secrets; leaked: {leaks or 'none'}"
    record(row)
    assert len(lines) >= sent, "the API logged less than one line per operation"
    assert not leaks, leaks
