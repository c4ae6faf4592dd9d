"""The live hub of one API process: it reads the event stream once (as a listener of the bus)
and serves every subscription of the process from it, rendering each event once per render
group (`groups`). The app creates one per bus and hands it to every GraphQL context. It also
watches the tokens of the process's open sockets (`sockets`), so ending access ends them even
when nothing flows on them.

Joining, leaving and each batch of records are serialised by one lock, so a subscription that
joins at stream position P receives every record after P live, and its catch-up (SNAPSHOT or the
missed records, `catchup`) covers what came up to P: no gap and no duplicate at the switch-over.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import OrderedDict, defaultdict

from infra.bus import STREAM_START, EventBus, EventRecord, EventStream, Gap
from infra.bus.records import id_key
from infra.metrics import OPEN_SUBSCRIPTIONS
from models.access import Actor
from models.events import UpdateRequestChanged
from resolvers.live.dispatch import deliver_records, log_failure, resynchronise, undelivered
from resolvers.live.events import LiveEvent
from resolvers.live.groups import GroupKey, LiveSlot, Member, RenderGroup, Visibility
from resolvers.live.lookups import SharedLookups
from resolvers.live.scope import EventScope
from resolvers.live.sockets import SocketWatch

logger = logging.getLogger("updatedesk.subscriptions")

#: Distinct tokens whose re-check a hub remembers.
SIGN_IN_CACHE_LIMIT = 4096
#: Rendered payloads a hub keeps per (group, record), for subscribers catching up.
RENDER_CACHE_SIZE = 10_000


class LiveHub:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        #: Re-checks of a connection's token, keyed by its Authorization value.
        self.sign_ins: SharedLookups[str, object] = SharedLookups(SIGN_IN_CACHE_LIMIT)
        self.groups: dict[GroupKey, RenderGroup] = {}
        self._by_district: defaultdict[int, set[RenderGroup]] = defaultdict(set)
        self._unscoped: set[RenderGroup] = set()
        self._renders: OrderedDict[tuple[GroupKey, str], str] = OrderedDict()
        self.lock = asyncio.Lock()
        #: The last record whose frames were handed to the subscriptions.
        self.position = bus.follow_state.position or STREAM_START
        #: Renders done (for tests and the benchmark: once per group and event).
        self.renders = 0
        #: Signed-in sockets, closed within a second of their token or account being switched off.
        self.sockets = SocketWatch()

    async def close(self) -> None:
        """The process is stopping: stop watching sockets."""
        await self.sockets.close()

    @property
    def stream(self) -> EventStream:
        return self.bus.stream

    @property
    def member_count(self) -> int:
        return sum(len(group) for group in self.groups.values())

    # ------------------------------------------------------------------ membership

    async def join(self, slot: LiveSlot, scope: EventScope, actor: Actor) -> tuple[Member, str]:
        """Add the subscription to its render group; (member, the position it joined at)."""
        async with self.lock:
            member = self._add(slot, scope, slot.connection.visibility(actor, slot.document.per_account))
            OPEN_SUBSCRIPTIONS.inc()
            # The records up to where the reader began never come live (it began late when Redis
            # was unreachable as the process started): the catch-up covers them.
            start = self.bus.follow_state.start
            if start is not None and id_key(start) > id_key(self.position):
                self.position = start
            return member, self.position

    def _add(
        self, slot: LiveSlot, scope: EventScope, visibility: Visibility, member: Member | None = None
    ) -> Member:
        document = slot.document
        key = GroupKey(document.key, document.variables_key, visibility)
        group = self.groups.get(key)
        if group is None:
            context = copy.copy(slot.connection.context)
            context.renew_loaders()
            group = RenderGroup(key, scope, document, document.prepare(context), context=context)
            group.checked_at = slot.connection.access.checked_at
            group.due_at = float("inf")
            self.groups[key] = group
            if scope.district_id is None:
                self._unscoped.add(group)
            else:
                self._by_district[scope.district_id].add(group)
        if member is None:
            member = Member(slot, group, None)
        else:
            member.group = group
        group.members[member] = None
        group.note_due(slot.connection.access)
        return member

    def leave(self, member: Member) -> None:
        """Take the subscription out (its socket closed, the client completed it, or it ended)."""
        if member.ended:
            return
        member.ended = True
        OPEN_SUBSCRIPTIONS.dec()
        self._remove(member)
        if member.task is not None and member.task is not asyncio.current_task():
            member.task.cancel()

    def _remove(self, member: Member) -> None:
        group = member.group
        group.members.pop(member, None)
        if not group.members and self.groups.get(group.key) is group:
            del self.groups[group.key]
            district = group.scope.district_id
            if district is None:
                self._unscoped.discard(group)
            else:
                self._by_district[district].discard(group)
                if not self._by_district[district]:
                    del self._by_district[district]

    def regroup(self, member: Member, visibility: Visibility) -> None:
        """Move a subscription whose caller's access changed into the group it now belongs to."""
        self._remove(member)
        self._add(member.slot, member.group.scope, visibility, member)
        member.forget_unseen(visibility)

    def end(self, member: Member, *frames: str) -> None:
        """Send the subscription's last `frames` and `complete`, and take it out."""
        if member.gone:
            return
        if member.catching_up:
            # Ended before what it was owed went out: its catch-up stops, and the live frames
            # waiting behind it (they would follow a gap) give way to the end, sent now.
            member.buffer = []
            member.catching_up = False
        for text in (*frames, member.complete_frame()):
            member.send(text)
        self.leave(member)
        member.slot.on_end()

    def candidates(self, event: UpdateRequestChanged) -> list[RenderGroup]:
        """The groups whose scope takes `event` (visibility is checked by the caller)."""
        groups = [group for group in self._unscoped]
        for group in self._by_district.get(event.district_id, ()):
            if group.scope.matches(event):
                groups.append(group)
        return groups

    # ------------------------------------------------------------------ rendering

    def render_now(self, group: RenderGroup, event: LiveEvent, record_id: str | None = None) -> str | None:
        """The group's payload for `event` when it is rendered already or renders without waiting
        (the plain way); None when only `render` can make it."""
        key = (group.key, record_id) if record_id is not None else None
        if key is not None:
            cached = self._renders.get(key)
            if cached is not None:
                return cached
        payload = group.prepared.render_now(event)
        if payload is not None:
            self._rendered(key, payload)
        return payload

    async def render(self, group: RenderGroup, event: LiveEvent, record_id: str | None = None) -> str:
        """The group's payload for `event`, rendered once (per record, when `record_id` is given)."""
        payload = self.render_now(group, event, record_id)
        if payload is None:
            payload = await group.prepared.render(event)
            self._rendered((group.key, record_id) if record_id is not None else None, payload)
        return payload

    def _rendered(self, key: tuple[GroupKey, str] | None, payload: str) -> None:
        self.renders += 1
        if key is not None:
            self._renders[key] = payload
            while len(self._renders) > RENDER_CACHE_SIZE:
                self._renders.popitem(last=False)

    # ------------------------------------------------------------------ the bus listener

    async def on_records(self, records: list[EventRecord]) -> None:
        async with self.lock:
            try:
                await deliver_records(self, records)
            except Exception as error:
                log_failure(logger, error, "live events: %d records could not be delivered", len(records))
                undelivered(self, records)
            self.position = records[-1].id

    async def on_gap(self, gap: Gap) -> None:
        async with self.lock:
            try:
                await resynchronise(self, gap)
            except Exception as error:
                log_failure(logger, error, "live events: subscriptions could not be resynchronised")
                undelivered(self, None)
