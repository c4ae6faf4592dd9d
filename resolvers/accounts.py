"""The signed-in caller, accounts by id, and saved preferences."""

from __future__ import annotations

from models.preferences import set_hide_completed
from models.tables import Account, District
from resolvers.access import visible_district
from resolvers.context import GraphQLContext


def viewer(context: GraphQLContext) -> Account:
    return context.account


async def districts_of_account(context: GraphQLContext, account: Account) -> list[District]:
    """The districts `account` acts for that the caller may also see, by name."""
    ids = await context.loaders.district_ids_of_account.load(account.id)
    rows = [await visible_district(context, pk) for pk in ids]
    return sorted((row for row in rows if row is not None), key=lambda row: row.name)


async def set_preferences(context: GraphQLContext, hide_completed: bool) -> Account:
    account = context.account
    await set_hide_completed(account.id, hide_completed)
    # Later fields of this request (viewer.preferences, list defaults) see the new choice.
    account.hide_completed = hide_completed
    return account
