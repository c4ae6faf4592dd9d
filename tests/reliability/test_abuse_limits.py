"""One client trying to make the service slow, fat or noisy for everyone else (issue 15's audit):
the query-cost denial of service on PostgreSQL, operation names growing the metrics, WebSocket
floods."""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from infra.settings import DEFAULT_QUERY_MAX_COST, Settings
from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.tables import Environment, UpdateRequest
from schema import schema
from schema.extensions.root_fields import all_labels
from tests.factories import make_account, make_catalog, make_district, make_token
from tests.reliability.support import Row, count, record
from tests.schema.test_cost_calculator import audit_dos
from tests.support_graphql import api_client, gid
from tests.support_live import LiveServer, live_server, ws_client
from tests.support_sql import count_statements
from updatedesk.ws_limits import TOO_MANY

pytestmark = [pytest.mark.reliability]

SIMPLE = """
query Simple($id: ID!) { district(id: $id) { updateRequests(first: 5) { totalCount edges { node { id } } } } }
"""
#: Requests in the one district of the denial-of-service trial (the audit needed only 100).
DOS_REQUESTS = 5_000


async def seed_requests(district: Any, how_many: int) -> list[int]:
    """`how_many` requests in `district`, newest last; their ids newest first."""
    environment = await Environment.get(district_id=district.id, kind=EnvironmentKind.PRODUCTION)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        UpdateRequest(
            kind=UpdateKind.VERSION_UPDATE,
            status=UpdateStatus.TO_BE_SCHEDULED,
            district_id=district.id,
            environment_id=environment.id,
            target_version="Campus.2435.4",
            created_at=start + timedelta(seconds=i),
        )
        for i in range(how_many)
    ]
    await UpdateRequest.bulk_create(rows, batch_size=1000)
    ids = await UpdateRequest.filter(district_id=district.id).order_by("-created_at", "-id").values_list("id")
    return [int(row[0]) for row in ids]


async def test_the_audit_query_is_refused_before_it_runs(postgres_db, request: pytest.FixtureRequest) -> None:
    """15 aliases of updateRequests(first: 100), each nesting the district's requests and their
    history, against a district with 5,000 requests: refused for its cost without a statement run,
    while simple queries sent alongside answer correctly."""
    await make_catalog()
    district = await make_district()
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    newest = await seed_requests(district, DOS_REQUESTS)
    attacks = count(ci=20, full=200)
    dos = audit_dos(15)
    async with api_client() as client:
        await client.data("{ __typename }", token=token)  # the token's first use is recorded once
        with count_statements() as baseline:
            await client.data("{ __typename }", token=token)  # sign-in only
        with count_statements() as refused_one:
            refusal = await client.post(dos, token=token)
        [error] = refusal["errors"]
        assert refusal["data"] is None
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        cost = error["extensions"]["cost"]
        assert cost > 1_000_000 and error["extensions"]["maxCost"] == DEFAULT_QUERY_MAX_COST
        assert (
            f"up to {cost} objects" in error["message"]
            and f"limit is {DEFAULT_QUERY_MAX_COST}" in error["message"]
        )
        # Nothing but the token lookup touched the database.
        assert refused_one.count == baseline.count

        async def timed(query: str, variables: dict[str, Any] | None = None) -> tuple[float, Any]:
            started = time.perf_counter()
            body = await client.post(query, variables, token)
            return time.perf_counter() - started, body

        # One at a time: what a refusal costs, and what a simple query costs.
        refusal_times = [(await timed(dos))[0] for _ in range(20)]
        simple_times = [(await timed(SIMPLE, {"id": gid(district)}))[0] for _ in range(20)]
        # All at once: every audit query refused, every simple query answered right.
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(client.post(dos, token=token) for _ in range(attacks)),
            *(client.post(SIMPLE, {"id": gid(district)}, token) for _ in range(attacks)),
        )
        elapsed = time.perf_counter() - started
    refused = [
        a
        for a in answers[:attacks]
        if [e["extensions"]["code"] for e in a["errors"]] == ["QUERY_TOO_COMPLEX"]
    ]
    correct = [
        body
        for body in answers[attacks:]
        if "errors" not in body
        and body["data"]["district"]["updateRequests"]["totalCount"] == DOS_REQUESTS
        and [e["node"]["id"] for e in body["data"]["district"]["updateRequests"]["edges"]]
        == [gid(UpdateRequest(id=pk)) for pk in newest[:5]]
    ]
    row = Row("query-cost denial of service (audit query)", "attack", test=request.node.nodeid)
    row.trials = attacks
    row.submitted = 2 * attacks
    row.lost = (attacks - len(refused)) + (attacks - len(correct))
    row.note = (
        f"{DOS_REQUESTS} requests in one district; the audit query (cost {cost}, limit "
        f"{DEFAULT_QUERY_MAX_COST}) is refused QUERY_TOO_COMPLEX with no SQL run in "
        f"{statistics.median(refusal_times) * 1000:.1f} ms (median of 20; a simple query alone "
        f"{statistics.median(simple_times) * 1000:.1f} ms); {attacks} audit and {attacks} simple queries "
        f"sent at once: all refused / all answered correctly in {elapsed:.2f} s. The audit measured "
        "92 s and 42 MB for one"
    )
    record(row)
    row.assert_clean()


