"""Opaque global ids: base64 of "TypeName:pk". Anything that does not decode is simply not found.

Only the canonical form decodes: the id this module would encode for that row. `District:01`,
`District:` with an Arabic-Indic or a superscript digit, or base64 with stray padding bits, are
nobody's id, rather than another spelling of District 1 or an internal fault."""

from __future__ import annotations

import base64
import binascii
import re

from models.errors import not_found

#: The primary key: ASCII digits, no leading zero (`str.isdigit` also accepts superscripts and
#: Arabic-Indic digits).
_PK = re.compile(r"[1-9][0-9]{0,17}")
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def encode_global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode("ascii")


def decode_global_id(value: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for anything that is not one of our ids."""
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    type_name, sep, pk_text = text.partition(":")
    if not sep or not _TYPE_NAME.fullmatch(type_name) or not _PK.fullmatch(pk_text):
        return None
    pk = int(pk_text)
    # Ids outside a 32-bit column would make PostgreSQL refuse the query: they exist nowhere.
    if pk > 2**31 - 1 or encode_global_id(type_name, pk) != value:
        return None
    return type_name, pk


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
