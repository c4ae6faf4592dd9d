"""District, UpdateGroup and Environment, backed by their rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import Parent

from models.tables import District as DistrictRow
from models.tables import Environment as EnvironmentRow
from models.tables import UpdateGroup as UpdateGroupRow
from resolvers import districts, requests
from resolvers.access import visible_district
from resolvers.context import Info
from schema.enums import EnvironmentKind, GroupKind, HostingModel, UpdateKind, UpdateStatus
from schema.nodes import Node, rows_of

# Types of other feature slices are named here and resolved by `strawberry.lazy` when the schema is
# built, so slices never import each other; to the type checker they are Any.
if TYPE_CHECKING:
    UpdateRequestConnection = Any
    UpdateRequestType = Any


@strawberry.type(name="UpdateGroup", description="A state or consortium whose districts update together.")
class UpdateGroupType(Node):
    name: str
    kind: GroupKind
    is_type_of = staticmethod(rows_of(UpdateGroupRow))

    @strawberry.field(description="The group's districts the caller may see.")
    async def districts(self, root: Parent[UpdateGroupRow], info: Info) -> list[DistrictType]:
        return cast(list[DistrictType], await districts.districts_of_group(info.context, root))


@strawberry.type(name="District")
class DistrictType(Node):
    name: str
    hosting_model: HostingModel
    time_zone: str = strawberry.field(description="IANA time zone for district-facing dates.")
    is_type_of = staticmethod(rows_of(DistrictRow))

    @strawberry.field
    async def update_group(self, root: Parent[DistrictRow], info: Info) -> UpdateGroupType | None:
        return cast(UpdateGroupType | None, await districts.group_of(info.context, root))

    @strawberry.field
    async def environments(self, root: Parent[DistrictRow], info: Info) -> list[EnvironmentType]:
        return cast(list[EnvironmentType], await districts.environments_of(info.context, root))

    @strawberry.field(
        description="This district's requests, newest first (cancelled and deleted ones left out)."
    )
    async def update_requests(
        self,
        root: Parent[DistrictRow],
        info: Info,
        statuses: list[UpdateStatus] | None = None,
        kinds: list[UpdateKind] | None = None,
        hide_completed: bool | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Annotated[UpdateRequestConnection, strawberry.lazy("schema.requests.types")]:
        page = await requests.list_page(
            info.context,
            district_id=root.id,
            statuses=statuses,
            kinds=kinds,
            hide_completed=hide_completed,
            first=first,
            after=after,
        )
        return page


@strawberry.type(name="Environment", description="One hosted site of a district.")
class EnvironmentType(Node):
    kind: EnvironmentKind
    url: str | None
    current_version: str
    version_updated_at: datetime | None
    last_refreshed_at: datetime | None
    online: bool
    is_type_of = staticmethod(rows_of(EnvironmentRow))

    @strawberry.field
    async def district(self, root: Parent[EnvironmentRow], info: Info) -> DistrictType:
        row = await visible_district(info.context, root.district_id)
        assert row is not None, "a visible environment lies in a visible district"
        return cast(DistrictType, row)

    @strawberry.field(description="Requests with a start time that have not begun, soonest first.")
    async def scheduled_updates(
        self, root: Parent[EnvironmentRow], info: Info
    ) -> list[Annotated[UpdateRequestType, strawberry.lazy("schema.requests.types")]]:
        return await districts.scheduled_updates_of(info.context, root)
