"""The rules of group rollouts as plain functions: input limits, which refusals skip a district
instead of failing the rollout, waves, the error budget, what staff may do from which status, and
the rolled-up status."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from models.enums import OPEN_STATUSES, EnvironmentKind, ErrorCode, RolloutStatus, UpdateStatus
from models.errors import DomainError

R = RolloutStatus

#: The contract's defaults (GroupRolloutInput): five districts at once, one failure tolerated.
DEFAULT_WAVE_SIZE = 5
DEFAULT_MAX_FAILURES = 1
#: Upper bounds of the input; a state has a few hundred districts at most.
MAX_WAVE_SIZE = 1000
MAX_FAILURES_LIMIT = 1000

#: Refusals of one district's request that mean "this district cannot or need not take part":
#: already on the version (or newer), already asking for it (or newer), missing that environment.
SKIP_CODES = frozenset(
    {ErrorCode.VERSION_NOT_NEWER, ErrorCode.DUPLICATE_REQUEST, ErrorCode.ENVIRONMENT_UNAVAILABLE}
)

#: A rollout's requests that count against its wave: started and not finished.
IN_FLIGHT = frozenset({UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS})
#: Requests that have not started and wait in the queue: held when the rollout halts, cancelled
#: when it is cancelled.
QUEUED = frozenset({UpdateStatus.TO_BE_SCHEDULED, UpdateStatus.SCHEDULED})
#: A rollout's requests not finished: open ones, and those waiting under a newer request
#: (NEW_VERSION_REQUESTED). A superseded district is not on the rollout's version until the newer
#: request completes (then its request completes with it), and comes back to the queue if the
#: newer one is cancelled: the rollout has not completed while any of its requests waits so.
UNFINISHED = OPEN_STATUSES | {UpdateStatus.NEW_VERSION_REQUESTED}
#: Requests set aside (a halt, or staff): resuming a halted rollout brings PENDING_INPUT ones back,
#: cancelling the rollout cancels both.
SET_ASIDE = frozenset({UpdateStatus.PENDING_INPUT, UpdateStatus.DEFERRED})


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


#: How each action reads in a refusal ("cannot be paused").
DONE = {Action.PAUSE: "paused", Action.RESUME: "resumed", Action.CANCEL: "cancelled"}

#: From which stored status staff may take each action.
ALLOWED_FROM: dict[Action, frozenset[RolloutStatus]] = {
    Action.PAUSE: frozenset({R.RUNNING}),
    Action.RESUME: frozenset({R.PAUSED, R.HALTED}),
    Action.CANCEL: frozenset({R.RUNNING, R.PAUSED, R.HALTED}),
}


def check_input(environment: EnvironmentKind, wave_size: int, max_failures: int) -> None:
    if environment is EnvironmentKind.SANDBOX:
        raise DomainError(
            ErrorCode.VALIDATION,
            "The sandbox follows production: roll out to production and each sandbox follows.",
            "environment",
        )
    if not 1 <= wave_size <= MAX_WAVE_SIZE:
        raise DomainError(
            ErrorCode.VALIDATION, f"waveSize must be between 1 and {MAX_WAVE_SIZE}.", "waveSize"
        )
    if not 0 <= max_failures <= MAX_FAILURES_LIMIT:
        raise DomainError(
            ErrorCode.VALIDATION, f"maxFailures must be between 0 and {MAX_FAILURES_LIMIT}.", "maxFailures"
        )


def is_skip(error: DomainError) -> bool:
    """Whether a district's refusal skips it (recorded with its code) rather than failing all."""
    return error.code in SKIP_CODES


def wave_has_room(in_flight: int, wave_size: int) -> bool:
    return in_flight < wave_size


def over_budget(failures: int, max_failures: int) -> bool:
    """More failures than the budget allows. `failures` leaves out those staff accepted by resuming
    the rollout (marked on the requests: `UpdateRequest.failure_accepted`)."""
    return failures > max_failures


def may_start(
    stored: RolloutStatus,
    counts: Mapping[UpdateStatus, int],
    wave_size: int,
    max_failures: int,
) -> bool:
    """Whether one more of the rollout's requests may start now. `counts` per status; its
    UNABLE_TO_COMPLETE leaves out the failures staff accepted."""
    in_flight = sum(counts.get(status, 0) for status in IN_FLIGHT)
    failures = counts.get(UpdateStatus.UNABLE_TO_COMPLETE, 0)
    return (
        stored is R.RUNNING
        and wave_has_room(in_flight, wave_size)
        and not over_budget(failures, max_failures)
    )


def rolled_up_status(stored: RolloutStatus, counts: Mapping[UpdateStatus, int]) -> RolloutStatus:
    """HALTED and CANCELLED as staff or the budget left them; a running or paused rollout none of
    whose requests is unfinished any more (all completed, failed or cancelled) is COMPLETED. A
    superseded request is unfinished (`UNFINISHED`), so a rollout never shows COMPLETED and then
    turns back when a newer request is cancelled."""
    if stored in (R.HALTED, R.CANCELLED):
        return stored
    if not any(counts.get(status, 0) for status in UNFINISHED):
        return R.COMPLETED
    return stored


def check_action(action: Action, stored: RolloutStatus, rolled_up: RolloutStatus) -> None:
    """Refuse an action the rollout's status does not allow, in words staff can act on."""
    if rolled_up is R.COMPLETED:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"This rollout has completed; there is nothing to {action}.", "id"
        )
    if stored not in ALLOWED_FROM[action]:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"A rollout that is {stored.value} cannot be {DONE[action]}.", "id"
        )
