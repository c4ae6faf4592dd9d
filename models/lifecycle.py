"""The status lifecycle: the one place that answers "may this actor move this request there?".

The table lists every allowed move, who may make it and whether it needs a message; any move not
in it is refused with INVALID_TRANSITION. Cancelling and deleting are asked here too, by the
domain, by the API's `canCancel` / `canDelete`, and by the tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.access import Actor, Mover
from models.enums import GROUP_CONTACT_ROLES, ErrorCode, UpdateStatus
from models.errors import DomainError, invalid_transition, not_found

S = UpdateStatus
REQUESTER, STAFF, DISPATCHER, WORKER, SYSTEM = (
    Mover.REQUESTER,
    Mover.STAFF,
    Mover.DISPATCHER,
    Mover.WORKER,
    Mover.SYSTEM,
)


@dataclass(frozen=True)
class Move:
    source: UpdateStatus | None  # None: the request is being created
    target: UpdateStatus
    movers: frozenset[Mover]
    message_required: bool = False


def _moves(
    sources: tuple[UpdateStatus | None, ...],
    targets: tuple[UpdateStatus, ...],
    *movers: Mover,
    message_required: bool = False,
) -> list[Move]:
    return [Move(s, t, frozenset(movers), message_required) for s in sources for t in targets]


#: DESIGN §1 "Statuses and who moves them", line by line.
MOVES: tuple[Move, ...] = tuple(
    [
        *_moves((None,), (S.TO_BE_SCHEDULED,), REQUESTER, STAFF, SYSTEM),
        *_moves((S.TO_BE_SCHEDULED,), (S.SCHEDULED,), STAFF, SYSTEM),
        *_moves((S.SCHEDULED,), (S.NOT_STARTED,), DISPATCHER),
        *_moves((S.NOT_STARTED,), (S.IN_PROGRESS,), WORKER),
        *_moves((S.IN_PROGRESS,), (S.COMPLETED, S.UNABLE_TO_COMPLETE), WORKER),
        *_moves((S.TO_BE_SCHEDULED, S.SCHEDULED), (S.CANCELLED,), REQUESTER, STAFF),
        *_moves(
            (S.TO_BE_SCHEDULED, S.SCHEDULED), (S.PENDING_INPUT, S.DEFERRED), STAFF, message_required=True
        ),
        *_moves((S.PENDING_INPUT,), (S.DEFERRED,), STAFF),
        *_moves((S.PENDING_INPUT, S.DEFERRED), (S.TO_BE_SCHEDULED, S.SCHEDULED), STAFF),
        *_moves((S.SCHEDULED,), (S.SCHEDULED,), STAFF),
        *_moves(
            (S.TO_BE_SCHEDULED, S.SCHEDULED, S.PENDING_INPUT, S.DEFERRED),
            (S.NEW_VERSION_REQUESTED,),
            SYSTEM,
        ),
        *_moves((S.NEW_VERSION_REQUESTED,), (S.COMPLETED,), SYSTEM),
        # The newer request was cancelled (system), or staff take one back into the queue.
        *_moves((S.NEW_VERSION_REQUESTED,), (S.TO_BE_SCHEDULED,), SYSTEM, STAFF),
        # Cannot start now (window, blackout): the system moves it to the next start that fits.
        *_moves((S.SCHEDULED, S.NOT_STARTED), (S.SCHEDULED,), SYSTEM),
        # Already on the target version or newer when picked up: completed without running.
        *_moves((S.NOT_STARTED,), (S.COMPLETED,), SYSTEM),
        *_moves((S.NOT_STARTED, S.IN_PROGRESS), (S.UNABLE_TO_COMPLETE,), STAFF, message_required=True),
        # Lease lapsed and attempts spent.
        *_moves((S.NOT_STARTED, S.IN_PROGRESS), (S.UNABLE_TO_COMPLETE,), SYSTEM),
        # A job that cannot even begin (say its environment vanished) fails from NOT_STARTED.
        *_moves((S.NOT_STARTED,), (S.UNABLE_TO_COMPLETE,), WORKER),
        *_moves((S.UNABLE_TO_COMPLETE,), (S.TO_BE_SCHEDULED,), STAFF),
    ]
)


def _merged_table(moves: tuple[Move, ...]) -> dict[tuple[UpdateStatus | None, UpdateStatus], Move]:
    """One entry per (source, target): two lines for one move merge who may make it."""
    table: dict[tuple[UpdateStatus | None, UpdateStatus], Move] = {}
    for move in moves:
        key = (move.source, move.target)
        old = table.get(key)
        table[key] = (
            move
            if old is None
            else Move(
                old.source,
                old.target,
                old.movers | move.movers,
                old.message_required and move.message_required,
            )
        )
    return table


_TABLE = _merged_table(MOVES)

#: (source, target, mover) whose move needs a message. Kept per mover: two lines for one move
#: (worker and staff giving up) merge their movers, but only staff must explain.
_NEEDS_MESSAGE = frozenset(
    (move.source, move.target, mover) for move in MOVES if move.message_required for mover in move.movers
)

#: Statuses a request may be cancelled from (the seed: "To Be Scheduled or Scheduled").
CANCELLABLE_STATUSES = frozenset(
    move.source for move in MOVES if move.target is S.CANCELLED and move.source is not None
)
#: Statuses a request may be deleted (hidden from lists) in: only finished work.
DELETABLE_STATUSES = frozenset({S.COMPLETED})


def find_move(source: UpdateStatus | None, target: UpdateStatus) -> Move | None:
    return _TABLE.get((source, target))


def is_allowed(source: UpdateStatus | None, target: UpdateStatus, mover: Mover) -> bool:
    move = find_move(source, target)
    return move is not None and mover in move.movers


def check_move(
    source: UpdateStatus | None,
    target: UpdateStatus,
    mover: Mover,
    message: str | None = None,
) -> Move:
    """Return the move if `mover` may make it, else raise the refusal a person can act on."""
    move = find_move(source, target)
    if move is None:
        raise invalid_transition(source.value if source else "(new)", target.value)
    if mover not in move.movers:
        if mover is Mover.REQUESTER and Mover.STAFF in move.movers:
            raise DomainError(ErrorCode.FORBIDDEN, "Only the hosting team can make this change.", "status")
        raise invalid_transition(source.value if source else "(new)", target.value)
    if (source, target, mover) in _NEEDS_MESSAGE and not (message and message.strip()):
        raise DomainError(
            ErrorCode.VALIDATION,
            f"Moving a request to {target.value} needs a message for the district.",
            "message",
        )
    return move


def allowed_targets(source: UpdateStatus, mover: Mover) -> list[UpdateStatus]:
    return [move.target for move in MOVES if move.source is source and mover in move.movers]


# --------------------------------------------------------------------------- cancel and delete


class RequestState(Protocol):
    """What the cancel and delete rules look at (an `UpdateRequest` row has all of it)."""

    @property
    def status(self) -> UpdateStatus: ...

    @property
    def deleted_at(self) -> datetime | None: ...

    @property
    def district_id(self) -> int: ...

    @property
    def automatic(self) -> bool: ...

    @property
    def rollout_id(self) -> int | None: ...


def _unseen(actor: Actor, request: RequestState) -> bool:
    return request.deleted_at is not None or not actor.can_see(request.district_id)


@dataclass(frozen=True)
class CancelRight:
    """Requests that district contacts may not cancel on their own: `applies` picks them out,
    `may_cancel` says who still may (staff always may), `refusal` tells the others why."""

    applies: Callable[[RequestState], bool]
    #: (actor, request, whether the request's district is in its rollout's group now)
    may_cancel: Callable[[Actor, RequestState, bool], bool]
    refusal: str


def _staff_only(actor: Actor, request: RequestState, in_rollout_group: bool) -> bool:
    return actor.is_staff


def _group_contact(actor: Actor, request: RequestState, in_rollout_group: bool) -> bool:
    """A contact of the rollout's group for this district: a state or consortium contact linked to
    it, while the district is still in that group. One that has left the group has no contact of
    it any more: such a contact no longer sees the rollout (models.rollouts.visibility), so it
    must not withdraw the rollout's work either."""
    return in_rollout_group and actor.role in GROUP_CONTACT_ROLES and actor.can_see(request.district_id)


