"""Opaque global ids: base64 of "TypeName:pk". The API shows every object's id this way, and a
webhook body names objects with the same ids, so the encoding lives here, in the domain.
Anything that does not decode is simply not found."""

from __future__ import annotations

import base64
import binascii


def encode_global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def decode_global_id(value: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for anything that is not one of our ids."""
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    type_name, sep, pk_text = text.partition(":")
    if not sep or not type_name or not pk_text.isdigit() or len(pk_text) > 18:
        return None
    pk = int(pk_text)
    # Ids outside a 32-bit column would make PostgreSQL refuse the query: they exist nowhere.
    if pk <= 0 or pk > 2**31 - 1:
        return None
    return type_name, pk
