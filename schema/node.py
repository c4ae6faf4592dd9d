"""`node(id)`: any object by its global id."""

from __future__ import annotations

from typing import cast

import strawberry

from resolvers import node as node_resolver
from resolvers.context import Info
from schema.nodes import Node


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return cast(Node | None, await node_resolver.node(info.context, id))