#: DESIGN §1 "People and access": the automatic sandbox update is cancelled by staff only; a group
#: rollout's requests by staff and by the group's contacts, never by a district's technical
#: contact (nor a partner or ESA) alone.
CANCEL_RIGHTS: tuple[CancelRight, ...] = (
    CancelRight(
        applies=lambda request: request.automatic,
        may_cancel=_staff_only,
        refusal="The sandbox follows production: its automatic update can only be cancelled by "
        "the hosting team. Contact them if it must not run.",
    ),
    CancelRight(
        applies=lambda request: request.rollout_id is not None,
        may_cancel=_group_contact,
        refusal="This update is part of a group rollout of your state or consortium: it can be "
        "cancelled by the hosting team or the group's contact. Ask them if it must not run.",
    ),
)


def district_in_rollout_group(district_group_id: int | None, rollout_group_id: int | None) -> bool:
    """Whether a district (its update group now) is in the group a rollout was for."""
    return rollout_group_id is not None and district_group_id == rollout_group_id


def cancel_refusal(
    actor: Actor, request: RequestState, *, in_rollout_group: bool = False
) -> DomainError | None:
    """Why `actor` may not cancel `request` now, or None when it may. `in_rollout_group`: the
    request's district is in the group of the rollout the request is part of (see
    `district_in_rollout_group`); without it a rollout's request is left to staff."""
    if actor.is_viewer:
        return DomainError(ErrorCode.FORBIDDEN, "Viewers can look at requests but not change them.")
    if _unseen(actor, request):
        return not_found("update request")
    for right in CANCEL_RIGHTS:
        allowed = actor.is_staff or right.may_cancel(actor, request, in_rollout_group)
        if right.applies(request) and not allowed:
            return DomainError(ErrorCode.FORBIDDEN, right.refusal, "id")
    if not is_allowed(request.status, S.CANCELLED, actor.mover):
        return DomainError(
            ErrorCode.INVALID_TRANSITION,
            "Only requests that are To Be Scheduled or Scheduled can be cancelled; "
            f"this one is {request.status.value}.",
            "id",
        )
    return None


def delete_refusal(actor: Actor, request: RequestState) -> DomainError | None:
    """Why `actor` may not delete `request` now, or None when it may."""
    if actor.is_viewer:
        return DomainError(ErrorCode.FORBIDDEN, "Viewers can look at requests but not change them.")
    if _unseen(actor, request):
        return not_found("update request")
    if request.status not in DELETABLE_STATUSES:
        return DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"Only completed requests can be deleted; this one is {request.status.value}. "
            "Cancel it instead if it has not started.",
            "id",
        )
    return None


def may_cancel(actor: Actor, request: RequestState, *, in_rollout_group: bool = False) -> bool:
    return cancel_refusal(actor, request, in_rollout_group=in_rollout_group) is None


def may_delete(actor: Actor, request: RequestState) -> bool:
    return delete_refusal(actor, request) is None


def check_cancel(actor: Actor, request: RequestState, *, in_rollout_group: bool = False) -> None:
    refusal = cancel_refusal(actor, request, in_rollout_group=in_rollout_group)
    if refusal is not None:
        raise refusal


def check_delete(actor: Actor, request: RequestState) -> None:
    refusal = delete_refusal(actor, request)
    if refusal is not None:
        raise refusal
