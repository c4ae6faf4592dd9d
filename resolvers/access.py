"""Visibility of rows for the caller: everything outside the caller's districts loads as None,
exactly as a missing row does. Every path to an object goes through one of these."""

from __future__ import annotations

from typing import TypeVar

from tortoise.models import Model

from models.tables import Account, District, Environment, UpdateGroup, UpdateRequest
from resolvers.context import GraphQLContext

RowT = TypeVar("RowT", bound=Model)


def joined(row: Model, name: str, model: type[RowT], pk: int | None) -> RowT | None:
    """The related row `name` of `row` when the query that read `row` joined it (select_related)
    and it is the row `pk` names; None when it was not joined (then a loader reads it)."""
    value = getattr(row, f"_{name}", None)  # where Tortoise keeps a joined relation
    return value if isinstance(value, model) and value.pk == pk else None


def shown_district(context: GraphQLContext, row: District | None) -> District | None:
    return row if row is not None and context.actor.can_see(row.id) else None


def shown_environment(context: GraphQLContext, row: Environment | None) -> Environment | None:
    return row if row is not None and context.actor.can_see(row.district_id) else None


async def visible_district(context: GraphQLContext, pk: int | None) -> District | None:
    if pk is None:
        return None
    return shown_district(context, await context.loaders.district.load(pk))


async def visible_environment(context: GraphQLContext, pk: int | None) -> Environment | None:
    if pk is None:
        return None
    return shown_environment(context, await context.loaders.environment.load(pk))


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
