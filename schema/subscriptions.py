"""Live status: `Subscription.updateRequestEvents` over WebSocket (graphql-transport-ws).

The logic (authorization per event, snapshot, close codes) is in `resolvers.subscriptions`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from resolvers.context import Info
from resolvers.subscriptions import LiveEvent, open_update_request_events
from schema.enums import EventType
from schema.requests import Progress, UpdateRequestType


@strawberry.type(description="Something happened to a request the subscriber may see.")
class UpdateRequestEvent:
    type: EventType
    update_request: UpdateRequestType = strawberry.field(description="The request as it now is.")
    progress: Progress | None = strawberry.field(
        description="The progress report of a PROGRESS event; otherwise the latest one stored."
    )
    at: datetime = strawberry.field(description="When it happened (SNAPSHOT: when it was taken).")

    @classmethod
    def from_live(cls, event: LiveEvent) -> UpdateRequestEvent:
        report = event.progress
        return cls(
            type=event.type,
            update_request=UpdateRequestType.from_row(event.row),
            progress=None
            if report is None
            else Progress(percent=report.percent, step=report.step, message=report.message, at=report.at),
            at=event.at,
        )


async def _events(source: AsyncGenerator[LiveEvent, None]) -> AsyncGenerator[UpdateRequestEvent, None]:
    try:
        async for event in source:
            yield UpdateRequestEvent.from_live(event)
    finally:
        await source.aclose()


@strawberry.type
class Subscription:
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
        return _events(source)
