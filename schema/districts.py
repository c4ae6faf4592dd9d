"""Districts, their update groups and their environments (hosted sites)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.tables import District as DistrictRow
from models.tables import Environment as EnvironmentRow
from models.tables import UpdateGroup as UpdateGroupRow
from resolvers.access import visible_district, visible_districts_of_group, visible_group
from resolvers.context import Info
from schema.enums import EnvironmentKind, GroupKind, HostingModel, UpdateKind, UpdateStatus
from schema.nodes import Node, global_id
from schema.requests import UpdateRequestConnection, UpdateRequestType, update_request_connection


@strawberry.type(name="UpdateGroup", description="A state or consortium whose districts update together.")
class UpdateGroupType(Node):
    id: strawberry.ID
    name: str
    kind: GroupKind
    row: strawberry.Private[UpdateGroupRow]

    @classmethod
    def from_row(cls, row: UpdateGroupRow) -> UpdateGroupType:
        return cls(id=global_id("UpdateGroup", row.id), name=row.name, kind=row.kind, row=row)

    @strawberry.field(description="The group's districts the caller may see.")
    async def districts(self, info: Info) -> list[DistrictType]:
        rows = await visible_districts_of_group(info.context, self.row.id)
        return [DistrictType.from_row(row) for row in rows]


@strawberry.type(name="District")
class DistrictType(Node):
    id: strawberry.ID
    name: str
    hosting_model: HostingModel
    time_zone: str = strawberry.field(description="IANA time zone for district-facing dates.")
    row: strawberry.Private[DistrictRow]

    @classmethod
    def from_row(cls, row: DistrictRow) -> DistrictType:
        return cls(
            id=global_id("District", row.id),
            name=row.name,
            hosting_model=row.hosting_model,
            time_zone=row.time_zone,
            row=row,
        )

    @strawberry.field
    async def update_group(self, info: Info) -> UpdateGroupType | None:
        row = await visible_group(info.context, self.row.update_group_id)
        return UpdateGroupType.from_row(row) if row else None

    @strawberry.field
    async def environments(self, info: Info) -> list[EnvironmentType]:
        rows = await info.context.loaders.environments_of_district.load(self.row.id)
        return [EnvironmentType.from_row(row) for row in rows]

    @strawberry.field(
        description="This district's requests, newest first (cancelled and deleted ones left out)."
    )
    async def update_requests(
        self,
        info: Info,
        statuses: list[UpdateStatus] | None = None,
        kinds: list[UpdateKind] | None = None,
        hide_completed: bool | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> UpdateRequestConnection:
        return await update_request_connection(
            info,
            district_id=self.row.id,
            statuses=statuses,
            kinds=kinds,
            hide_completed=hide_completed,
            first=first,
            after=after,
        )


@strawberry.type(name="Environment", description="One hosted site of a district.")
class EnvironmentType(Node):
    id: strawberry.ID
    kind: EnvironmentKind
    url: str | None
    current_version: str
    version_updated_at: datetime | None
    last_refreshed_at: datetime | None
    online: bool
    row: strawberry.Private[EnvironmentRow]

    @classmethod
    def from_row(cls, row: EnvironmentRow) -> EnvironmentType:
        return cls(
            id=global_id("Environment", row.id),
            kind=row.kind,
            url=row.url,
            current_version=row.current_version,
            version_updated_at=row.version_updated_at,
            last_refreshed_at=row.last_refreshed_at,
            online=row.online,
            row=row,
        )

    @strawberry.field
    async def district(self, info: Info) -> DistrictType:
        row = await visible_district(info.context, self.row.district_id)
        assert row is not None, "a visible environment lies in a visible district"
        return DistrictType.from_row(row)

    @strawberry.field(description="Requests with a start time that have not begun, soonest first.")
    async def scheduled_updates(self, info: Info) -> list[UpdateRequestType]:
        rows = await info.context.loaders.scheduled_of_environment.load(self.row.id)
        return [UpdateRequestType.from_row(row) for row in rows]
