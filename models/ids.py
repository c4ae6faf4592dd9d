"""Opaque global ids: base64 of "TypeName:pk". The API shows every object's id this way, and a
webhook body names objects with the same ids, so the encoding lives here, in the domain.
Anything that does not decode is simply not found.

Only the canonical form decodes: the id `encode_global_id` would give that row. `District:01`,
`District:` with an Arabic-Indic or a superscript digit, or base64 with stray padding bits, are
nobody's id, rather than another spelling of District 1 or an internal fault."""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache

#: The primary key: ASCII digits, no leading zero (`str.isdigit` also accepts superscripts and
#: Arabic-Indic digits).
_PK = re.compile(r"[1-9][0-9]{0,17}")
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
#: Ids outside a 32-bit column would make PostgreSQL refuse the query: they exist nowhere.
MAX_PK = 2**31 - 1
#: Ids remembered once encoded: a process shows the same rows again and again (every id of every
#: list page, every live event's request), and a hit costs no Python call (~0.1 KiB an entry).
ENCODED_IDS_KEPT = 4096


@lru_cache(maxsize=ENCODED_IDS_KEPT)
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
    if pk > MAX_PK or encode_global_id(type_name, pk) != value:
        return None
    return type_name, pk
