"""The list's fast path: rows are completed as values (not awaited), district, environment and
author come from the page's joined rows, and the page's history is read in one statement when it
is asked for, through fragments too; nothing else about the answer changes."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from typing import Any

import pytest
import strawberry

from models.access import Mover
from models.clock import utcnow
from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.tables import District, StatusChange, UpdateRequest
from resolvers.access import joined
from resolvers.loaders import Loaders
from schema.execution import RowsAreValues, is_awaitable_result
from schema.requests import types as request_types
from tests.factories import make_account, make_district, make_request, make_token
from tests.support_graphql import api_client
from tests.support_sql import count_statements

PLAIN = """query { updateRequests(first: 10) { edges { node {
  id district { name } environment { kind } requestedBy { email } history { from to message } } } } }"""
WITH_FRAGMENTS = """query { updateRequests(first: 10) { edges { ...Edge } } }
fragment Edge on UpdateRequestEdge { node { id district { name } environment { kind }
  requestedBy { email } ... on UpdateRequest { history { from to message } } } }"""
WITHOUT_HISTORY = """query { updateRequests(first: 10) { edges { node {
  id district { name } environment { kind } requestedBy { email } } } } }"""


async def _world() -> tuple[str, str, list[int]]:
    """Two districts; a contact of the first; requests in both with two moves each."""
    mine, other = await make_district(), await make_district()
    contact = await make_account(Role.TECHNICAL_CONTACT, [mine], email="tc@mine.example")
    ids = []
    for district in (mine, mine, other):
        row = await make_request(
            district, kind=UpdateKind.DATABASE_REFRESH, environment=EnvironmentKind.SANDBOX,
            status=UpdateStatus.COMPLETED, requested_by=contact,
        )  # fmt: skip
        for source, target in (
            (None, UpdateStatus.TO_BE_SCHEDULED),
            (UpdateStatus.TO_BE_SCHEDULED, row.status),
        ):
            await StatusChange.create(
                update_request_id=row.id, from_status=source, to_status=target, at=utcnow(),
                by_id=contact.id, actor=Mover.REQUESTER.value, message=f"{row.id}:{target.value}",
            )  # fmt: skip
        ids.append(row.id)
    return await make_token(contact), mine.name, ids


def _no_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the loader paths fail: the list's rows must not need them."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a loader was used for what the page had already read")

    for name in ("visible_district", "visible_environment", "related_account"):
        monkeypatch.setattr(request_types, name, refuse)
    monkeypatch.setattr(Loaders, "_history", refuse)


async def test_the_page_answers_from_joined_rows_and_one_history_read(
    db, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, district_name, ids = await _world()
    _no_loaders(monkeypatch)
    async with api_client() as client:
        await client.data(PLAIN, token=token)  # warm up: the token's last use is written once
        answers, counts = {}, {}
        for name, query in (("plain", PLAIN), ("fragments", WITH_FRAGMENTS), ("none", WITHOUT_HISTORY)):
            with count_statements() as counter:
                answers[name] = await client.data(query, token=token)
            counts[name] = counter.count
    assert answers["plain"] == answers["fragments"]
    nodes = [edge["node"] for edge in answers["plain"]["updateRequests"]["edges"]]
    assert len(nodes) == 2  # the third request is in a district the contact does not see
    for node in nodes:
        assert node["district"] == {"name": district_name}
        assert node["environment"] == {"kind": "SANDBOX"}
        assert node["requestedBy"] == {"email": "tc@mine.example"}
        assert [move["to"] for move in node["history"]] == ["TO_BE_SCHEDULED", "COMPLETED"]
    messages = {move["message"].split(":")[0] for node in nodes for move in node["history"]}
    assert messages == {str(pk) for pk in ids[:2]}  # each request's own moves, none of the hidden one
    # Token, district links, count, page (district, environment and author joined), history.
    assert counts["plain"] == counts["fragments"] == 5
    assert counts["none"] == 4  # history not asked for: not read


async def test_a_row_is_a_value_not_an_awaitable(db) -> None:
    district = await make_district()
    assert not is_awaitable_result(district)
    pending = asyncio.sleep(0)
    assert is_awaitable_result(pending)
    await pending
    assert is_awaitable_result(District.filter(id=district.id))  # a query still is awaited


async def test_a_relation_counts_as_joined_only_when_the_query_joined_that_row(db) -> None:
    district = await make_district()
    request = await make_request(
        district, kind=UpdateKind.DATABASE_REFRESH, environment=EnvironmentKind.SANDBOX
    )
    plain = await UpdateRequest.get(id=request.id)
    assert joined(plain, "district", District, plain.district_id) is None
    with_district = await UpdateRequest.filter(id=request.id).select_related("district").get()
    found = joined(with_district, "district", District, with_district.district_id)
    assert found is not None and found.id == district.id
    assert joined(with_district, "district", District, district.id + 1) is None  # another row's id


def test_argument_less_resolvers_are_called_directly_and_the_rest_by_strawberry() -> None:
    from schema import schema
    from schema.execution import _lean

    types = schema._schema.type_map
    lean = [("UpdateRequest", "id"), ("UpdateRequest", "district"), ("UpdateRequest", "history"),
            ("StatusChange", "from"), ("StatusChange", "by")]  # fmt: skip
    for type_name, field_name in lean:
        field = types[type_name].fields[field_name]  # type: ignore[attr-defined]
        assert _lean(field.extensions["strawberry-definition"], object) is not None, field_name
    # A field with arguments keeps strawberry's conversion of them.
    with_arguments = types["District"].fields["updateRequests"]  # type: ignore[attr-defined]
    assert with_arguments.args
    assert _lean(with_arguments.extensions["strawberry-definition"], object) is None


async def test_the_awaitable_check_caches_types_never_generators() -> None:
    async def coroutine() -> int:
        return 1

    def generator() -> Iterator[int]:
        yield 1

    assert not is_awaitable_result(generator())
    assert not is_awaitable_result(UpdateStatus.COMPLETED)
    assert not is_awaitable_result(UpdateStatus.COMPLETED)  # cached now
    pending = coroutine()
    assert is_awaitable_result(pending)
    assert await pending == 1
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    assert is_awaitable_result(future)
    future.cancel()


# --------------------------------------------------------------------------- plain leaves

FULL_PAGE = """query { updateRequests(first: 10) { totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id kind status targetVersion createdAt scheduledStart automatic
    district { id name } environment { id kind currentVersion } requestedBy { id email name }
    history { from to at message } } } } }"""


async def test_plain_leaves_answer_what_the_full_path_answers(db, monkeypatch: pytest.MonkeyPatch) -> None:
    from schema import execution

    token, _, _ = await _world()
    async with api_client() as client:
        await client.data(FULL_PAGE, token=token)  # warm up: the token's last use is written once
        reads: list[str] = []
        real_plain_leaf = execution.plain_leaf

        def counted(parent: Any, name: str) -> Any:
            reads.append(name)
            return real_plain_leaf(parent, name)

        monkeypatch.setattr(execution, "plain_leaf", counted)
        fast = await client.data(FULL_PAGE, token=token)
        assert {"id", "kind", "status", "createdAt", "name", "email", "from", "to", "message"} <= set(reads)
        monkeypatch.setattr(execution, "plain_leaf", lambda parent, name: None)  # the full path
        full = await client.data(FULL_PAGE, token=token)
    assert fast == full
    assert len(fast["updateRequests"]["edges"]) == 2


def test_only_argument_free_reads_of_scalars_and_enums_are_plain() -> None:
    from schema import schema
    from schema.execution import plain_leaf

    types = schema._schema.type_map
    request, change = types["UpdateRequest"], types["StatusChange"]
    assert plain_leaf(request, "status") is not None  # type: ignore[arg-type]
    assert plain_leaf(request, "id") is not None  # type: ignore[arg-type]  # lean, no Info
    status_read, id_read = plain_leaf(request, "status"), plain_leaf(request, "id")  # type: ignore[arg-type]
    assert status_read is not None and status_read[3] == "status"  # strawberry's getattr, read directly
    assert id_read is not None and id_read[3] is None  # its resolver is called
    assert plain_leaf(change, "from") is not None  # type: ignore[arg-type]
    assert plain_leaf(request, "district") is None  # type: ignore[arg-type]  # an object
    assert plain_leaf(request, "history") is None  # type: ignore[arg-type]  # a list
    assert plain_leaf(types["District"], "updateRequests") is None  # type: ignore[arg-type]  # arguments


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Thing:
    name: str
    colour: Colour
    note: str | None


@strawberry.type
class ThingsQuery:
    @strawberry.field
    def things(self) -> list[Thing | None]:
        broken = [Thing(name=None, colour=Colour.RED, note="x"), Thing(name="c", colour="blue", note=None)]  # type: ignore[arg-type]
        return [Thing(name="ok", colour=Colour.RED, note=None), *broken]


async def test_a_plain_leaf_that_breaks_its_type_is_the_same_field_error() -> None:
    """Null where the schema says never, or a value the enum refuses: the error and its path are
    graphql-core's, as on the full path."""
    schema = strawberry.Schema(ThingsQuery, execution_context_class=RowsAreValues)
    result = await schema.execute("{ things { name colour note } }")
    assert result.data == {"things": [{"name": "ok", "colour": "RED", "note": None}, None, None]}
    errors = sorted((tuple(error.path or ()), error.message) for error in result.errors or [])
    assert errors[0][0] == ("things", 1, "name")
    assert "Cannot return null for non-nullable field Thing.name" in errors[0][1]
    assert errors[1][0] == ("things", 2, "colour")
