"""Plain rendering of live events (updatedesk/live_render.py): for every document it takes, each
event's text is exactly what graphql-core renders; documents it cannot take, and events it cannot
render (a field the schema says is never null and is), go the full way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.bus.records import EventRecord
from infra.settings import Settings
from models.enums import EventType, UpdateKind, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged
from models.tables import UpdateRequest
from resolvers.context import GraphQLContext
from resolvers.live.events import LiveEvent, live_event, snapshot_event
from schema import schema
from updatedesk.live_documents import LiveDocuments, PreparedRender

AT = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=UTC)
RECORD_ID = "1796157956415-0"

PLAIN = {
    "bench": """subscription E($id: ID) { updateRequestEvents(updateRequestId: $id) { type at cursor
        fromStatus toStatus updateRequest { id status statusMessage } } }""",
    "aliases and typenames": """subscription { moves: updateRequestEvents { __typename kind: type
        when: at progress { __typename percent step message at }
        request: updateRequest { __typename id state: status } } }""",
    "request fields of a snapshot": """subscription { updateRequestEvents { type updateRequest {
        id kind status targetVersion scheduledStart automatic statusMessage } } }""",
}
NOT_PLAIN = {
    "fragment": """subscription { updateRequestEvents { ...E } }
        fragment E on UpdateRequestEvent { type }""",
    "directive": "subscription { updateRequestEvents { type @include(if: true) } }",
    "a relation": "subscription { updateRequestEvents { updateRequest { district { name } } } }",
    "a list": "subscription { updateRequestEvents { updateRequest { history { to } } } }",
}


def events() -> list[LiveEvent]:
    def record(event: UpdateRequestChanged) -> EventRecord:
        return EventRecord(RECORD_ID, event)

    moved = UpdateRequestChanged(
        EventType.STATUS_CHANGED, 7, 3, UpdateStatus.PENDING_INPUT, AT, sequence=4,
        from_status=UpdateStatus.TO_BE_SCHEDULED, message="Waiting for you.",
    )  # fmt: skip
    progress = UpdateRequestChanged(
        EventType.PROGRESS, 7, 3, UpdateStatus.IN_PROGRESS, AT,
        ProgressReport(42, "copy_data", "Copying", AT), sequence=5,
    )  # fmt: skip
    row = UpdateRequest(
        id=7, district_id=3, environment_id=2, kind=UpdateKind.VERSION_UPDATE, status=UpdateStatus.SCHEDULED,
        target_version="Campus.2436.1", scheduled_start=AT, automatic=False, updated_at=AT, created_at=AT,
    )  # fmt: skip
    shown = [live_event(record(moved), None, AT), live_event(record(progress), None, AT)]
    return [*(event for event in shown if event is not None), snapshot_event(row, "cursor-1", AT)]


def prepared(query: str) -> PreparedRender:
    document = LiveDocuments(schema).get(query, None, {"id": "VXBkYXRlUmVxdWVzdDo3"})
    assert document is not None
    return document.prepare(GraphQLContext(None, Settings(database_url="sqlite://:memory:")))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(PLAIN))
async def test_a_plain_document_renders_each_event_as_graphql_does(name: str) -> None:
    plain = prepared(PLAIN[name])
    assert plain.plain is not None
    full = prepared(PLAIN[name])
    full.plain = None
    for event in events():
        assert await plain.render(event) == await full.render(event), event.type


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_documents_it_cannot_take_go_the_full_way(name: str) -> None:
    assert prepared(NOT_PLAIN[name]).plain is None


async def test_an_event_it_cannot_render_goes_the_full_way_with_graphql_s_error() -> None:
    """A move's record carries no kind: the schema says a request's kind is never null."""
    query = PLAIN["request fields of a snapshot"]
    record_only = events()[0]
    assert record_only.update_request.kind is None
    full = prepared(query)
    full.plain = None
    rendered = await prepared(query).render(record_only)
    assert rendered == await full.render(record_only)
    assert '"path":["updateRequestEvents","updateRequest","kind"]' in rendered  # the error, masked
