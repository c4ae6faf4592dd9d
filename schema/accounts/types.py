"""Account, Viewer and Preferences, backed by the account row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import Parent

from models.tables import Account as AccountRow
from resolvers import accounts
from resolvers.context import Info
from schema.enums import Role
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


@strawberry.type(description="Choices saved per account.")
class Preferences:
    hide_completed: bool = strawberry.field(
        description="Lists hide completed requests unless a query says otherwise."
    )


@strawberry.type(description="The signed-in caller.")
class Viewer:
    @strawberry.field
    def account(self, root: Parent[AccountRow]) -> AccountType:
        return cast(AccountType, root)

    @strawberry.field
    def preferences(self, root: Parent[AccountRow]) -> Preferences:
        return cast(Preferences, root)
