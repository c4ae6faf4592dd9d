"""The Node interface, opaque global ids, and how rows are shown as GraphQL types.

GraphQL types here are backed by the Tortoise rows themselves: a field without a resolver reads
the row's attribute of that name, and resolvers get the row as their parent. `rows_of(Model)` is
the `is_type_of` that lets graphql-core accept a row where a type (or the Node interface) is
expected; `cast("SomeType", row)` tells the type checker the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import strawberry
from tortoise.models import Model

from resolvers.ids import encode_global_id


def global_id(type_name: str, pk: int) -> strawberry.ID:
    return cast(strawberry.ID, encode_global_id(type_name, pk))  # `ID(...)`: a call that does nothing


def node_id(root: strawberry.Parent[Model]) -> strawberry.ID:
    """Every Node's id: the row's model name is its GraphQL type name (Account, District...)."""
    return global_id(type(root).__name__, root.pk)


@strawberry.interface(name="Node", description="An object with an opaque global id.")
class Node:
    id: strawberry.ID = strawberry.field(resolver=node_id)


def rows_of(model: type[Model]) -> Callable[[Any, Any], bool]:
    """`is_type_of` for a type backed by rows of `model`."""

    def is_type_of(obj: Any, _info: Any) -> bool:
        return isinstance(obj, model)

    return is_type_of
