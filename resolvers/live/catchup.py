"""A subscription's start: what it is owed before live events, sent before them.

- no `after`: with `updateRequestId`, a SNAPSHOT of the request (taken after joining, so no
  change falls between; live records the snapshot already shows are skipped); otherwise nothing.
- `after` whose record the stream still keeps: every record after it up to the position the
  subscription joined at that it may see, rendered through its group (shared with other
  subscribers catching up from the same place), in stream order.
- `after` older than what is kept (or from a stream since lost): SNAPSHOTs of the present, as
  after an outage (its request; or every visible request in scope changed since the cursor, the
  newest RESYNC_LIMIT of them, then a 1013 close when more changed). A cursor after the stream's
  newest record resends from the stream's oldest record on (`_resend_since`).
Live records that arrived meanwhile follow; records the client already has are skipped.
Access is what it is when they go out: a district the caller stops seeing while the catch-up runs
(its link removed) is left out of the missed records, the SNAPSHOTs and the live frames held
behind them alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

from infra.bus import STREAM_START, EventRecord, id_time, public_cursor
from infra.bus.records import id_key
from infra.bus.stream import READ_BATCH
from models.clock import utcnow
from models.enums import EventType
from resolvers.live.dispatch import check_access, snapshot_cursor, snapshots, tell_incomplete
from resolvers.live.events import live_event, needs_row, rows_of
from resolvers.live.groups import HubView, Member

#: Every change: resent from the start of time.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def catch_up(hub: HubView, member: Member, after: str | None, joined_at: str) -> None:
    """Send what `member` is owed up to `joined_at`, then let live frames through."""
    group = member.group
    taken = utcnow()
    frames: list[str] = []
    ends, complete = False, True
    if after is not None and await hub.stream.retains(after):
        frames, ends = await _missed(hub, member, after, joined_at)
    elif after is not None or group.scope.request_id is not None:
        # Records up to the stream's newest are in the state the snapshot reads: later live ones
        # only follow it (and the snapshot's cursor says so).
        newest = await hub.stream.last_id()
        if newest is not None and id_key(newest) > id_key(joined_at):
            member.skip(id_key(newest))
            cursor = public_cursor(newest)
        else:
            cursor = snapshot_cursor(joined_at, newest, taken)
        since = await _resend_since(hub, after, newest, taken) if after is not None else None
        while True:
            resent, complete = await snapshots(hub, group, since, cursor, taken)
            # Moved to a narrower group meanwhile (a district link removed while the snapshots
            # were read): they are made again for what the caller sees now.
            if member.gone or member.group is group:
                break
            group = member.group
        for event, payload in resent:
            frames.append(member.next_frame(payload))
            ends = ends or (event.type is EventType.REMOVED and group.scope.request_id is not None)
    if member.gone:
        return  # ended meanwhile (access lost, request removed): the end went out instead
    await member.connection.outbox.push_paced(frames)
    member.go_live([])
    if ends:
        hub.end(member)
    elif not complete:
        tell_incomplete([member])


async def _resend_since(hub: HubView, after: str, newest: str | None, taken: datetime) -> datetime:
    """Since when requests changed are resent for a cursor the stream does not keep. Its own time
    when it is older than the stream's records (trimmed past it, or lost with Redis's data). A
    cursor after the stream's newest record is one this stream never reached (a lost stream's
    whose clock ran ahead of this one's, or a cursor taken before the clock moved back): every
    record of this stream may be news to it, so from the stream's oldest record on. On an empty
    stream, a cursor from ahead of this clock has nothing to bound it: every change."""
    at = id_time(after)
    if newest is None:
        return at if at <= taken else EPOCH
    if id_key(after) > id_key(newest):
        oldest = await hub.stream.read_after(STREAM_START, 1)
        return min(at, id_time(oldest[0].id)) if oldest else at
    return at


async def _missed(hub: HubView, member: Member, after: str, joined_at: str) -> tuple[list[str], bool]:
    """Frames of the kept records after `after` up to `joined_at` that the member may see; and
    whether one of them ended a single-request subscription."""
    group = member.group
    scope, fields, last = group.scope, group.document.request_fields, id_key(joined_at)
    single = scope.request_id is not None
    frames: list[tuple[str, int]] = []  # with the district of each
    position = after
    while id_key(position) < last:
        records = await hub.stream.read_after(position, READ_BATCH)
        # A long catch-up re-checks access as live delivery does (when due): a removed district
        # link moves the subscription to its new group, or ends it, before more is sent.
        async with hub.lock:
            await check_access(hub, [member.group])
        if member.gone:
            return [], False
        group = member.group
        page: list[EventRecord] = [r for r in records if id_key(r.id) <= last]
        wanted = [r for r in page if scope.matches(r.event) and group.visibility.can_see(r.event.district_id)]
        rows = await rows_of(r.event.update_request_id for r in wanted if needs_row(r, fields))
        taken = utcnow()
        for record in wanted:
            row = rows.get(record.event.update_request_id) if needs_row(record, fields) else None
            if row is None and needs_row(record, fields):
                continue
            event = live_event(record, row, taken, single=single)
            if event is None:
                continue
            frames.append(
                (member.next_frame(await hub.render(group, event, record.id)), record.event.district_id)
            )
            if single and event.type is EventType.REMOVED:
                return _still_seen(member, frames), True
        if len(page) < len(records) or len(records) < READ_BATCH:
            break
        position = records[-1].id
    return _still_seen(member, frames), False


def _still_seen(member: Member, frames: list[tuple[str, int]]) -> list[str]:
    """The frames of districts the member still sees: its access may have narrowed while a batch
    was read and rendered, after the batch's re-check."""
    visibility = member.group.visibility
    return [frame for frame, district_id in frames if visibility.can_see(district_id)]
