"""Account, Viewer and Preferences, backed by the account row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import Parent

from models.tables import Account as AccountRow
from resolvers import accounts
from resolvers.context import Info
from schema.enums import NotifyPreference, Role
from schema.nodes import Node, rows_of

# Types of other feature slices are named here and resolved by `strawberry.lazy` when the schema is
# built, so slices never import each other; to the type checker they are Any.
if TYPE_CHECKING:
    DistrictType = Any


@strawberry.type(name="Account")
class AccountType(Node):
    email: str
    name: str
    role: Role
    is_type_of = staticmethod(rows_of(AccountRow))

    @strawberry.field(description="The districts this account acts for that the caller may also see.")
    async def districts(
        self, root: Parent[AccountRow], info: Info
    ) -> list[Annotated[DistrictType, strawberry.lazy("schema.districts.types")]]:
        return await accounts.districts_of_account(info.context, root)


def _notify(root: Parent[AccountRow]) -> NotifyPreference:
    return accounts.notify_of(root)


@strawberry.type(description="Choices saved per account.")
class Preferences:
    hide_completed: bool = strawberry.field(
        description=(
            "Lists hide completed requests unless a query says otherwise: its hideCompleted "
            "argument, or statuses naming COMPLETED."
        )
    )
    notify: NotifyPreference = strawberry.field(
        resolver=_notify,
        description="Which notices are mailed to this account: all of its districts', those of its own "
        "requests, or none. Defaults: technical contacts all, other district contacts their own "
        "requests, hosting staff none.",
    )


@strawberry.type(description="The signed-in caller.")
class Viewer:
    @strawberry.field
    def account(self, root: Parent[AccountRow]) -> AccountType:
        return cast(AccountType, root)

    @strawberry.field
    def preferences(self, root: Parent[AccountRow]) -> Preferences:
        return cast(Preferences, root)

    @strawberry.field(
        description="The caller's private calendar feed (iCalendar) of its districts' scheduled work and "
        "blackouts, for calendar apps to subscribe to. Anyone with the URL can read it: rotate it with "
        "rotateCalendarFeed if it leaks."
    )
    async def calendar_feed_url(self, root: Parent[AccountRow], info: Info) -> str:
        return await accounts.calendar_feed_url(info.context, root)
