"""Accounts and the signed-in viewer with its saved preferences."""

from __future__ import annotations

import strawberry

from models.tables import Account as AccountRow
from resolvers.access import visible_district
from resolvers.context import Info
from schema.districts import DistrictType
from schema.enums import Role
from schema.nodes import Node, global_id


@strawberry.type(name="Account")
class AccountType(Node):
    id: strawberry.ID
    email: str
    name: str
    role: Role
    row: strawberry.Private[AccountRow]

    @classmethod
    def from_row(cls, row: AccountRow) -> AccountType:
        return cls(id=global_id("Account", row.id), email=row.email, name=row.name, role=row.role, row=row)

    @strawberry.field(description="The districts this account acts for that the caller may also see.")
    async def districts(self, info: Info) -> list[DistrictType]:
        ids = await info.context.loaders.district_ids_of_account.load(self.row.id)
        rows = [await visible_district(info.context, pk) for pk in ids]
        visible = sorted((row for row in rows if row is not None), key=lambda row: row.name)
        return [DistrictType.from_row(row) for row in visible]


@strawberry.type(description="Choices saved per account.")
class Preferences:
    hide_completed: bool = strawberry.field(
        description="Lists hide completed requests unless a query says otherwise."
    )


@strawberry.type(description="The signed-in caller.")
class Viewer:
    account: AccountType
    preferences: Preferences
