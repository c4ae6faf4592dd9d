"""The `updateRequest` and `updateRequests` queries."""

from __future__ import annotations

from typing import Annotated, cast

import strawberry

from resolvers import requests
from resolvers.context import Info
from schema.enums import UpdateKind, UpdateStatus
from schema.requests.types import UpdateRequestConnection, UpdateRequestType, as_connection
from schema.selection import selects


@strawberry.type
class RequestQueries:
    @strawberry.field
    async def update_request(self, info: Info, id: strawberry.ID) -> UpdateRequestType | None:
        return cast(UpdateRequestType | None, await requests.update_request(info.context, id))

    @strawberry.field(description="Requests the caller may see, newest first; at most 100 per page.")
    async def update_requests(
        self,
        info: Info,
        district_id: strawberry.ID | None = None,
        statuses: list[UpdateStatus] | None = None,
        kinds: list[UpdateKind] | None = None,
        hide_completed: bool | None = None,
        first: int | None = 50,
        after: str | None = None,
        include_deleted: Annotated[
            bool | None,
            strawberry.argument(
                description="Also list deleted requests (hosting staff only; ignored for others)."
            ),
        ] = False,
    ) -> UpdateRequestConnection:
        page = await requests.update_requests(
            info.context,
            district_id=district_id,
            statuses=statuses,
            kinds=kinds,
            hide_completed=hide_completed,
            first=first,
            after=after,
            include_deleted=bool(include_deleted),
            with_history=selects(info, "edges", "node", "history"),
        )
        return as_connection(page)
