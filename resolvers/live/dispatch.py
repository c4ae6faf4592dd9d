"""Delivering a batch of records to the subscriptions of a process (`deliver_records`), and
resynchronising them after the stream was unreachable (`resynchronise`).

Per batch: the groups each record may reach; one token re-check per connection that is due
(at most every `ws_auth_recheck_seconds`); subscriptions whose caller's access changed move to
their new group, or end with NOT_FOUND when they no longer see what they narrowed to; the rows
the selections need, in one statement; one rendering per (record, group) that sees the record;
then the frames, in stream order, to every member of each group.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from infra.bus import STREAM_START, EventRecord, Gap, public_cursor
from infra.bus.records import id_key
from models.access import Actor
from models.clock import utcnow
from models.enums import EventType
from models.errors import DatabaseUnavailable, database_unavailable
from models.requests.queries import changed_since
from models.tables import UpdateRequest
from resolvers.live import eager
from resolvers.live.access import CLOSE_FORBIDDEN, refresh_all
from resolvers.live.events import LiveEvent, live_event, needs_row, rows_of, snapshot_event
from resolvers.live.groups import HubView, LiveConnection, Member, RenderGroup
from resolvers.live.outbox import CLOSE_TOO_SLOW, REASON_INCOMPLETE, REASON_UNDELIVERED, close_reason
from resolvers.live.scope import lost_sight

#: After a gap, requests changed this long before the gap began are resent too (clock skew
#: between the processes that stamp `updated_at`) ...
RESYNC_MARGIN = timedelta(seconds=5)
#: ... at most this many: the newest changes (sent oldest first). When more changed, the socket
#: is closed with 1013 once they are sent (`REASON_INCOMPLETE`): its client reloads, then resumes
#: from its last cursor (theirs resumes: it does not bring the same SNAPSHOTs back).
RESYNC_LIMIT = 500
#: The sequence of a SNAPSHOT's cursor where the stream holds no record to name (`snapshot_cursor`).
_NO_RECORD = 2**63 - 1


def error_frame(member: Member) -> str:
    """The `next` with NOT_FOUND that ends a subscription that lost sight of its scope."""
    error = lost_sight(member.group.scope)
    payload = {"data": None, "errors": [{"message": error.message, "path": ["updateRequestEvents"],
                                          "extensions": error.extensions}]}  # fmt: skip
    return member.next_frame(json.dumps(payload, separators=(",", ":")))


async def check_access(hub: HubView, groups: Iterable[RenderGroup], *, force: bool = False) -> None:
    """Re-check the connections of these groups' members (those due, or all with `force`); close
    those whose token is gone (4403), move or end those whose access changed. A group none of
    whose members is due yet (`RenderGroup.due_at`) is not looked at: every event would otherwise
    walk every member of every group it reaches."""
    if not force:
        now = time.monotonic()
        groups = [group for group in groups if group.due_at <= now]
    groups = list(groups)
    if not groups:
        return
    members = [member for group in groups for member in group if not member.gone]
    connections: dict[LiveConnection, None] = {member.connection: None for member in members}
    try:
        if not await refresh_all((connection.access for connection in connections), force=force):
            return  # nobody's access was looked at again: nothing changed
        _apply_access(hub, members)
    finally:
        for group in groups:
            group.recompute_due()


def _apply_access(hub: HubView, members: list[Member]) -> None:
    """Close, move or end the re-checked members whose access changed."""
    for member in members:
        connection = member.connection
        actor = connection.access.actor
        if actor is None:
            connection.outbox.close(CLOSE_FORBIDDEN, close_reason(connection.access.reason))
            continue
        group = member.group
        visibility = connection.visibility(actor, group.document.per_account)
        if visibility is group.visibility or visibility == group.visibility:
            group.follow_sign_in(connection.access)
            continue
        if not group.scope.visible_to(actor):
            hub.end(member, error_frame(member))
        else:
            hub.regroup(member, visibility)


def _reaches(group: RenderGroup, record: EventRecord) -> bool:
    return bool(group.members) and group.visibility.can_see(record.event.district_id)


async def deliver_records(hub: HubView, records: list[EventRecord]) -> None:
    await check_access(hub, {group: None for record in records for group in hub.candidates(record.event)})
    # Each record with the groups it reaches, and whether each of them needs the request's row.
    plan = [
        (record, [(g, needs_row(record, g.document.request_fields)) for g in hub.candidates(record.event)
                  if _reaches(g, record)])
        for record in records
    ]  # fmt: skip
    wanted = [record.event.update_request_id for record, groups in plan if any(row for _, row in groups)]
    rows = await rows_of(wanted) if wanted else {}
    taken = utcnow()
    jobs: list[tuple[EventRecord, RenderGroup, LiveEvent]] = []
    for record, groups in plan:
        row = rows.get(record.event.update_request_id)
        for group, needed in groups:
            if needed and row is None:
                continue  # the request is gone from the database: nothing to show
            single = group.scope.request_id is not None
            event = live_event(record, row if needed else None, taken, single=single)
            if event is not None:
                jobs.append((record, group, event))
    # Plain renders finish at once; only those that need graphql-core (which may read the
    # database) run, concurrently.
    payloads = [hub.render_now(group, event, record.id) for record, group, event in jobs]
    waiting = [i for i, payload in enumerate(payloads) if payload is None]
    if waiting:
        started = [eager.begin(hub.render(jobs[i][1], jobs[i][2], jobs[i][0].id)) for i in waiting]
        for i, payload in zip(waiting, await asyncio.gather(*started), strict=True):
            payloads[i] = payload
    for (record, group, event), made in zip(jobs, payloads, strict=True):
        assert made is not None
        send(hub, group, event, made, record.id)


def log_failure(logger: logging.Logger, error: Exception, message: str, *args: object) -> None:
    """Log why live frames could not be made: a warning when the database did not answer (no fault
    of ours: the subscribers resume once it does), else the fault with its traceback."""
    if isinstance(error, DatabaseUnavailable) or database_unavailable(error):
        logger.warning(message + ": the database did not answer (%r)", *args, error.__cause__ or error)
    else:
        logger.exception(message, *args)


def undelivered(hub: HubView, records: list[EventRecord] | None) -> None:
    """The frames of `records` (None: of a resynchronisation) could not be made: every socket
    owed one is closed with 1013, so that its client resumes from its last cursor rather than
    going on after a silent gap."""
    if records is None:
        groups = list(hub.groups.values())
    else:
        groups = list({g: None for r in records for g in hub.candidates(r.event) if _reaches(g, r)})
    for group in groups:
        for member in group:
            member.connection.outbox.close(CLOSE_TOO_SLOW, REASON_UNDELIVERED)


def send(
    hub: HubView,
    group: RenderGroup,
    event: LiveEvent,
    payload: str,
    record_id: str | None = None,
) -> None:
    """Hand one rendered event to every member of `group` (a single-request subscription ends
    after its REMOVED)."""
    key = id_key(record_id) if record_id is not None else None
    request_id, district_id = event.update_request.id, event.update_request.district_id
    progress = event.type is EventType.PROGRESS
    ends = event.type is EventType.REMOVED and group.scope.request_id is not None
    for member in group:
        if member.gone or (
            key is not None and member.skip_through is not None and key <= member.skip_through
        ):
            continue
        if ends:
            hub.end(member, member.next_frame(payload))
        else:
            member.deliver(payload, request_id, progress=progress, record=key, district_id=district_id)


def _actor_of(group: RenderGroup) -> Actor:
    visibility = group.visibility
    return Actor(visibility.mover, visibility.account_id, visibility.role, visibility.district_ids)


def snapshot_cursor(position: str, newest: str | None, taken: datetime) -> str:
    """The cursor of SNAPSHOTs that show the present as of `position` (all records up to it are
    shown). `position` while the stream holds records up to it (`newest`: its newest record).
    Otherwise (an empty stream, or one lost since the position was read) no record can name the
    moment: a cursor just before `taken` that names none, so that a resume from it starts with
    SNAPSHOTs of what changed since then. (`0-0` would resume with every request ever changed.)"""
    if position != STREAM_START and newest is not None and id_key(newest) >= id_key(position):
        return public_cursor(position)
    millis = int(taken.timestamp() * 1000)
    return public_cursor(f"{millis - 1}-{_NO_RECORD}")


async def snapshots(
    hub: HubView, group: RenderGroup, since: datetime | None, cursor: str, taken: datetime
) -> tuple[list[tuple[LiveEvent, str]], bool]:
    """The group's view of the present: its request's SNAPSHOT (single-request scope), or one
    SNAPSHOT / REMOVED per visible request in scope changed since `since`: the newest
    RESYNC_LIMIT changes, oldest first. And whether that is all of them."""
    scope = group.scope
    complete = True
    if scope.request_id is not None:
        row = await UpdateRequest.get_or_none(id=scope.request_id)
        if row is None or not group.visibility.can_see(row.district_id):
            return [], complete
        rows = [row]
    elif since is not None:
        query = changed_since(_actor_of(group), since - RESYNC_MARGIN, scope.district_id)
        rows = list(await query.limit(RESYNC_LIMIT + 1))
        complete = len(rows) <= RESYNC_LIMIT
        rows = rows[:RESYNC_LIMIT][::-1]  # the newest changes, oldest first
    else:
        return [], complete
    events = [snapshot_event(row, cursor, taken, single=scope.request_id is not None) for row in rows]
    return [(event, await hub.render(group, event)) for event in events], complete


def tell_incomplete(members: Iterable[Member]) -> None:
    """More changed than was resent to these subscriptions: their sockets close (1013) once what
    was resent is sent, telling their clients to reload (`REASON_INCOMPLETE`)."""
    for member in members:
        if not member.gone:
            member.connection.outbox.close_when_sent(CLOSE_TOO_SLOW, REASON_INCOMPLETE)


async def resynchronise(hub: HubView, gap: Gap) -> None:
    """After the stream was unreachable: every subscription gets the present as SNAPSHOTs."""
    groups = list(hub.groups.values())
    await check_access(hub, groups, force=True)
    taken = utcnow()
    cursor = snapshot_cursor(hub.position, await hub.stream.last_id(), taken)
    for group in list(hub.groups.values()):
        resent, complete = await snapshots(hub, group, gap.since, cursor, taken)
        for event, payload in resent:
            send(hub, group, event, payload)
        if not complete:
            tell_incomplete(list(group))
