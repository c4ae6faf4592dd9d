"""Visibility of rows for the caller: everything outside the caller's districts loads as None,
exactly as a missing row does. Every path to an object goes through one of these."""

from __future__ import annotations

from models.tables import Account, District, Environment, UpdateGroup, UpdateRequest
from resolvers.context import GraphQLContext


async def visible_district(context: GraphQLContext, pk: int | None) -> District | None:
    if pk is None:
        return None
    row = await context.loaders.district.load(pk)
    return row if row is not None and context.actor.can_see(row.id) else None


async def visible_environment(context: GraphQLContext, pk: int | None) -> Environment | None:
    if pk is None:
        return None
    row = await context.loaders.environment.load(pk)
    return row if row is not None and context.actor.can_see(row.district_id) else None


async def visible_request(context: GraphQLContext, pk: int | None) -> UpdateRequest | None:
    if pk is None:
        return None
    return await context.loaders.request.load(pk)  # the loader filters by the actor


async def visible_group(context: GraphQLContext, pk: int | None) -> UpdateGroup | None:
    """A group is visible to staff and to callers who see at least one of its districts."""
    if pk is None:
        return None
    row = await context.loaders.group.load(pk)
    if row is None:
        return None
    if context.actor.district_ids is None:
        return row
    members = await context.loaders.districts_of_group.load(row.id)
    return row if any(context.actor.can_see(d.id) for d in members) else None


async def visible_districts_of_group(context: GraphQLContext, group_id: int) -> list[District]:
    members = await context.loaders.districts_of_group.load(group_id)
    return [d for d in members if context.actor.can_see(d.id)]


async def visible_account(context: GraphQLContext, pk: int | None) -> Account | None:
    """By id (node): oneself, anyone for staff, or an account sharing one of the caller's districts."""
    if pk is None:
        return None
    actor = context.actor
    row = await context.loaders.account.load(pk)
    if row is None:
        return None
    if actor.district_ids is None or row.id == actor.account_id:
        return row
    linked = await context.loaders.district_ids_of_account.load(row.id)
    return row if any(actor.can_see(d) for d in linked) else None


async def related_account(context: GraphQLContext, pk: int | None) -> Account | None:
    """The author of a request or a status change the caller already sees: shown as is (district
    staff see which colleague or which member of the hosting team acted)."""
    if pk is None:
        return None
    return await context.loaders.account.load(pk)
