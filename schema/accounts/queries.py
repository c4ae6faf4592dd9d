"""The `viewer` query."""

from __future__ import annotations

from typing import cast

import strawberry

from resolvers import accounts
from resolvers.context import Info
from schema.accounts.types import Viewer


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The signed-in caller.")
    def viewer(self, info: Info) -> Viewer:
        return cast(Viewer, accounts.viewer(info.context))
