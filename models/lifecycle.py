"""The status lifecycle as one table: every allowed move, who may make it, and whether it needs a
message. Any move not in the table is refused with INVALID_TRANSITION."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.enums import REQUESTER_ROLES, ErrorCode, Role, UpdateStatus
from models.errors import DomainError, invalid_transition

S = UpdateStatus


class Mover(StrEnum):
    """Who makes a move: a person in some capacity, or a part of the system."""

    REQUESTER = "REQUESTER"  # a district contact acting for a linked district
    STAFF = "STAFF"  # the hosting team
    DISPATCHER = "DISPATCHER"  # the scheduler, when a scheduled request falls due
    WORKER = "WORKER"  # a worker running the runbook
    SYSTEM = "SYSTEM"  # the domain itself (supersession, automatic sandbox updates)


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


R, ST, D, W, SY = Mover.REQUESTER, Mover.STAFF, Mover.DISPATCHER, Mover.WORKER, Mover.SYSTEM

#: DESIGN §1 "Statuses and who moves them", line by line.
MOVES: tuple[Move, ...] = tuple(
    [
        *_moves((None,), (S.TO_BE_SCHEDULED,), R, ST, SY),
        *_moves((S.TO_BE_SCHEDULED,), (S.SCHEDULED,), ST, SY),
        *_moves((S.SCHEDULED,), (S.NOT_STARTED,), D),
        *_moves((S.NOT_STARTED,), (S.IN_PROGRESS,), W),
        *_moves((S.IN_PROGRESS,), (S.COMPLETED, S.UNABLE_TO_COMPLETE), W),
        *_moves((S.TO_BE_SCHEDULED, S.SCHEDULED), (S.CANCELLED,), R, ST),
        *_moves((S.TO_BE_SCHEDULED, S.SCHEDULED), (S.PENDING_INPUT, S.DEFERRED), ST, message_required=True),
        *_moves((S.PENDING_INPUT,), (S.DEFERRED,), ST),
        *_moves((S.PENDING_INPUT, S.DEFERRED), (S.TO_BE_SCHEDULED, S.SCHEDULED), ST),
        *_moves((S.SCHEDULED,), (S.SCHEDULED,), ST),
        *_moves(
            (S.TO_BE_SCHEDULED, S.SCHEDULED, S.PENDING_INPUT, S.DEFERRED),
            (S.NEW_VERSION_REQUESTED,),
            SY,
        ),
        *_moves((S.NEW_VERSION_REQUESTED,), (S.COMPLETED,), SY),
        *_moves((S.NOT_STARTED, S.IN_PROGRESS), (S.UNABLE_TO_COMPLETE,), ST, message_required=True),
        # A job that cannot even begin (say its environment vanished) fails from NOT_STARTED.
        *_moves((S.NOT_STARTED,), (S.UNABLE_TO_COMPLETE,), W),
        *_moves((S.UNABLE_TO_COMPLETE,), (S.TO_BE_SCHEDULED,), ST),
    ]
)

_TABLE: dict[tuple[UpdateStatus | None, UpdateStatus], Move] = {}
for _move in MOVES:
    key = (_move.source, _move.target)
    if key in _TABLE:  # two lines for one move: merge who may make it
        old = _TABLE[key]
        _TABLE[key] = Move(
            old.source,
            old.target,
            old.movers | _move.movers,
            old.message_required and _move.message_required,
        )
    else:
        _TABLE[key] = _move

#: (source, target, mover) whose move needs a message. Kept per mover: two lines for one move
#: (worker and staff giving up) merge their movers, but only staff must explain.
_NEEDS_MESSAGE = frozenset(
    (move.source, move.target, mover) for move in MOVES if move.message_required for mover in move.movers
)

#: Statuses a requester may cancel from (the seed: "To Be Scheduled or Scheduled").
CANCELLABLE_STATUSES = frozenset(
    move.source for move in MOVES if move.target is S.CANCELLED and move.source is not None
)
#: Statuses staff may move to with setUpdateRequestStatus.
STAFF_TARGETS = frozenset(move.target for move in MOVES if Mover.STAFF in move.movers)


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


def mover_for_role(role: Role) -> Mover | None:
    """The capacity in which an account acts; VIEWER acts in none."""
    if role is Role.HOSTING_STAFF:
        return Mover.STAFF
    if role in REQUESTER_ROLES:
        return Mover.REQUESTER
    return None


def allowed_targets(source: UpdateStatus, mover: Mover) -> list[UpdateStatus]:
    return [move.target for move in MOVES if move.source is source and mover in move.movers]
