"""Global ids in the API: decoded to the primary key of the type a field expects (the encoding is
`models.ids`). Anything that does not decode is simply not found."""

from __future__ import annotations

from models.errors import not_found
from models.ids import decode_global_id, encode_global_id

__all__ = ["decode_global_id", "decode_id_of", "encode_global_id", "require_id"]


def decode_id_of(value: str, type_name: str) -> int | None:
    """The primary key if `value` is an id of `type_name`, else None."""
    decoded = decode_global_id(value)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


def require_id(value: str, type_name: str, what: str, field: str = "id") -> int:
    """The primary key behind a global id of `type_name`; NOT_FOUND (as for a missing row) else."""
    pk = decode_id_of(value, type_name)
    if pk is None:
        raise not_found(what, field)
    return pk
