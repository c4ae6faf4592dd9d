"""The update request list: filters, the saved "Hide Complete" choice, newest first, cursors.

A cursor is an opaque encoding of the last row's (created_at, id): stable while rows are added
or removed, unlike an offset.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from tortoise.expressions import Q

from models.enums import ErrorCode, UpdateKind, UpdateStatus
from models.operations import visible_requests
from models.tables import UpdateRequest
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
_CURSOR_PREFIX = "ur1|"


def check_first(first: int | None, default: int, maximum: int = MAX_PAGE_SIZE) -> int:
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise PublicError(
            ErrorCode.VALIDATION, f"first must be between 0 and {maximum}; it was {first}.", "first"
        )
    return first


def encode_cursor(row: UpdateRequest) -> str:
    text = f"{_CURSOR_PREFIX}{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(text.encode()).decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(cursor)
        created, _, pk = text[len(_CURSOR_PREFIX) :].rpartition("|")
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError(cursor)
        return at, int(pk)
    except (binascii.Error, UnicodeError, ValueError):
        raise PublicError(
            ErrorCode.VALIDATION, "after is not a cursor from this list; pass an endCursor.", "after"
        ) from None


async def list_update_requests(
    context: GraphQLContext,
    *,
    district_id: int | None,
    statuses: list[UpdateStatus] | None,
    kinds: list[UpdateKind] | None,
    hide_completed: bool | None,
    first: int | None,
    after: str | None,
) -> tuple[list[UpdateRequest], int, bool]:
    """(page rows newest first, total count, whether more follow). Cancelled and deleted requests
    never appear; completed ones are hidden when asked or, when not asked, by saved preference."""
    auth = context.require_auth()
    limit = check_first(first, DEFAULT_PAGE_SIZE)
    position = decode_cursor(after) if after else None
    query = visible_requests(auth.actor).exclude(status=UpdateStatus.CANCELLED)
    if district_id is not None:
        query = query.filter(district_id=district_id)
    if statuses is not None:
        query = query.filter(status__in=list(statuses))
    if kinds is not None:
        query = query.filter(kind__in=list(kinds))
    if hide_completed is None:
        hide_completed = auth.account.hide_completed
    if hide_completed:
        query = query.exclude(status=UpdateStatus.COMPLETED)
    total = await query.count()
    if limit == 0:
        return [], total, total > 0
    if position is not None:
        at, pk = position
        query = query.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    # District, environment and author come in the same statement and prime the request's
    # DataLoaders, so the fields that resolve them issue no statement of their own.
    rows = list(
        await query.order_by("-created_at", "-id")
        .limit(limit + 1)
        .select_related("district", "environment", "requested_by")
    )
    page = rows[:limit]
    _prime_loaders(context, page)
    return page, total, len(rows) > limit


def _prime_loaders(context: GraphQLContext, rows: list[UpdateRequest]) -> None:
    loaders = context.loaders
    for row in rows:
        loaders.district.prime(row.district_id, row.district)
        loaders.environment.prime(row.environment_id, row.environment)
        if row.requested_by_id is not None and row.requested_by is not None:
            loaders.account.prime(row.requested_by_id, row.requested_by)
