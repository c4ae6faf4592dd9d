"""GroupRollout (backed by its row), its StatusCount and RolloutSkip, the input and the payload."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import Parent

from models.errors import DomainError
from models.rollouts.rules import DEFAULT_MAX_FAILURES, DEFAULT_WAVE_SIZE
from models.tables import GroupRollout as GroupRolloutRow
from models.tables import RolloutSkip as RolloutSkipRow
from resolvers import rollouts
from resolvers.access import related_account, visible_district, visible_group
from resolvers.context import Info
from schema.enums import EnvironmentKind, ErrorCode, RolloutStatus, UpdateStatus
from schema.errors import UserError
from schema.nodes import Node, rows_of

# Types of other feature slices are named here and resolved by `strawberry.lazy` when the schema is
# built, so slices never import each other; to the type checker they are Any.
if TYPE_CHECKING:
    AccountType = Any
    DistrictType = Any
    UpdateGroupType = Any
    UpdateRequestType = Any


@strawberry.type(description="How many of a rollout's requests are in one status.")
class StatusCount:
    status: UpdateStatus
    count: int


@strawberry.type(name="RolloutSkip", description="A district of the group that got no request, and why.")
class RolloutSkipType:
    code: ErrorCode
    message: str
    is_type_of = staticmethod(rows_of(RolloutSkipRow))

    @strawberry.field
    async def district(
        self, root: Parent[RolloutSkipRow], info: Info
    ) -> Annotated[DistrictType, strawberry.lazy("schema.districts.types")]:
        row = await visible_district(info.context, root.district_id)
        assert row is not None, "skips are listed for the caller's districts only"
        return row


@strawberry.type(
    name="GroupRollout",
    description="One version rolled out to every district of a state or consortium group, in "
    "waves, under an error budget. Its work is ordinary update requests.",
)
class GroupRolloutType(Node):
    environment: EnvironmentKind
    target_version: str
    status_message: str | None
    wave_size: int = strawberry.field(description="Most districts started and unfinished at once.")
    max_failures: int = strawberry.field(
        description="Districts that may end UNABLE_TO_COMPLETE; one more halts the rollout."
    )
    notes: str | None
    created_at: datetime
    updated_at: datetime
    is_type_of = staticmethod(rows_of(GroupRolloutRow))

    @strawberry.field
    async def update_group(
        self, root: Parent[GroupRolloutRow], info: Info
    ) -> Annotated[UpdateGroupType, strawberry.lazy("schema.districts.types")]:
        row = await visible_group(info.context, root.update_group_id)
        assert row is not None, "a visible rollout's group is visible"
        return row

    @strawberry.field(
        description="RUNNING, PAUSED, HALTED (error budget spent) or CANCELLED as staff or the "
        "budget left it; COMPLETED once none of its requests is open or waiting under a newer "
        "request (NEW_VERSION_REQUESTED)."
    )
    async def status(self, root: Parent[GroupRolloutRow], info: Info) -> RolloutStatus:
        return await rollouts.status(info.context, root)

    @strawberry.field(
        description="Its requests per status (of the districts the caller sees), in lifecycle "
        "order; statuses without requests are left out."
    )
    async def counts(self, root: Parent[GroupRolloutRow], info: Info) -> list[StatusCount]:
        return [StatusCount(status=s, count=n) for s, n in await rollouts.counts(info.context, root)]

    @strawberry.field(description="Districts that got no request, with the code and reason.")
    async def skipped(self, root: Parent[GroupRolloutRow], info: Info) -> list[RolloutSkipType]:
        return cast(list[RolloutSkipType], await rollouts.skipped(info.context, root))

    @strawberry.field(description="Its requests the caller sees, cancelled ones left out, oldest first.")
    async def update_requests(
        self, root: Parent[GroupRolloutRow], info: Info
    ) -> list[Annotated[UpdateRequestType, strawberry.lazy("schema.requests.types")]]:
        return cast(list[Any], await rollouts.update_requests(info.context, root))

    @strawberry.field
    async def created_by(
        self, root: Parent[GroupRolloutRow], info: Info
    ) -> Annotated[AccountType, strawberry.lazy("schema.accounts.types")] | None:
        return await related_account(info.context, root.created_by_id)


@strawberry.input
class GroupRolloutInput:
    update_group_id: strawberry.ID
    environment: EnvironmentKind
    target_version: str
    wave_size: int | None = strawberry.field(
        default=DEFAULT_WAVE_SIZE,
        description="Most districts started and unfinished at once (null: the default).",
    )
    max_failures: int | None = strawberry.field(
        default=DEFAULT_MAX_FAILURES,
        description="Districts that may end UNABLE_TO_COMPLETE before the rollout halts (null: the default).",
    )
    notes: str | None = None


@strawberry.type
class GroupRolloutPayload:
    rollout: GroupRolloutType | None
    errors: list[UserError]

    @classmethod
    def ok(cls, row: GroupRolloutRow) -> GroupRolloutPayload:
        return cls(rollout=cast(GroupRolloutType, row), errors=[])

    @classmethod
    def refused(cls, error: DomainError) -> GroupRolloutPayload:
        return cls(rollout=None, errors=[UserError.from_domain(error)])
