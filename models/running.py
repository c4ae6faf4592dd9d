"""How the queue runs work safely, as plain values: what the domain needs to know of the deployment
(expected duration of window-bound work, lease length, attempts, where staff alerts go) and the
small rules on them. The domain never reads settings: the caller (API, scheduler, worker, embedded
runtime) builds a `RunPolicy` from its settings and passes it in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from models.enums import EnvironmentKind, UpdateKind, UpdateStatus

#: How long window-bound work is expected to take (UPDATEDESK_EXPECTED_MINUTES).
DEFAULT_EXPECTED_MINUTES = 60.0
#: Length of a lease (UPDATEDESK_LEASE_SECONDS): a dispatched job must begin within it, and a
#: running job renews it well before it lapses.
DEFAULT_LEASE_SECONDS = 60.0
#: Jobs that begin a request and then lose it, before the request is given up (UPDATEDESK_STEP_ATTEMPTS).
DEFAULT_ATTEMPTS = 3
#: A running job renews its lease every third of it: two renewals can fail before it lapses.
RENEW_FRACTION = 1 / 3
#: A job that never began (waiting behind a backlog, or lost) is enqueued again with twice the time
#: to begin each time, up to 2**this leases, so a long queue is not flooded with copies.
MAX_BEGIN_DOUBLINGS = 4
#: Statuses in which a request holds its environment (one job per environment) and a lease.
RUNNING_STATUSES = frozenset({UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS})
#: Moves after which a dispatch pass may find work, and what they signal: a request was scheduled
#: (it may be due now), or one stopped running (the sites it held are free for a waiting one).
DISPATCH_WAKES: dict[UpdateStatus, str] = {
    UpdateStatus.SCHEDULED: "scheduled",
    UpdateStatus.COMPLETED: "freed",
    UpdateStatus.UNABLE_TO_COMPLETE: "freed",
}


@dataclass(frozen=True)
class RunPolicy:
    expected_duration: timedelta = timedelta(minutes=DEFAULT_EXPECTED_MINUTES)
    lease: timedelta = timedelta(seconds=DEFAULT_LEASE_SECONDS)
    attempts: int = DEFAULT_ATTEMPTS
    #: Where staff alerts are mailed; None: they are only logged and counted.
    staff_alert_email: str | None = None

    @property
    def renew_every_seconds(self) -> float:
        return self.lease.total_seconds() * RENEW_FRACTION

    def begin_within(self, reclaims: int) -> timedelta:
        """Time a (re-)enqueued job has to begin, after `reclaims` lapses without a begin."""
        return self.lease * (2 ** min(max(reclaims, 0), MAX_BEGIN_DOUBLINGS))


DEFAULT_POLICY = RunPolicy()


def new_lease_token() -> str:
    """Names one job's hold on a request; a job whose token is gone from the row has lost it."""
    return uuid.uuid4().hex


def claimed_kinds(kind: UpdateKind, environment: EnvironmentKind) -> tuple[EnvironmentKind, ...]:
    """The environments a request holds while it runs, in the order they are claimed.

    Its own environment; a database refresh also holds production, which it copies: production is
    then never version-updated while it is copied, and is never copied half-updated. Production
    comes first, so every transaction takes rows in the same order.
    """
    if kind is UpdateKind.DATABASE_REFRESH and environment is not EnvironmentKind.PRODUCTION:
        return (EnvironmentKind.PRODUCTION, environment)
    return (environment,)


def blocker_of(holders: list[int | None]) -> int | None:
    """The request that keeps a due one from starting: the first holder of an environment it
    needs (`holders` in `claimed_kinds` order). That may be the request itself: a due request is
    not running, so a hold of its own is a job of its earlier run that has not stopped yet."""
    for holder in holders:
        if holder is not None:
            return holder
    return None
