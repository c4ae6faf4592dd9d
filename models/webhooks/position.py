"""How far the webhook dispatcher has read the event stream, and where it starts.

The position is a row of `webhook_stream_position`, named after the stream it reads (the Redis
stream's key), in the database rather than next to the stream in Redis: the deliveries it leads to
are rows of the same database, it survives every restart of the processes, and it survives a
Redis that lost its data, so that loss is noticed (the stored record is no longer kept: a gap)
instead of silently starting over at the newest record.

`start_at` is the rule for where reading begins:

- no stored position (the first start of a deployment): the stream's newest record, so history
  written before webhooks were dispatched is not replayed to anyone;
- a stored position whose record the stream still keeps: right after it (nothing lost);
- a stored position the stream no longer keeps (the dispatcher was stopped longer than the
  retention, or Redis lost its data): right after it too (what is still kept is dispatched), but
  records in between may be lost: a gap;
- a stored position from a stream that was replaced since (Redis lost its data and the new
  stream's ids sort before the position, or there is no stream): the new stream's start, with a
  gap (reading after the position would wait until the new stream's clock passes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from models import sql
from models.clock import utcnow
from models.tables import WebhookStreamPosition

#: The position before every record (the stream's own notation: `infra.bus.STREAM_START`).
BEFORE_EVERY_RECORD = "0-0"


@dataclass(frozen=True)
class Start:
    """Where the dispatcher begins: after `after`; `gap`: records after it may have been lost."""

    after: str
    gap: bool = False
    #: No position was stored: this one is new and must be stored before reading on.
    first: bool = False


def start_at(
    stored: str | None, newest: str | None, stored_is_kept: bool, stream_replaced: bool = False
) -> Start:
    """Where to begin reading (see the module's docstring). `newest`: the stream's newest record
    id (None: empty stream); `stored_is_kept`: whether the stream still keeps the stored record;
    `stream_replaced`: whether the stream can never have held it (`infra.bus.stream_replaced`)."""
    if stored is None:
        return Start(newest or BEFORE_EVERY_RECORD, first=True)
    if stored == BEFORE_EVERY_RECORD or stored_is_kept:
        # Nothing was ever read from an empty stream, or the record is still there: no loss.
        return Start(stored)
    if stream_replaced:
        return Start(BEFORE_EVERY_RECORD, gap=True)
    return Start(stored, gap=True)


async def load_position(name: str) -> str | None:
    row = await WebhookStreamPosition.get_or_none(name=name)
    return None if row is None else row.cursor


async def store_position(name: str, record_id: str, now: datetime | None = None) -> None:
    """Remember that every record up to `record_id` was fanned out."""
    now = now or utcnow()
    # Once per batch of records read: SQL text made once (models/sql.py).
    updated = await sql.update(WebhookStreamPosition, {"name": name}, cursor=record_id, updated_at=now)
    if updated:
        return
    try:  # no transaction (`get_or_create` opens one): a plain insert, its unique name decides
        await WebhookStreamPosition.create(name=name, cursor=record_id, updated_at=now)
    except IntegrityError:
        await WebhookStreamPosition.filter(name=name).update(cursor=record_id, updated_at=now)
