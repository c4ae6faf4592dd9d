"""Group rollouts: the list, one by id, their rolled-up status and counts, and the hosting staff's
start, pause, resume and cancel. Visibility is `models.rollouts.visibility`: a rollout the caller
may not see loads as None, exactly as a missing one."""

from __future__ import annotations

import strawberry

from models.access import require_staff
from models.enums import EnvironmentKind, RolloutStatus, UpdateStatus
from models.rollouts import control, starting
from models.rollouts.counts import in_lifecycle_order
from models.rollouts.rows import GROUP_ROLLOUT
from models.rollouts.rules import rolled_up_status
from models.rollouts.visibility import ROLLOUT_ORDER, visible_rollouts
from models.tables import GroupRollout, RolloutSkip, UpdateRequest
from resolvers.context import GraphQLContext
from resolvers.ids import require_id


async def group_rollouts(context: GraphQLContext) -> list[GroupRollout]:
    """Staff: every rollout; group contacts: their groups'; others: none. Newest first."""
    return list(await visible_rollouts(context.actor).order_by(*ROLLOUT_ORDER))


async def visible_rollout(context: GraphQLContext, pk: int | None) -> GroupRollout | None:
    if pk is None:
        return None
    context.require_auth()
    return await context.loaders.rollouts.rollout.load(pk)


async def status(context: GraphQLContext, row: GroupRollout) -> RolloutStatus:
    """Rolled up from every request of the rollout (whichever districts the caller sees)."""
    counts = await context.loaders.rollouts.counts.load(row.id)
    return rolled_up_status(row.status, counts.total())


async def counts(context: GraphQLContext, row: GroupRollout) -> list[tuple[UpdateStatus, int]]:
    """Requests per status, of the districts the caller sees, in lifecycle order; zeros left out."""
    actor = context.actor
    found = await context.loaders.rollouts.counts.load(row.id)
    return in_lifecycle_order(found.total(None if actor.district_ids is None else actor.can_see))


async def skipped(context: GraphQLContext, row: GroupRollout) -> list[RolloutSkip]:
    return await context.loaders.rollouts.skips.load(row.id)


async def update_requests(context: GraphQLContext, row: GroupRollout) -> list[UpdateRequest]:
    return await context.loaders.rollouts.requests.load(row.id)


def _staff_rollout_id(context: GraphQLContext, id: strawberry.ID) -> int:
    """Outsiders are refused (FORBIDDEN) before their input is judged, then the id is decoded."""
    require_staff(context.actor)
    return require_id(id, "GroupRollout", GROUP_ROLLOUT)


async def start_group_rollout(
    context: GraphQLContext,
    *,
    update_group_id: strawberry.ID,
    environment: EnvironmentKind,
    target_version: str,
    wave_size: int,
    max_failures: int,
    notes: str | None,
) -> GroupRollout:
    require_staff(context.actor)
    return await starting.start_group_rollout(
        context.actor,
        group_id=require_id(update_group_id, "UpdateGroup", "update group", "updateGroupId"),
        environment=environment,
        target_version=target_version,
        wave_size=wave_size,
        max_failures=max_failures,
        notes=notes,
        policy=context.settings.run_policy,
    )


async def pause_group_rollout(context: GraphQLContext, id: strawberry.ID) -> GroupRollout:
    return await control.pause_group_rollout(context.actor, _staff_rollout_id(context, id))


async def resume_group_rollout(context: GraphQLContext, id: strawberry.ID) -> GroupRollout:
    return await control.resume_group_rollout(
        context.actor, _staff_rollout_id(context, id), policy=context.settings.run_policy
    )


async def cancel_group_rollout(context: GraphQLContext, id: strawberry.ID) -> GroupRollout:
    return await control.cancel_group_rollout(context.actor, _staff_rollout_id(context, id))
