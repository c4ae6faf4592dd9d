"""Live status: `updateRequestEvents` over WebSocket (graphql-transport-ws). The stream, its
authorization and close codes are `resolvers.live`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import cast

import strawberry

from resolvers.context import Info
from resolvers.live.stream import open_update_request_events
from schema.enums import EventType
from schema.requests.types import Progress, UpdateRequestType


@strawberry.type(description="Something happened to a request the subscriber may see.")
class UpdateRequestEvent:
    """Backed by `resolvers.live.stream.LiveEvent`."""

    type: EventType
    update_request: UpdateRequestType = strawberry.field(description="The request as it now is.")
    progress: Progress | None = strawberry.field(
        description="The progress report of a PROGRESS event; otherwise the latest one stored."
    )
    at: datetime = strawberry.field(description="When it happened (SNAPSHOT: when it was taken).")


@strawberry.type
class RequestSubscriptions:
    @strawberry.subscription(
        description="Live events of the requests the caller may see (staff: all). `districtId` or "
        "`updateRequestId` narrows the stream; with `updateRequestId` the first event is a SNAPSHOT. "
        "A foreign id is answered like a missing one: NOT_FOUND."
    )
    async def update_request_events(
        self,
        info: Info,
        district_id: strawberry.ID | None = None,
        update_request_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[UpdateRequestEvent, None]:
        source = await open_update_request_events(info.context, district_id, update_request_id)
        return cast(AsyncGenerator[UpdateRequestEvent, None], source)
