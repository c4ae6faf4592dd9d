"""UpdateRequest with its Progress and StatusChange history, and the paginated connection.
Backed by the request row (and `resolvers.pagination.Page` for the connection)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import strawberry
from strawberry import Parent

from models.events import ProgressReport
from models.requests.queries import stored_progress
from models.tables import Account as AccountRow
from models.tables import District as DistrictRow
from models.tables import Environment as EnvironmentRow
from models.tables import StatusChange as StatusChangeRow
from models.tables import UpdateRequest as UpdateRequestRow
from resolvers import requests, rollouts
from resolvers.access import (
    joined,
    related_account,
    shown_district,
    shown_environment,
    visible_district,
    visible_environment,
    visible_request,
)
from resolvers.context import Info
from resolvers.pagination import Edge, Page
from schema.enums import UpdateKind, UpdateStatus
from schema.nodes import Node, rows_of

RowT = TypeVar("RowT")

# Types of other feature slices are named here and resolved by `strawberry.lazy` when the schema is
# built, so slices never import each other; to the type checker they are Any.
if TYPE_CHECKING:
    AccountType = Any
    DistrictType = Any
    EnvironmentType = Any
    GroupRolloutType = Any


@strawberry.type(description="The latest progress report of a running request.")
class Progress:
    percent: int
    step: str
    message: str | None
    at: datetime


def _from_status(root: Parent[StatusChangeRow]) -> UpdateStatus | None:
    return root.from_status


def _to_status(root: Parent[StatusChangeRow]) -> UpdateStatus:
    return root.to_status


@strawberry.type(description="One move in a request's history.")
class StatusChange:
    from_: UpdateStatus | None = strawberry.field(name="from", resolver=_from_status)
    to: UpdateStatus = strawberry.field(resolver=_to_status)
    at: datetime
    message: str | None
    window_override: bool = strawberry.field(
        description="Staff scheduled this outside the maintenance window on purpose."
    )

    @strawberry.field(description="Who made the move; null when the system did.")
    async def by(
        self, root: Parent[StatusChangeRow], info: Info
    ) -> Annotated[AccountType, strawberry.lazy("schema.accounts.types")] | None:
        return await related_account(info.context, root.by_id)


async def _in_sight(row: Awaitable[RowT | None]) -> RowT:
    found = await row
    assert found is not None, "a visible request lies in a visible district"
    return found


@strawberry.type(name="UpdateRequest", description="A version update or database refresh of one environment.")
class UpdateRequestType(Node):
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
    deleted_at: datetime | None
    is_type_of = staticmethod(rows_of(UpdateRequestRow))

    # District, environment and author are read from the row when the list joined them (a plain
    # function, no await: most of a page's cost was these resolvers' futures), else through the
    # loaders; the visibility checks are the same either way.
    @strawberry.field
    def district(
        self, root: Parent[UpdateRequestRow], info: Info
    ) -> Annotated[DistrictType, strawberry.lazy("schema.districts.types")]:
        row = joined(root, "district", DistrictRow, root.district_id)
        if row is None:
            return _in_sight(visible_district(info.context, root.district_id))
        shown = shown_district(info.context, row)
        assert shown is not None, "a visible request lies in a visible district"
        return shown

    @strawberry.field
    def environment(
        self, root: Parent[UpdateRequestRow], info: Info
    ) -> Annotated[EnvironmentType, strawberry.lazy("schema.districts.types")]:
        row = joined(root, "environment", EnvironmentRow, root.environment_id)
        if row is None:
            return _in_sight(visible_environment(info.context, root.environment_id))
        shown = shown_environment(info.context, row)
        assert shown is not None, "a visible request lies in a visible district"
        return shown

    @strawberry.field(description="Who asked for it; null for automatic requests.")
    def requested_by(
        self, root: Parent[UpdateRequestRow], info: Info
    ) -> Annotated[AccountType, strawberry.lazy("schema.accounts.types")] | None:
        if root.requested_by_id is None:
            return None
        row = joined(root, "requested_by", AccountRow, root.requested_by_id)
        return row if row is not None else related_account(info.context, root.requested_by_id)

    @strawberry.field
    def progress(self, root: Parent[UpdateRequestRow]) -> Progress | None:
        return cast(Progress | None, stored_progress(root))

    @strawberry.field(description="The newer request this one will be completed under.")
    async def superseded_by(self, root: Parent[UpdateRequestRow], info: Info) -> UpdateRequestType | None:
        return cast(UpdateRequestType | None, await visible_request(info.context, root.superseded_by_id))

    @strawberry.field(description="Every status move, oldest first.")
    def history(self, root: Parent[UpdateRequestRow], info: Info) -> list[StatusChange]:
        return cast(list[StatusChange], requests.history(info.context, root))

    @strawberry.field(
        description="The request whose run keeps this due request waiting (it holds the site this "
        "one needs; for a refresh also production). This request itself while a job of its earlier "
        "run (given up by staff) has not stopped yet."
    )
    async def waiting_for(self, root: Parent[UpdateRequestRow], info: Info) -> UpdateRequestType | None:
        return cast(UpdateRequestType | None, await requests.waiting_for(info.context, root))

    @strawberry.field(
        description="The group rollout this request is part of; null outside one, and for callers "
        "who do not see that rollout (only hosting staff and the group's contacts do)."
    )
    async def rollout(
        self, root: Parent[UpdateRequestRow], info: Info
    ) -> Annotated[GroupRolloutType, strawberry.lazy("schema.rollouts.types")] | None:
        return await rollouts.visible_rollout(info.context, root.rollout_id)

    @strawberry.field(
        description="Technical detail of the last status change (command output, exception text); "
        "hosting staff only, null for everyone else."
    )
    def internal_detail(self, root: Parent[UpdateRequestRow], info: Info) -> str | None:
        return requests.internal_detail(info.context, root)

    @strawberry.field(description="Who deleted this request (hosting staff list deleted requests).")
    async def deleted_by(
        self, root: Parent[UpdateRequestRow], info: Info
    ) -> Annotated[AccountType, strawberry.lazy("schema.accounts.types")] | None:
        return await related_account(info.context, root.deleted_by_id)

    @strawberry.field(description="Whether the caller may cancel this request now.")
    def can_cancel(self, root: Parent[UpdateRequestRow], info: Info) -> bool:
        # An awaitable only for a group contact asking about a rollout's request.
        return cast(bool, requests.can_cancel(info.context, root))

    @strawberry.field(description="Whether the caller may delete this request now.")
    def can_delete(self, root: Parent[UpdateRequestRow], info: Info) -> bool:
        return requests.can_delete(info.context, root)


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
    """Backed by `resolvers.pagination.Page`."""

    edges: list[UpdateRequestEdge]
    page_info: PageInfo
    total_count: int


def as_connection(page: Page) -> UpdateRequestConnection:
    return cast(UpdateRequestConnection, page)


def as_progress(report: ProgressReport | None) -> Progress | None:
    return cast(Progress | None, report)


__all__ = ["Edge", "UpdateRequestConnection", "UpdateRequestType", "as_connection", "as_progress"]
