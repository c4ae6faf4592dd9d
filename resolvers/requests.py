"""Update requests: one by id, the list, and every mutation on them. Each authorizes (the domain
refuses what the actor may not do), decodes ids, and calls the domain."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime

import strawberry

from models.clock import utcnow
from models.enums import GROUP_CONTACT_ROLES, EnvironmentKind, UpdateKind, UpdateStatus
from models.lifecycle import district_in_rollout_group, may_cancel, may_delete
from models.requests import requesting, staff, withdrawing
from models.requests.queries import hides_completed, listed_requests
from models.running import blocker_of, claimed_kinds
from models.tables import StatusChange, UpdateRequest
from resolvers.access import visible_district, visible_request
from resolvers.context import GraphQLContext
from resolvers.ids import decode_id_of, require_id
from resolvers.pagination import DEFAULT_PAGE_SIZE, Page, check_first, page_of


async def update_request(context: GraphQLContext, id: strawberry.ID) -> UpdateRequest | None:
    return await visible_request(context, decode_id_of(id, "UpdateRequest"))


async def update_requests(
    context: GraphQLContext,
    *,
    district_id: strawberry.ID | None,
    statuses: list[UpdateStatus] | None,
    kinds: list[UpdateKind] | None,
    hide_completed: bool | None,
    first: int | None,
    after: str | None,
    include_deleted: bool = False,
    with_history: bool = False,
) -> Page:
    """Requests the caller may see, newest first. A district id that is unknown, malformed or
    outside the caller's districts lists nothing, as for a district without requests.
    `include_deleted` lists deleted requests too, for hosting staff only (ignored for others).
    `with_history`: the caller asks for the rows' history, read for the whole page at once."""
    context.require_auth()
    pk: int | None = None
    if district_id is not None:
        pk = decode_id_of(district_id, "District")
        if pk is None or await visible_district(context, pk) is None:
            check_first(first, DEFAULT_PAGE_SIZE)
            return Page.empty()
    return await list_page(
        context,
        district_id=pk,
        statuses=statuses,
        kinds=kinds,
        hide_completed=hide_completed,
        first=first,
        after=after,
        include_deleted=include_deleted,
        with_history=with_history,
    )


async def list_page(
    context: GraphQLContext,
    *,
    district_id: int | None,
    statuses: list[UpdateStatus] | None,
    kinds: list[UpdateKind] | None,
    hide_completed: bool | None,
    first: int | None,
    after: str | None,
    include_deleted: bool = False,
    with_history: bool = False,
) -> Page:
    """A page of the list, for a district the caller already sees (or all its districts). Without
    `hide_completed` the caller's saved "Hide Complete" choice applies, unless `statuses` names
    COMPLETED. With `with_history`, the
    page's histories are read in one statement (`history` then answers from it)."""
    auth = context.require_auth()
    query = listed_requests(
        auth.actor,
        hide_completed=hides_completed(auth.account.hide_completed, hide_completed, statuses),
        district_id=district_id,
        statuses=statuses,
        kinds=kinds,
        include_deleted=include_deleted,
    )
    page = await page_of(context, query, first=first, after=after)
    if with_history and page.edges:
        await context.loaders.read_page_history([edge.node.id for edge in page.edges])
    return page


def history(
    context: GraphQLContext, row: UpdateRequest
) -> list[StatusChange] | Awaitable[list[StatusChange]]:
    """A request's moves, oldest first: from its page's history when the list read it (no
    await), else through the loader (one statement for every request asking)."""
    known = context.loaders.page_history
    if known is not None:
        moves = known.get(row.id)
        if moves is not None:
            return moves
    return context.loaders.history.load(row.id)


def can_cancel(context: GraphQLContext, row: UpdateRequest) -> bool | Awaitable[bool]:
    """Whether the caller may cancel `row` now. Only a group contact asking about a rollout's
    request needs more than the row: whether the district is still in the rollout's group (read
    through the loaders, no await otherwise)."""
    actor = context.actor
    if row.rollout_id is None or actor.role not in GROUP_CONTACT_ROLES:
        return may_cancel(actor, row)
    return _group_contact_can_cancel(context, row, row.rollout_id)


async def _group_contact_can_cancel(context: GraphQLContext, row: UpdateRequest, rollout_id: int) -> bool:
    district = await context.loaders.district.load(row.district_id)
    rollout = await context.loaders.rollouts.rollout.load(rollout_id)
    in_group = (
        district is not None
        and rollout is not None
        and district_in_rollout_group(district.update_group_id, rollout.update_group_id)
    )
    return may_cancel(context.actor, row, in_rollout_group=in_group)


def can_delete(context: GraphQLContext, row: UpdateRequest) -> bool:
    return may_delete(context.actor, row)


def internal_detail(context: GraphQLContext, row: UpdateRequest) -> str | None:
    """Technical detail (command output, exception text) is for hosting staff only."""
    return row.internal_detail if context.actor.is_staff else None


async def waiting_for(context: GraphQLContext, row: UpdateRequest) -> UpdateRequest | None:
    """For a due SCHEDULED request: the request holding an environment it needs (its own site;
    for a refresh, also production), itself while a job of its earlier run has not stopped.
    Read through the loaders: one query per list, not per row."""
    if (
        row.status is not UpdateStatus.SCHEDULED
        or row.scheduled_start is None
        or row.scheduled_start > utcnow()
    ):
        return None
    environments = await context.loaders.environments_of_district.load(row.district_id)
    by_kind = {environment.kind: environment for environment in environments}
    own = next((e for e in environments if e.id == row.environment_id), None)
    if own is None:
        return None
    holders = [
        by_kind[kind].running_request_id for kind in claimed_kinds(row.kind, own.kind) if kind in by_kind
    ]
    return await visible_request(context, blocker_of(holders))


async def request_update(
    context: GraphQLContext,
    *,
    district_id: strawberry.ID,
    kind: UpdateKind,
    environment: EnvironmentKind,
    target_version: str | None,
    preferred_start: datetime | None,
    notes: str | None,
    idempotency_key: str | None,
) -> UpdateRequest:
    return await requesting.request_update(
        context.actor,
        district_id=require_id(district_id, "District", "district", "districtId"),
        kind=kind,
        environment=environment,
        target_version=target_version,
        preferred_start=preferred_start,
        notes=notes,
        idempotency_key=idempotency_key,
    )


async def cancel_update_request(context: GraphQLContext, id: strawberry.ID) -> UpdateRequest:
    return await withdrawing.cancel_update_request(
        context.actor, require_id(id, "UpdateRequest", "update request")
    )


async def delete_update_request(context: GraphQLContext, id: strawberry.ID) -> UpdateRequest:
    return await withdrawing.delete_update_request(
        context.actor, require_id(id, "UpdateRequest", "update request")
    )


async def schedule_update_request(
    context: GraphQLContext, id: strawberry.ID, start: datetime, override_maintenance_window: bool
) -> UpdateRequest:
    return await staff.schedule_update_request(
        context.actor,
        require_id(id, "UpdateRequest", "update request"),
        start,
        override_maintenance_window=override_maintenance_window,
        policy=context.settings.run_policy,
    )


async def set_update_request_status(
    context: GraphQLContext, id: strawberry.ID, status: UpdateStatus, message: str | None
) -> UpdateRequest:
    return await staff.set_update_request_status(
        context.actor,
        require_id(id, "UpdateRequest", "update request"),
        status,
        message,
        policy=context.settings.run_policy,
    )
