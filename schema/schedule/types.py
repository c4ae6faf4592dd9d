"""MaintenanceWindow and Blackout, backed by their rows; their inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import Parent

from models.errors import DomainError
from models.tables import Blackout as BlackoutRow
from models.tables import MaintenanceWindow as MaintenanceWindowRow
from models.windows import clock_text
from resolvers.access import visible_district, visible_group
from resolvers.context import Info
from schema.enums import HostingModel
from schema.errors import UserError
from schema.nodes import Node, rows_of

# Types of other feature slices are named here and resolved by `strawberry.lazy` when the schema is
# built, so slices never import each other; to the type checker they are Any.
if TYPE_CHECKING:
    DistrictType = Any
    UpdateGroupType = Any


def _start_time(root: Parent[MaintenanceWindowRow]) -> str:
    return clock_text(root.start_time)


def _end_time(root: Parent[MaintenanceWindowRow]) -> str:
    return clock_text(root.end_time)


@strawberry.type(
    name="MaintenanceWindow",
    description="A weekly window in which version updates of a hosting model's districts may start: "
    "weekday 1 (Monday) to 7 (Sunday), local 24-hour times in an IANA time zone. An endTime at or "
    "before startTime ends on the next day.",
)
class MaintenanceWindowType(Node):
    hosting_model: HostingModel
    weekday: int
    start_time: str = strawberry.field(resolver=_start_time, description='Local time, "HH:MM".')
    end_time: str = strawberry.field(resolver=_end_time, description='Local time, "HH:MM".')
    time_zone: str
    is_type_of = staticmethod(rows_of(MaintenanceWindowRow))


@strawberry.type(
    name="Blackout",
    description="A period in which no work starts. It covers everything when hostingModel, "
    "updateGroup and district are all null.",
)
class BlackoutType(Node):
    start: datetime
    end: datetime
    reason: str
    hosting_model: HostingModel | None
    is_type_of = staticmethod(rows_of(BlackoutRow))

    @strawberry.field
    async def update_group(
        self, root: Parent[BlackoutRow], info: Info
    ) -> Annotated[UpdateGroupType, strawberry.lazy("schema.districts.types")] | None:
        return await visible_group(info.context, root.update_group_id)

    @strawberry.field
    async def district(
        self, root: Parent[BlackoutRow], info: Info
    ) -> Annotated[DistrictType, strawberry.lazy("schema.districts.types")] | None:
        return await visible_district(info.context, root.district_id)


@strawberry.input
class MaintenanceWindowInput:
    hosting_model: HostingModel
    weekday: int = strawberry.field(description="1 = Monday ... 7 = Sunday.")
    start_time: str = strawberry.field(description='Local 24-hour time, "HH:MM".')
    end_time: str = strawberry.field(
        description='Local 24-hour time, "HH:MM"; earlier than startTime: next day.'
    )
    time_zone: str = strawberry.field(description="IANA time zone, e.g. America/Chicago.")


@strawberry.input
class BlackoutInput:
    start: datetime
    end: datetime
    reason: str
    hosting_model: HostingModel | None = strawberry.field(default=None, description="At most one scope.")
    update_group_id: strawberry.ID | None = None
    district_id: strawberry.ID | None = None


@strawberry.type
class MaintenanceWindowPayload:
    maintenance_window: MaintenanceWindowType | None
    errors: list[UserError]

    @classmethod
    def ok(cls, row: MaintenanceWindowRow) -> MaintenanceWindowPayload:
        return cls(maintenance_window=cast(MaintenanceWindowType, row), errors=[])

    @classmethod
    def refused(cls, error: DomainError) -> MaintenanceWindowPayload:
        return cls(maintenance_window=None, errors=[UserError.from_domain(error)])


@strawberry.type
class BlackoutPayload:
    blackout: BlackoutType | None
    errors: list[UserError]

    @classmethod
    def ok(cls, row: BlackoutRow) -> BlackoutPayload:
        return cls(blackout=cast(BlackoutType, row), errors=[])

    @classmethod
    def refused(cls, error: DomainError) -> BlackoutPayload:
        return cls(blackout=None, errors=[UserError.from_domain(error)])
