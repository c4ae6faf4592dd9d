"""Measurements 1 and 2: the request list through the ASGI app in-process, against a bare Starlette
route that runs the same database queries and answers the same JSON; and the SQL statements one
list query costs at first = 1, 10, 50, 100."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.common import BenchEnv, Row, alternate, median, ms, ratio, time_calls
from models.access import Mover
from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.requests.queries import visible_requests
from models.tables import StatusChange, UpdateRequest
from models.tokens import authenticate, parse_bearer
from resolvers.ids import encode_global_id
from resolvers.pagination import encode_cursor
from schema.scalars import serialize_datetime
from tests.factories import make_account, make_catalog, make_district, make_token
from tests.support_sql import count_statements
from updatedesk.app import create_app

LIST_QUERY = """query List($first: Int) { updateRequests(first: $first) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id kind status targetVersion createdAt
    district { id name }
    environment { id kind currentVersion }
    requestedBy { id email name }
    history { from to at message }
  } } } }"""

PAGE = 50
PAGE_SIZES = (1, 10, 50, 100)
#: Issue 18: at most 1.7x the bare route (goal 1.5x).
TARGET_RATIO = 1.7
TARGET_STATEMENTS = 5


@dataclass(frozen=True)
class ListWorld:
    token: str
    requests: int


async def seed_list_world(requests: int = 120) -> ListWorld:
    """Four districts, a contact for each, and `requests` requests with two history rows each,
    read by a technical contact linked to all four districts (the caller lists them all)."""
    await make_catalog()
    districts = [await make_district() for _ in range(4)]
    contacts = [await make_account(Role.TECHNICAL_CONTACT, [d]) for d in districts]
    reader = await make_account(Role.TECHNICAL_CONTACT, districts, email="reader@bench.example")
    staff = await make_account(Role.HOSTING_STAFF, email="staff@bench.example")
    environments = {d.id: {e.kind: e for e in await d.environments.all()} for d in districts}
    base = datetime.now(UTC) - timedelta(days=1)
    rows = [
        UpdateRequest(
            kind=UpdateKind.DATABASE_REFRESH,
            status=UpdateStatus.COMPLETED if i % 3 else UpdateStatus.PENDING_INPUT,
            district_id=districts[i % 4].id,
            environment_id=environments[districts[i % 4].id][EnvironmentKind.SANDBOX].id,
            requested_by_id=contacts[i % 4].id,
            created_at=base + timedelta(seconds=i),
            notes=f"bench request {i}",
        )
        for i in range(requests)
    ]
    await UpdateRequest.bulk_create(rows)
    history: list[StatusChange] = []
    for row in await UpdateRequest.all():
        history.append(
            StatusChange(
                update_request_id=row.id,
                to_status=UpdateStatus.TO_BE_SCHEDULED,
                at=row.created_at,
                by_id=row.requested_by_id,
                actor=Mover.REQUESTER.value,
            )
        )
        history.append(
            StatusChange(
                update_request_id=row.id,
                from_status=UpdateStatus.TO_BE_SCHEDULED,
                to_status=row.status,
                at=row.created_at + timedelta(minutes=5),
                by_id=staff.id,
                actor=Mover.STAFF.value,
                message="done" if row.status is UpdateStatus.COMPLETED else "which window?",
            )
        )
    await StatusChange.bulk_create(history)
    return ListWorld(await make_token(reader), requests)


# --------------------------------------------------------------------------- the bare route


def _gid(type_name: str, pk: int) -> str:
    return encode_global_id(type_name, pk)


async def bare_list(request: Request) -> Response:
    """The list without GraphQL: the same statements the API issues, the same JSON."""
    body = await request.json()
    first = int(body.get("variables", {}).get("first", PAGE))
    auth = await authenticate(parse_bearer(request.headers.get("authorization")))
    query = visible_requests(auth.actor).exclude(status=UpdateStatus.CANCELLED)
    if auth.account.hide_completed:
        query = query.exclude(status=UpdateStatus.COMPLETED)
    total = await query.count()
    rows = list(
        await query.order_by("-created_at", "-id")
        .limit(first + 1)
        .select_related("district", "environment", "requested_by")
    )
    page, has_next = rows[:first], len(rows) > first
    changes = await StatusChange.filter(update_request_id__in=[r.id for r in page]).order_by("at", "id")
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        history[change.update_request_id].append(
            {
                "from": change.from_status.value if change.from_status else None,
                "to": change.to_status.value,
                "at": serialize_datetime(change.at),
                "message": change.message,
            }
        )
    edges = []
    for row in page:
        author = row.requested_by
        edges.append(
            {
                "cursor": encode_cursor(row),
                "node": {
                    "id": _gid("UpdateRequest", row.id),
                    "kind": row.kind.value,
                    "status": row.status.value,
                    "targetVersion": row.target_version,
                    "createdAt": serialize_datetime(row.created_at),
                    "district": {"id": _gid("District", row.district.id), "name": row.district.name},
                    "environment": {
                        "id": _gid("Environment", row.environment.id),
                        "kind": row.environment.kind.value,
                        "currentVersion": row.environment.current_version,
                    },
                    "requestedBy": None
                    if author is None
                    else {"id": _gid("Account", author.id), "email": author.email, "name": author.name},
                    "history": history[row.id],
                },
            }
        )
    connection = {
        "totalCount": total,
        "pageInfo": {"hasNextPage": has_next, "endCursor": edges[-1]["cursor"] if edges else None},
        "edges": edges,
    }
    return JSONResponse({"data": {"updateRequests": connection}})


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/graphql", bare_list, methods=["POST"])])


# --------------------------------------------------------------------------- measurements


async def _post(client: httpx.AsyncClient, token: str, first: int) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": LIST_QUERY, "variables": {"first": first}},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"list query failed: {body['errors']}")
    return body


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")


async def measure_list_query(env: BenchEnv, world: ListWorld) -> list[Row]:
    """Median per-request time, each subject timed in alternating rounds."""
    calls = env.options.count(40, 8)
    async with (
        _client(create_app(env.settings(), manage_orm=False, live=False)) as api,
        _client(bare_app()) as bare,
    ):
        api_body = await _post(api, world.token, PAGE)
        bare_body = await _post(bare, world.token, PAGE)
        if api_body != bare_body:
            raise RuntimeError("the bare route does not answer the same JSON as the API")
        for _ in range(5):  # warm both
            await _post(api, world.token, PAGE)
            await _post(bare, world.token, PAGE)
        results = await alternate(
            {
                "api": lambda: time_calls(lambda: _post(api, world.token, PAGE), calls),
                "bare": lambda: time_calls(lambda: _post(bare, world.token, PAGE), calls),
            },
            env.options.rounds,
        )
    value, baseline = median(results["api"]), median(results["bare"])
    return [
        Row(
            f"list query updateRequests(first: {PAGE}), in-process ASGI",
            ms(value),
            ms(baseline) + " (bare Starlette)",
            ratio(value, baseline),
            f"<= {TARGET_RATIO:.1f}x",
            value / baseline <= TARGET_RATIO,
        )
    ]


async def count_list_statements(env: BenchEnv, world: ListWorld) -> dict[int, int]:
    """SQL statements of one list query per page size (after a warm-up request)."""
    counts: dict[int, int] = {}
    async with _client(create_app(env.settings(), manage_orm=False, live=False)) as api:
        await _post(api, world.token, 1)  # the token's last_used_at is written at most once a minute
        for first in PAGE_SIZES:
            with count_statements() as counter:
                body = await _post(api, world.token, first)
            if len(body["data"]["updateRequests"]["edges"]) != min(first, world.requests):
                raise RuntimeError(f"first={first}: wrong page size")
            counts[first] = counter.count
    return counts


async def measure_statements(env: BenchEnv, world: ListWorld) -> list[Row]:
    counts = await count_list_statements(env, world)
    values = list(counts.values())
    return [
        Row(
            "SQL statements per list query, first = " + "/".join(str(f) for f in counts),
            "/".join(str(v) for v in values),
            target=f"equal, <= {TARGET_STATEMENTS}",
            ok=len(set(values)) == 1 and max(values) <= TARGET_STATEMENTS,
        )
    ]
