"""Update requests: the request itself, its progress and history, and the paginated list."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import operations
from models.tables import StatusChange as StatusChangeRow
from models.tables import UpdateRequest as UpdateRequestRow
from resolvers.access import related_account, visible_district, visible_environment, visible_request
from resolvers.context import Info
from resolvers.pagination import encode_cursor, list_update_requests
from schema.enums import UpdateKind, UpdateStatus
from schema.nodes import Node, global_id

if TYPE_CHECKING:
    from schema.accounts import AccountType
    from schema.districts import DistrictType, EnvironmentType

TYPE_NAME = "UpdateRequest"


@strawberry.type(description="The latest progress report of a running request.")
class Progress:
    percent: int
    step: str
    message: str | None
    at: datetime


@strawberry.type(description="One move in a request's history.")
class StatusChange:
    from_: UpdateStatus | None = strawberry.field(name="from")
    to: UpdateStatus
    at: datetime
    message: str | None
    window_override: bool = strawberry.field(
        description="Staff scheduled this outside the maintenance window on purpose."
    )
    by_id: strawberry.Private[int | None]

    @strawberry.field(description="Who made the move; null when the system did.")
    async def by(self, info: Info) -> Annotated[AccountType, strawberry.lazy("schema.accounts")] | None:
        from schema.accounts import AccountType

        row = await related_account(info.context, self.by_id)
        return AccountType.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: StatusChangeRow) -> StatusChange:
        return cls(
            from_=row.from_status,
            to=row.to_status,
            at=row.at,
            message=row.message,
            window_override=row.window_override,
            by_id=row.by_id,
        )


@strawberry.type(name="UpdateRequest", description="A version update or database refresh of one environment.")
class UpdateRequestType(Node):
    id: strawberry.ID
    kind: UpdateKind
    status: UpdateStatus
    target_version: str | None
    preferred_start: datetime | None
    scheduled_start: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    automatic: bool
    notes: str | None
    status_message: str | None
    window_override: bool
    row: strawberry.Private[UpdateRequestRow]

    @classmethod
    def from_row(cls, row: UpdateRequestRow) -> UpdateRequestType:
        return cls(
            id=global_id(TYPE_NAME, row.id),
            kind=row.kind,
            status=row.status,
            target_version=row.target_version,
            preferred_start=row.preferred_start,
            scheduled_start=row.scheduled_start,
            started_at=row.started_at,
            completed_at=row.completed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            automatic=row.automatic,
            notes=row.notes,
            status_message=row.status_message,
            window_override=row.window_override,
            row=row,
        )

    @strawberry.field
    async def district(self, info: Info) -> Annotated[DistrictType, strawberry.lazy("schema.districts")]:
        from schema.districts import DistrictType

        row = await visible_district(info.context, self.row.district_id)
        assert row is not None, "a visible request lies in a visible district"
        return DistrictType.from_row(row)

    @strawberry.field
    async def environment(
        self, info: Info
    ) -> Annotated[EnvironmentType, strawberry.lazy("schema.districts")]:
        from schema.districts import EnvironmentType

        row = await visible_environment(info.context, self.row.environment_id)
        assert row is not None, "a visible request lies in a visible district"
        return EnvironmentType.from_row(row)

    @strawberry.field(description="Who asked for it; null for automatic requests.")
    async def requested_by(
        self, info: Info
    ) -> Annotated[AccountType, strawberry.lazy("schema.accounts")] | None:
        from schema.accounts import AccountType

        row = await related_account(info.context, self.row.requested_by_id)
        return AccountType.from_row(row) if row else None

    @strawberry.field
    def progress(self) -> Progress | None:
        row = self.row
        if row.progress_at is None or row.progress_percent is None:
            return None
        return Progress(
            percent=row.progress_percent,
            step=row.progress_step or "",
            message=row.progress_message,
            at=row.progress_at,
        )

    @strawberry.field(description="The newer request this one will be completed under.")
    async def superseded_by(self, info: Info) -> UpdateRequestType | None:
        row = await visible_request(info.context, self.row.superseded_by_id)
        return UpdateRequestType.from_row(row) if row else None

    @strawberry.field(description="Every status move, oldest first.")
    async def history(self, info: Info) -> list[StatusChange]:
        rows = await info.context.loaders.history.load(self.row.id)
        return [StatusChange.from_row(row) for row in rows]

    @strawberry.field(description="Whether the caller may cancel this request now.")
    def can_cancel(self, info: Info) -> bool:
        return operations.can_cancel(info.context.actor, self.row)

    @strawberry.field(description="Whether the caller may delete this request now.")
    def can_delete(self, info: Info) -> bool:
        return operations.can_delete(info.context.actor, self.row)


@strawberry.type
class UpdateRequestEdge:
    node: UpdateRequestType
    cursor: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class UpdateRequestConnection:
    edges: list[UpdateRequestEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def empty(cls) -> UpdateRequestConnection:
        return cls(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None), total_count=0)


async def update_request_connection(
    info: Info,
    *,
    district_id: int | None,
    statuses: list[UpdateStatus] | None,
    kinds: list[UpdateKind] | None,
    hide_completed: bool | None,
    first: int | None,
    after: str | None,
) -> UpdateRequestConnection:
    rows, total, has_next = await list_update_requests(
        info.context,
        district_id=district_id,
        statuses=statuses,
        kinds=kinds,
        hide_completed=hide_completed,
        first=first,
        after=after,
    )
    edges = [
        UpdateRequestEdge(node=UpdateRequestType.from_row(row), cursor=encode_cursor(row)) for row in rows
    ]
    return UpdateRequestConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
        total_count=total,
    )
