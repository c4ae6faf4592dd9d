"""Small helpers shared by the mutation resolvers."""

from __future__ import annotations

from models.errors import DomainError, not_found
from resolvers.ids import decode_id_of


def require_id(value: str, type_name: str, what: str, field: str = "id") -> int:
    """The primary key behind a global id of `type_name`; NOT_FOUND for anything else."""
    pk = decode_id_of(value, type_name)
    if pk is None:
        raise not_found(what, field)
    return pk


__all__ = ["DomainError", "require_id"]
