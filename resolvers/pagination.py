"""Pages of the update request list: `first` checked, opaque cursors, newest first.

A cursor is an opaque encoding of the last row's (created_at, id): stable while rows are added or
removed, unlike an offset. Only cursors this module encodes decode: a forged one (an id past 32
bits, a date past the ends of the calendar, another spelling of a real cursor) is VALIDATION on
`after`. What the list holds (visibility, Hide Complete, never the cancelled) is the domain's
`models.requests.queries.listed_requests`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from models.enums import ErrorCode
from models.requests.queries import LIST_ORDER, after_position, related
from models.tables import Account, District, Environment, UpdateRequest
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
_CURSOR_PREFIX = "ur1|"
#: Row ids are 32-bit: a cursor past that is forged (PostgreSQL would refuse the comparison).
MAX_ROW_ID = 2**31 - 1
_PK = re.compile(r"[1-9][0-9]{0,9}")


@dataclass(frozen=True)
class Edge:
    node: UpdateRequest
    cursor: str


@dataclass(frozen=True)
class Page:
    edges: list[Edge]
    has_next_page: bool
    total_count: int

    @property
    def end_cursor(self) -> str | None:
        return self.edges[-1].cursor if self.edges else None

    @property
    def page_info(self) -> Page:
        return self  # PageInfo's fields (hasNextPage, endCursor) are read from the page itself

    @classmethod
    def empty(cls) -> Page:
        return cls(edges=[], has_next_page=False, total_count=0)


def check_first(first: int | None, default: int, maximum: int = MAX_PAGE_SIZE) -> int:
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise PublicError(
            ErrorCode.VALIDATION, f"first must be between 0 and {maximum}; it was {first}.", "first"
        )
    return first


def encode_cursor(row: UpdateRequest) -> str:
    return _encode(row.created_at, row.id)


def _encode(created_at: datetime, pk: int) -> str:
    text = f"{_CURSOR_PREFIX}{created_at.isoformat()}|{pk}"
    return base64.urlsafe_b64encode(text.encode()).decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        created, _, pk_text = text[len(_CURSOR_PREFIX) :].rpartition("|")
        at = datetime.fromisoformat(created)
        if at.tzinfo is None or not _PK.fullmatch(pk_text) or int(pk_text) > MAX_ROW_ID:
            raise ValueError(cursor)
        at.astimezone(UTC)  # OverflowError for a date past the ends of the calendar in UTC
        pk = int(pk_text)
        if _encode(at, pk) != cursor:
            raise ValueError(cursor)
        return at, pk
    except (binascii.Error, UnicodeError, ValueError, OverflowError):
        raise PublicError(
            ErrorCode.VALIDATION, "after is not a cursor from this list; pass an endCursor.", "after"
        ) from None


async def page_of(
    context: GraphQLContext, query: QuerySet[UpdateRequest], *, first: int | None, after: str | None
) -> Page:
    """One page of `query` (already the list's rows), newest first, with the total count."""
    limit = check_first(first, DEFAULT_PAGE_SIZE)
    position = decode_cursor(after) if after else None
    total = await query.count()
    if limit == 0:
        return Page(edges=[], has_next_page=total > 0, total_count=total)
    if position is not None:
        query = after_position(query, *position)
    # District, environment and author come in the same statement and prime the request's
    # DataLoaders, so the fields that resolve them issue no statement of their own.
    rows = list(
        await query.order_by(*LIST_ORDER)
        .limit(limit + 1)
        .select_related("district", "environment", "requested_by")
    )
    page = rows[:limit]
    _prime_loaders(context, page)
    return Page(
        edges=[Edge(node=row, cursor=encode_cursor(row)) for row in page],
        has_next_page=len(rows) > limit,
        total_count=total,
    )


def _prime_loaders(context: GraphQLContext, rows: list[UpdateRequest]) -> None:
    loaders = context.loaders
    for row in rows:
        loaders.district.prime(row.district_id, related(row, "district", District))
        loaders.environment.prime(row.environment_id, related(row, "environment", Environment))
        if row.requested_by_id is not None:
            loaders.account.prime(row.requested_by_id, related(row, "requested_by", Account))
