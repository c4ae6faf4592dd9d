"""The Node interface and its opaque global ids (base64 of "TypeName:pk")."""

from __future__ import annotations

import strawberry

from resolvers.ids import decode_global_id, decode_id_of, encode_global_id


@strawberry.interface(name="Node", description="An object with an opaque global id.")
class Node:
    id: strawberry.ID


def global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(encode_global_id(type_name, pk))


__all__ = ["Node", "decode_global_id", "decode_id_of", "global_id"]