def random_name() -> str:
    return "".join(random.choices(string.ascii_letters, k=1)) + "".join(
        random.choices(string.ascii_letters + string.digits + "_", k=random.randint(1, 60))
    )


def metric_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


async def test_operation_names_do_not_grow_the_metrics(db, request: pytest.FixtureRequest) -> None:
    """Thousands of operations under random names, signed in and anonymous: /metrics keeps its size
    and every GraphQL series is labelled by a root field of the schema."""
    district = await make_district()
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    operations = count(ci=5_000, full=20_000)
    shapes = [
        "query {name} {{ __typename }}",
        "query {name} {{ viewer {{ account {{ email }} }} }}",
        "query {name} {{ nope }}",
    ]
    async with api_client() as client:
        # Every label and outcome the run can touch, once, before the first count.
        await client.http.get("/metrics")
        for shape in shapes:
            for caller in (token, None):
                await client.post(shape.format(name="Warm"), token=caller)
        before = (await client.http.get("/metrics")).text
        for i in range(operations):
            shape = shapes[i % len(shapes)]
            await client.post(shape.format(name=random_name()), token=token if i % 2 else None)
        after = (await client.http.get("/metrics")).text
    labels = set()
    for line in metric_lines(after):
        if line.startswith("updatedesk_graphql_") and 'root_field="' in line:
            labels.add(line.split('root_field="', 1)[1].split('"', 1)[0])
    allowed = all_labels(schema._schema)
    row = Row("operation names as metric labels", "attack", test=request.node.nodeid)
    row.trials = 1
    row.submitted = operations
    row.lost = len(metric_lines(after)) - len(metric_lines(before)) + len(labels - allowed)
    row.note = (
        f"{operations} operations under random names: /metrics {len(before)} -> {len(after)} bytes, "
        f"{len(metric_lines(before))} -> {len(metric_lines(after))} samples; labels {sorted(labels)}"
    )
    record(row)
    assert len(metric_lines(after)) == len(metric_lines(before)), row.note
    assert labels <= allowed and {"viewer", "introspection", "invalid"} <= labels


async def test_websocket_floods_are_cut_off(db, request: pytest.FixtureRequest) -> None:
    """The audit's floods, with the default limits: 20 anonymous sockets each sending a 15 MB
    `connection_init`, and more sockets from one address than it may hold."""
    frames, sockets = count(ci=20, full=50), count(ci=120, full=300)
    settings = Settings(database_url=db.url, ws_init_timeout_seconds=60)
    cap = settings.ws_max_sockets_per_address
    big = {"type": "connection_init", "payload": {"pad": "x" * 15_000_000}}

    async def big_frame(server: LiveServer) -> int | None:
        async with ws_client(server, init=False) as client:
            with contextlib.suppress(ConnectionClosed):  # the server may close while we still write
                await client.send(big)
            code, _ = await client.closed()
        return code

    async with live_server(settings) as server:
        codes = await asyncio.gather(*(big_frame(server) for _ in range(frames)))
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(ws_client(server, init=False)) for _ in range(sockets)]
            outcomes: list[int | str | None] = []
            for client in clients:
                try:
                    await client.ping_pong()
                    outcomes.append("open")
                except ConnectionClosed:
                    outcomes.append((await client.closed())[0])
    admitted, refused = outcomes.count("open"), outcomes.count(TOO_MANY)
    row = Row("WebSocket floods (15 MB frames, sockets from one address)", "attack", test=request.node.nodeid)
    row.trials = 2
    row.submitted = frames + sockets
    row.lost = (frames - codes.count(1009)) + abs(admitted - cap) + (sockets - cap - refused)
    row.note = (
        f"{frames} sockets sending a 15 MB connection_init: {codes.count(1009)} closed 1009 (limit 1 MiB); "
        f"{sockets} sockets from one address: {admitted} open, {refused} closed 4429 (cap {cap})"
    )
    record(row)
    row.assert_clean()
