"""Live events for `Subscription.updateRequestEvents`: one bus subscription per GraphQL
subscription, filtered per event by what the subscriber may see right now.

Flow of one subscription:
1. Before anything streams: re-authenticate the connection's token and resolve the arguments.
   A missing, malformed or foreign `updateRequestId` / `districtId` is the same NOT_FOUND error,
   sent as the operation's first (and only) message, type `error`.
2. Subscribe to the process's bus FIRST, then read the database for the SNAPSHOT (with
   `updateRequestId`), so no change falls between the two.
3. Per event: cheap filter on the ids, then re-authenticate the token (at most every
   `ws_auth_recheck_seconds`, ≤ 1 s) and check the district against the fresh district links,
   then load the request as it now is (also soft-deleted and cancelled rows, for REMOVED) with
   fresh DataLoaders (the context lives as long as the socket).
4. A bus `Gap` (the Redis listener re-subscribed after an outage): a single-request subscription
   gets a fresh SNAPSHOT, so no final state is missed; the others get a SNAPSHOT (REMOVED when
   cancelled or deleted) of each request in their scope changed since the outage began.
5. A single-request subscription completes after its REMOVED event (nothing follows it).
   Losing sight of the narrowed district or request (link removed) ends the operation with a
   NOT_FOUND error; an unnarrowed one just stops receiving that district's events.

Close codes (the whole WebSocket is closed; the reason says why):
- 4403 "Forbidden": the connection's token stopped being valid (revoked, expired, account off).
- 1013 "Try Again Later" (`CLOSE_TOO_SLOW`): a subscription fell `ws_subscriber_queue` events
  behind (progress coalesced) and would have lost a status change. Reconnect and subscribe again:
  the SNAPSHOT brings the state back.
- 1012 "Service Restart" (`CLOSE_SHUTTING_DOWN`): the process is stopping (its bus closed).
Protocol codes of graphql-transport-ws (4400, 4401, 4406, 4408, 4409, 4429) come from the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.websockets import WebSocket
from tortoise.expressions import Q

from models.access import Actor
from models.enums import ErrorCode, EventType, UpdateStatus
from models.events import ProgressReport, UpdateRequestChanged
from models.tables import District, UpdateRequest, utcnow
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError
from resolvers.ids import decode_id_of
from updatedesk.bus import EventBus, Gap, SubscriberOverflow
from updatedesk.live import app_bus
from updatedesk.metrics import OPEN_SUBSCRIPTIONS
from updatedesk.settings import Settings, get_settings

logger = logging.getLogger("updatedesk.subscriptions")

CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 1013
CLOSE_SHUTTING_DOWN = 1012
REASON_TOO_SLOW = "Too slow: events arrived faster than this connection read them. Subscribe again."
REASON_SHUTTING_DOWN = "Server restarting: reconnect and subscribe again."
#: After a bus gap, requests changed this long before the gap began are resent too (clock skew
#: between the processes that stamp `updated_at`), at most RESYNC_LIMIT of them.
RESYNC_MARGIN = timedelta(seconds=5)
RESYNC_LIMIT = 500


@dataclass(frozen=True)
class LiveEvent:
    """One event for the subscriber: the request as it now is."""

    type: EventType
    row: UpdateRequest
    progress: ProgressReport | None
    at: datetime


@dataclass(frozen=True)
class EventScope:
    """What one subscription asked for (primary keys, already checked against the caller)."""

    district_id: int | None = None
    request_id: int | None = None

    @property
    def narrowed(self) -> bool:
        return self.district_id is not None or self.request_id is not None

    def matches(self, event: UpdateRequestChanged) -> bool:
        if self.request_id is not None and event.update_request_id != self.request_id:
            return False
        return self.district_id is None or event.district_id == self.district_id


def _request_not_found() -> PublicError:
    return PublicError(ErrorCode.NOT_FOUND, "No update request with that id.", "updateRequestId")


def _district_not_found() -> PublicError:
    return PublicError(ErrorCode.NOT_FOUND, "No district with that id.", "districtId")


def _settings_of(context: GraphQLContext) -> Settings:
    app = context.request.scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


def _bus_of(context: GraphQLContext) -> EventBus:
    app = context.request.scope.get("app")
    bus = app_bus(app) if app is not None else None
    if bus is None:
        raise PublicError("UNAVAILABLE", "Live events are not available on this server.")
    return bus


async def close_connection(context: GraphQLContext, code: int, reason: str) -> None:
    """Close the subscriber's WebSocket and park until the handler cancels this operation (it
    does once the socket is gone); returning would make it send on a closed socket."""
    websocket = context.request
    if not isinstance(websocket, WebSocket):
        raise PublicError(ErrorCode.UNAUTHENTICATED if code == CLOSE_FORBIDDEN else "UNAVAILABLE", reason)
    with contextlib.suppress(RuntimeError):  # already closed by another operation
        await websocket.close(code=code, reason=reason)
    await asyncio.Future()


class AccessCheck:
    """The subscriber's current access: re-authenticates the connection's token at most every
    `interval` seconds (the token may be revoked, the district links changed meanwhile)."""

    def __init__(self, context: GraphQLContext, interval: float) -> None:
        self.context = context
        self.interval = interval
        self._checked_at = float("-inf")

    async def actor(self, *, force: bool = False) -> Actor:
        now = time.monotonic()
        if force or now - self._checked_at >= self.interval:
            checked_at, probe = await _shared_sign_in(self.context, self.interval, force)
            for name in _AUTH_STATE:
                if hasattr(probe, name):
                    setattr(self.context, name, getattr(probe, name))
            self.context.renew_loaders()
            if self.context.auth is None:
                error = self.context.auth_error
                reason = error.message if error is not None else "The token is no longer valid."
                await close_connection(self.context, CLOSE_FORBIDDEN, reason)
            # The time of the lookup, not of its reuse: a revoked token is still noticed within
            # `interval` of the revocation.
            self._checked_at = checked_at
        return self.context.actor


#: What a sign-in sets on a context (copied from the shared probe to each subscriber's context).
_AUTH_STATE = ("auth", "auth_error", "auth_fault")
#: Re-checks of one token shared by every subscription of this process using it, for at most the
#: re-check interval: one event to N subscribers of one token costs one lookup, not N (bench:
#: re-authentication was 70% of the time of a fan-out). Keyed by the Authorization value.
_sign_ins: dict[str, tuple[float, asyncio.Future[GraphQLContext]]] = {}
_SIGN_IN_CACHE_LIMIT = 4096


def _authorization_of(params: Any) -> str:
    if isinstance(params, Mapping):
        for key, value in params.items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                return value
    return ""


async def _shared_sign_in(
    context: GraphQLContext, interval: float, force: bool
) -> tuple[float, GraphQLContext]:
    """(when the lookup ran, a context signed in with the connection's token): a lookup of the
    same token started less than `interval` ago on this loop is reused; `force` starts a new one."""
    key = _authorization_of(context.connection_params)
    now = time.monotonic()
    entry = _sign_ins.get(key)
    loop = asyncio.get_running_loop()
    if force or entry is None or now - entry[0] >= interval or entry[1].get_loop() is not loop:
        probe = GraphQLContext(context.request, context.response)

        async def sign_in() -> GraphQLContext:
            await probe.sign_in_with_params(context.connection_params)
            return probe

        entry = (now, asyncio.ensure_future(sign_in()))
        if len(_sign_ins) >= _SIGN_IN_CACHE_LIMIT:
            for stale in [k for k, (at, _) in _sign_ins.items() if now - at >= interval]:
                del _sign_ins[stale]
        _sign_ins[key] = entry
    checked_at, task = entry
    # shield: one subscriber going away must not cancel the lookup the others wait for.
    return checked_at, await asyncio.shield(task)


async def resolve_scope(actor: Actor, district_id: str | None, update_request_id: str | None) -> EventScope:
    """The subscription's arguments as primary keys; foreign and missing ids are both NOT_FOUND."""
    district_pk = None
    if district_id is not None:
        district_pk = decode_id_of(district_id, "District")
        if (
            district_pk is None
            or not actor.can_see(district_pk)
            or not await District.filter(id=district_pk).exists()
        ):
            raise _district_not_found()
    request_pk = None
    if update_request_id is not None:
        request_pk = decode_id_of(update_request_id, "UpdateRequest")
        row = await UpdateRequest.get_or_none(id=request_pk) if request_pk is not None else None
        if (
            row is None
            or row.deleted_at is not None
            or not actor.can_see(row.district_id)
            or (district_pk is not None and row.district_id != district_pk)
        ):
            raise _request_not_found()
    return EventScope(district_pk, request_pk)


async def open_update_request_events(
    context: GraphQLContext, district_id: str | None, update_request_id: str | None
) -> AsyncGenerator[LiveEvent, None]:
    """Check the caller and the arguments now (errors become the operation's first message), then
    hand back the stream."""
    context.require_auth()
    settings = _settings_of(context)
    bus = _bus_of(context)
    access = AccessCheck(context, settings.ws_auth_recheck_seconds)
    actor = await access.actor(force=True)
    scope = await resolve_scope(actor, district_id, update_request_id)
    return _stream(context, bus, scope, access, settings.ws_subscriber_queue)


async def _load_visible(actor: Actor, request_id: int) -> UpdateRequest | None:
    """The request as it now is, deleted and cancelled rows included, if the actor sees it."""
    row = await UpdateRequest.get_or_none(id=request_id)
    return row if row is not None and actor.can_see(row.district_id) else None


#: The request row read after one bus event, shared by every subscriber that event reaches (the
#: same event object is fanned out to all of them): one statement per event, not one per
#: subscriber (bench: the per-subscriber reads were a third of a fan-out's time). Visibility is
#: still decided per subscriber. A few recent events are kept, each for a short while.
_event_rows: dict[UpdateRequestChanged, tuple[float, asyncio.Future[UpdateRequest | None]]] = {}
_EVENT_ROWS_LIMIT = 256
_EVENT_ROW_SECONDS = 1.0


async def _load_for_event(actor: Actor, event: UpdateRequestChanged) -> UpdateRequest | None:
    now = time.monotonic()
    entry = _event_rows.get(event)
    if (
        entry is None
        or now - entry[0] > _EVENT_ROW_SECONDS
        or entry[1].get_loop() is not asyncio.get_running_loop()
    ):
        entry = (now, asyncio.ensure_future(UpdateRequest.get_or_none(id=event.update_request_id)))
        _event_rows[event] = entry
        while len(_event_rows) > _EVENT_ROWS_LIMIT:
            del _event_rows[next(iter(_event_rows))]
    row = await asyncio.shield(entry[1])
    return row if row is not None and actor.can_see(row.district_id) else None


def _stored_progress(row: UpdateRequest) -> ProgressReport | None:
    if row.progress_at is None or row.progress_percent is None:
        return None
    return ProgressReport(
        row.progress_percent, row.progress_step or "", row.progress_message, row.progress_at
    )


async def _stream(
    context: GraphQLContext, bus: EventBus, scope: EventScope, access: AccessCheck, max_queued: int
) -> AsyncGenerator[LiveEvent, None]:
    subscription = bus.subscribe(max_queued, overflow="close")  # first: then the snapshot
    OPEN_SUBSCRIPTIONS.inc()
    try:
        if scope.request_id is not None:
            snapshot = await _snapshot(context, access, scope.request_id)
            yield snapshot
            if snapshot.type is EventType.REMOVED:
                return
        while True:
            try:
                item = await subscription.next_item()
            except SubscriberOverflow:
                logger.warning("subscription closed: the subscriber did not keep up (%s queued)", max_queued)
                await close_connection(context, CLOSE_TOO_SLOW, REASON_TOO_SLOW)
                return
            except StopAsyncIteration:
                await close_connection(context, CLOSE_SHUTTING_DOWN, REASON_SHUTTING_DOWN)
                return
            if isinstance(item, Gap):
                if scope.request_id is not None:
                    snapshot = await _snapshot(context, access, scope.request_id)
                    yield snapshot
                    if snapshot.type is EventType.REMOVED:
                        return
                elif item.since is not None:
                    async for event in _changed_since(context, access, scope, item.since):
                        yield event
                continue
            if not scope.matches(item):
                continue
            actor = await access.actor()
            visible = actor.can_see(item.district_id)
            row = await _load_for_event(actor, item) if visible else None
            if row is None:
                if scope.request_id is not None:
                    raise _request_not_found()
                if scope.district_id is not None:
                    raise _district_not_found()
                continue
            context.renew_loaders()
            yield LiveEvent(item.type, row, item.progress or _stored_progress(row), item.at)
            if scope.request_id is not None and item.type is EventType.REMOVED:
                return
    finally:
        OPEN_SUBSCRIPTIONS.dec()
        subscription.close()


async def _changed_since(
    context: GraphQLContext, access: AccessCheck, scope: EventScope, since: datetime
) -> AsyncGenerator[LiveEvent, None]:
    """After a gap: a SNAPSHOT (REMOVED when cancelled or deleted) of every visible request in
    scope that changed since the gap began, oldest change first, at most RESYNC_LIMIT."""
    actor = await access.actor(force=True)
    if scope.district_id is not None and not actor.can_see(scope.district_id):
        raise _district_not_found()
    start = since - RESYNC_MARGIN
    query = UpdateRequest.filter(Q(updated_at__gte=start) | Q(deleted_at__gte=start))
    if actor.district_ids is not None:
        query = query.filter(district_id__in=list(actor.district_ids))
    if scope.district_id is not None:
        query = query.filter(district_id=scope.district_id)
    taken = utcnow()
    for row in await query.order_by("updated_at", "id").limit(RESYNC_LIMIT):
        removed = row.deleted_at is not None or row.status is UpdateStatus.CANCELLED
        context.renew_loaders()
        kind = EventType.REMOVED if removed else EventType.SNAPSHOT
        yield LiveEvent(kind, row, _stored_progress(row), taken)


async def _snapshot(context: GraphQLContext, access: AccessCheck, request_id: int) -> LiveEvent:
    actor = await access.actor(force=True)
    row = await _load_visible(actor, request_id)
    if row is None:
        raise _request_not_found()
    context.renew_loaders()
    kind = EventType.REMOVED if row.deleted_at is not None else EventType.SNAPSHOT
    return LiveEvent(kind, row, _stored_progress(row), utcnow())
