"""Render groups: the subscriptions of a process that see the same bytes for an event.

A group is one (document, variables that shape the answer, visibility class). The visibility
class is what the answer may depend on about the caller: role and districts, and the account
itself only when the document reads a per-account field (`LiveDocument.per_account`). So a
district contact and a hosting-staff member with the same document are in different groups and
see different events; two contacts of the same districts share one rendering.

`Member` is one subscription (an operation of one socket) in its group.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from infra.bus import EventStream
from models.access import Actor, Mover
from models.enums import Role
from models.events import UpdateRequestChanged
from resolvers.context import GraphQLContext
from resolvers.live.access import AccessCheck
from resolvers.live.events import LiveEvent
from resolvers.live.outbox import CLOSE_TOO_SLOW, REASON_TOO_SLOW, FrameKey, Outbox
from resolvers.live.scope import EventScope


class PreparedDocument(Protocol):
    def render_now(self, event: LiveEvent) -> str | None:
        """`render`'s payload when it can be made without waiting; else None."""
        ...

    async def render(self, event: LiveEvent) -> str:
        """The `next` payload of `event` as JSON text (`{"data": ..., "errors": [...]}`)."""
        ...


class LiveDocument(Protocol):
    """A subscription document as the WebSocket handler parsed it (see `updatedesk.live_documents`)."""

    #: Identity of the document text and operation name.
    key: str
    variables: dict[str, Any]
    #: The variables that can change the answer, as canonical JSON (`after` is not one of them).
    variables_key: str
    #: Whether some selected field depends on the account itself, not only role and districts.
    per_account: bool
    #: The `UpdateRequest` fields selected anywhere; None when it cannot be told.
    request_fields: frozenset[str] | None

    def prepare(self, context: GraphQLContext) -> PreparedDocument: ...


@dataclass(frozen=True)
class Visibility:
    mover: Mover
    role: Role | None
    district_ids: frozenset[int] | None
    account_id: int | None = None

    def can_see(self, district_id: int) -> bool:
        return self.district_ids is None or district_id in self.district_ids


#: One instance per visibility class (many sockets share few classes).
_CLASSES: dict[Visibility, Visibility] = {}


def visibility_of(actor: Actor, per_account: bool) -> Visibility:
    visibility = Visibility(
        actor.mover, actor.role, actor.district_ids, actor.account_id if per_account else None
    )
    return _CLASSES.setdefault(visibility, visibility)


@dataclass(frozen=True)
class GroupKey:
    document: str
    variables: str
    visibility: Visibility


class LiveConnection:
    """What the subscriptions of one socket share: its context, outbox and access re-check."""

    __slots__ = ("_visibility", "access", "context", "outbox")

    def __init__(self, context: GraphQLContext, outbox: Outbox, access: AccessCheck) -> None:
        self.context = context
        self.outbox = outbox
        self.access = access
        self._visibility: tuple[Actor, Visibility, Visibility] | None = None

    def visibility(self, actor: Actor, per_account: bool) -> Visibility:
        """The visibility class of `actor` (kept while the re-checks return the same actor)."""
        known = self._visibility
        if known is None or known[0] is not actor:
            known = _classes_of(actor)
            self._visibility = known
        return known[2] if per_account else known[1]


#: The classes of recent actors: the connections of one token share one actor per re-check.
_BY_ACTOR: dict[int, tuple[Actor, Visibility, Visibility]] = {}
_BY_ACTOR_LIMIT = 4096


def _classes_of(actor: Actor) -> tuple[Actor, Visibility, Visibility]:
    known = _BY_ACTOR.get(id(actor))
    if known is None or known[0] is not actor:
        if len(_BY_ACTOR) >= _BY_ACTOR_LIMIT:
            _BY_ACTOR.clear()
        known = (actor, visibility_of(actor, False), visibility_of(actor, True))
        _BY_ACTOR[id(actor)] = known
    return known


@dataclass(slots=True)
class LiveSlot:
    """Handed by the WebSocket handler to the subscription resolver (as the root value): where
    the operation's events go. The resolver sets `member` once the hub has taken it over."""

    operation_id: str
    connection: LiveConnection
    document: LiveDocument
    #: Called when the hub ends the operation (REMOVED, NOT_FOUND): the handler forgets its id.
    on_end: Callable[[], None]
    member: Member | None = None


