"""Fuzzing the GraphQL API with hypothesis-graphql: valid queries and mutations generated from the
schema (with real ids mixed in) and invalid documents, as every role and without a token, against
the real app. No 5xx, no unmasked internal error, "Unexpected error." never for a valid operation,
and every refusal carries a code."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from models.enums import Role
from tests.reliability.support import Row, count, record
from tests.support_graphql import api_client, gid, seed_world

pytestmark = [pytest.mark.reliability]

MASKED = "Unexpected error."
SCHEMA_SDL = open("schema.graphql", encoding="utf-8").read()  # noqa: SIM115


def documents(ids: list[str], how_many: int, mode: Mode, seed: int) -> list[str]:
    """`how_many` documents drawn by hypothesis (in a thread: hypothesis is synchronous)."""
    instants = st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    )
    scalars = {
        "DateTime": instants.map(lambda moment: nodes.String(moment.isoformat())),
        "ID": st.one_of(st.sampled_from(ids), st.text(max_size=20)).map(nodes.String),
    }
    strategy = st.one_of(
        queries(SCHEMA_SDL, custom_scalars=scalars, mode=mode),
        mutations(SCHEMA_SDL, custom_scalars=scalars, mode=mode),
    )
    drawn: list[str] = []

    @settings(
        max_examples=how_many,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def collect(document: Any) -> None:
        drawn.append(str(document))

    collect._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    collect()
    return drawn


@dataclass
class Findings:
    sent: int = 0
    problems: list[str] = field(default_factory=list)


def judge(document: str, status: int, body: Any, valid: bool, findings: Findings) -> None:
    findings.sent += 1
    where = f"{document[:300]!r}"
    if status >= 500:
        findings.problems.append(f"{status} for {where}")
        return
    if status != 200:
        return  # 4xx refusals of the HTTP layer (a plain message, no GraphQL body)
    text = str(body)
    if "Traceback" in text or 'File "' in text:
        findings.problems.append(f"traceback in the answer to {where}")
    for error in body.get("errors") or []:
        message = error.get("message", "")
        code = (error.get("extensions") or {}).get("code")
        if message == MASKED:
            if valid:
                findings.problems.append(f"masked internal error for a valid operation {where}: {error}")
        elif error.get("path") is not None and not code:
            findings.problems.append(f"error without a code at {error.get('path')}: {message} for {where}")
    for payload in (body.get("data") or {}).values():
        if isinstance(payload, dict):
            for user_error in payload.get("errors") or []:
                if "code" in user_error and not user_error["code"]:  # only when selected
                    findings.problems.append(f"payload error without a code {user_error} for {where}")


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
async def test_generated_operations_as_every_role(db, mode: Mode, request: pytest.FixtureRequest) -> None:
    per_role = count(30, 150)
    world = await seed_world()
    fixtures = (world.own, world.connected, world.foreign)
    ids = [gid(row) for f in fixtures for row in (f.district, f.to_cancel, f.to_delete, f.to_schedule)]
    ids += [gid(account) for account in world.accounts.values()]
    tokens: dict[str, str | None] = {role.value: world.tokens[role] for role in Role}
    tokens["anonymous"] = None
    findings = Findings()
    valid = mode is Mode.POSITIVE
    async with api_client() as client:
        for index, (who, token) in enumerate(tokens.items()):
            drawn = await asyncio.to_thread(documents, ids, per_role, mode, index)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            for document in drawn:
                response = await client.http.post("/graphql", json={"query": document}, headers=headers)
                body = (
                    response.json()
                    if response.headers.get("content-type", "").startswith("application/json")
                    else {}
                )
                # Without a token nothing runs: valid or not, the answer is a coded refusal.
                judge(
                    f"[{who}] {document}", response.status_code, body, valid and token is not None, findings
                )
    row = Row(
        f"GraphQL fuzzing, {'valid' if valid else 'invalid'} documents", "fuzz", test=request.node.nodeid
    )
    row.trials = findings.sent
    row.submitted = findings.sent
    row.lost = len(findings.problems)
    row.note = (
        f"hypothesis-graphql ({mode.name}), {per_role} per role x {len(tokens)} callers incl. anonymous; "
        "lost = answers that were 5xx, unmasked, masked for a valid operation or without a code"
    )
    record(row)
    assert not findings.problems, "\n".join(findings.problems[:10])
