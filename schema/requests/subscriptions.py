"""Live status: `updateRequestEvents` over WebSocket (graphql-transport-ws). The subscription's
checks, resume and delivery are `resolvers.live`; events are rendered once per render group."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import strawberry

from resolvers.context import Info
from resolvers.live.subscribe import open_update_request_events
from schema.enums import EventType, UpdateStatus
from schema.requests.types import Progress, UpdateRequestType


@strawberry.type(description="Something happened to a request the subscriber may see.")
class UpdateRequestEvent:
    """Backed by `resolvers.live.events.LiveEvent`."""

    type: EventType
    update_request: UpdateRequestType = strawberry.field(
        description="The request, with the status, status message and progress of this event."
    )
    progress: Progress | None = strawberry.field(
        description="The progress report of a PROGRESS event; otherwise the progress at that moment."
    )
    at: datetime = strawberry.field(description="When it happened (SNAPSHOT: when it was taken).")
    cursor: str = strawberry.field(
        description="Opaque position of this event: subscribe again with `after` set to it to receive "
        "every event after this one."
    )
    from_status: UpdateStatus | None = strawberry.field(
        description="The status the move this event records started from (CREATED: null; "
        "SNAPSHOT and PROGRESS record no move: null)."
    )
    to_status: UpdateStatus | None = strawberry.field(
        description="The status the move this event records ended in (null when it records no move)."
    )


@strawberry.type
class RequestSubscriptions:
    @strawberry.subscription(
        description="Live events of the requests the caller may see (staff: all), in each request's "
        "history order. `districtId` or `updateRequestId` narrows the stream; with `updateRequestId` "
        "the first event is a SNAPSHOT. `after`: resume from an earlier event's cursor (every retained "
        "event after it, then live ones; a cursor older than what is kept starts with SNAPSHOTs). "
        "A foreign id is answered like a missing one: NOT_FOUND."
    )
    async def update_request_events(
        self,
        info: Info,
        district_id: strawberry.ID | None = None,
        update_request_id: strawberry.ID | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[UpdateRequestEvent, None]:
        source = await open_update_request_events(
            info.context, info.root_value, district_id, update_request_id, after
        )
        return cast(AsyncGenerator[UpdateRequestEvent, None], source)