class Member:
    """One subscription in its render group."""

    __slots__ = (
        "buffer", "catching_up", "connection", "ended", "group", "operation_id", "prefix",
        "skip_through", "slot", "task",
    )  # fmt: skip

    def __init__(self, slot: LiveSlot, group: RenderGroup, skip_through: tuple[int, int] | None) -> None:
        self.slot = slot
        self.connection = slot.connection
        self.operation_id = slot.operation_id
        self.group = group
        self.prefix = '{"id":' + json.dumps(slot.operation_id) + ',"type":"next","payload":'
        #: Until the SNAPSHOT or the missed events are sent, live frames wait here (with the
        #: record each shows, when it shows one, and the district of its request).
        self.catching_up = True
        self.buffer: list[tuple[str, FrameKey | None, bool, tuple[int, int] | None, int | None]] = []
        #: Records up to this id were already delivered (the client's own cursor is ahead).
        self.skip_through = skip_through
        self.ended = False
        #: The catch-up while it runs.
        self.task: asyncio.Task[None] | None = None

    @property
    def gone(self) -> bool:
        return self.ended or self.connection.outbox.closed

    def next_frame(self, payload: str) -> str:
        return self.prefix + payload + "}"

    def deliver(
        self,
        payload: str,
        request_id: int | None = None,
        *,
        progress: bool = False,
        record: tuple[int, int] | None = None,
        district_id: int | None = None,
    ) -> None:
        self.send(
            self.next_frame(payload), request_id, progress=progress, record=record, district_id=district_id
        )

    def send(
        self,
        text: str,
        request_id: int | None = None,
        *,
        progress: bool = False,
        record: tuple[int, int] | None = None,
        district_id: int | None = None,
    ) -> None:
        if self.gone:
            return
        key = (self.operation_id, request_id) if request_id is not None else None
        if self.catching_up:
            self.buffer.append((text, key, progress, record, district_id))
            if len(self.buffer) > self.connection.outbox.limit:
                self.connection.outbox.close(CLOSE_TOO_SLOW, REASON_TOO_SLOW)
            return
        self.connection.outbox.push(text, key, progress=progress)

    def go_live(self, frames: list[str]) -> None:
        """Send the catch-up `frames`, then what came live meanwhile; from now on frames go out."""
        outbox = self.connection.outbox
        for text in frames:
            outbox.push(text)
        for text, key, progress, _, _ in self.buffer:
            outbox.push(text, key, progress=progress)
        self.buffer = []
        self.catching_up = False

    def skip(self, through: tuple[int, int]) -> None:
        """Records up to `through` are shown already (by a SNAPSHOT): none of them is sent, not
        even one that came live while the catch-up ran."""
        self.skip_through = max(self.skip_through or (0, 0), through)
        self.buffer = [entry for entry in self.buffer if entry[3] is None or entry[3] > through]

    def forget_unseen(self, visibility: Visibility) -> None:
        """The caller's access narrowed while the catch-up ran: live frames waiting behind it of a
        district it no longer sees are never sent, as the missed records of that district are not
        (`catchup`). They were rendered while it still saw the district."""
        self.buffer = [entry for entry in self.buffer if entry[4] is None or visibility.can_see(entry[4])]

    def complete_frame(self) -> str:
        return '{"id":' + json.dumps(self.operation_id) + ',"type":"complete"}'


@dataclass(eq=False)
class RenderGroup:
    key: GroupKey
    scope: EventScope
    document: LiveDocument
    prepared: PreparedDocument
    members: dict[Member, None] = field(default_factory=dict)
    #: The context its document renders with (a copy of a member's), and when the sign-in it
    #: holds was checked.
    context: GraphQLContext | None = None
    checked_at: float = float("-inf")
    #: No member's connection is due for a token re-check before this (monotonic seconds); it may
    #: be earlier than the truth (a re-check by another path only delays a connection's due time),
    #: never later: delivery re-checks the group's members only from then on (`note_due`).
    due_at: float = float("-inf")

    @property
    def visibility(self) -> Visibility:
        return self.key.visibility

    def note_due(self, access: AccessCheck) -> None:
        """A member's connection (joining, or re-checked) is due again at its own time."""
        self.due_at = min(self.due_at, access.checked_at + access.interval)

    def recompute_due(self) -> None:
        """After its members were re-checked: the earliest of their due times."""
        self.due_at = min(
            (m.connection.access.checked_at + m.connection.access.interval for m in self.members),
            default=float("inf"),
        )

    def follow_sign_in(self, access: AccessCheck) -> None:
        """A per-account rendering reads the account's own data (its saved Hide Complete), so it
        renders with the newest re-check of its members' sign-in, as the account's queries do."""
        if self.context is None or not self.document.per_account or access.checked_at <= self.checked_at:
            return
        self.context.adopt_sign_in(access.context)
        self.checked_at = access.checked_at

    def __iter__(self) -> Iterator[Member]:
        return iter(list(self.members))

    def __len__(self) -> int:
        return len(self.members)


class HubView(Protocol):
    """What delivery and catch-up use of the hub (`resolvers.live.hub.LiveHub`)."""

    position: str
    groups: dict[GroupKey, RenderGroup]
    #: Held while records are delivered and while subscriptions join or change groups.
    lock: asyncio.Lock

    @property
    def stream(self) -> EventStream: ...

    def candidates(self, event: UpdateRequestChanged) -> list[RenderGroup]: ...

    def render_now(
        self, group: RenderGroup, event: LiveEvent, record_id: str | None = None
    ) -> str | None: ...

    async def render(self, group: RenderGroup, event: LiveEvent, record_id: str | None = None) -> str: ...

    def regroup(self, member: Member, visibility: Visibility) -> None: ...

    def end(self, member: Member, *frames: str) -> None: ...
