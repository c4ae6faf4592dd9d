"""Leases: nothing stays NOT_STARTED or IN_PROGRESS without someone answering for it.

- Dispatch gives a request a lease with no holder: a job must begin it before the lease lapses.
- A job's `begin` takes the lease with its own token, counting a try in `attempts`
  (models.requests.execution), and renews it while it works (`renew_lease`, from a background task
  of the worker). Its checkpoints, progress and end all require its token: a job whose lease was
  taken over stops without side effects.
- The scheduler finds lapsed leases (`reclaim_lapsed`): the job is enqueued again with a fresh
  lease and no holder, so the next job resumes after the last checkpoint. A request whose lease
  `policy.attempts` jobs took and lost becomes UNABLE_TO_COMPLETE (a system move, from NOT_STARTED
  when every job died before starting it): its site comes back online, the district is told, and
  staff are alerted.

A job that never reached `begin` costs the request nothing: it may only be waiting behind other
work in the queue (a Thursday-night backlog), and failing the request for that would be wrong. It
is enqueued again with twice the time to begin each time (up to a bound; the copies are dropped by
`begin`), and staff are alerted once when it has not begun after `policy.attempts` re-enqueues.
Work that can no longer start (its window closed, a blackout began) is re-slotted at begin, or
by the scheduler when it finds the lease lapsed before any job began it; a version update whose
site already runs its target or newer completes without running there instead, as at begin.

Every lease instant is the database's clock (`models.requests.lease_clock`): machines whose clocks
disagree never see a live job's lease as lapsed, nor a dead one's as live.

Staff giving up work whose job holds a live lease keep its sites held for that job, which may be
inside a step until its next renewal: the job gives them back as it stops (`release_stopped`),
or the scheduler's sweep does once its lease would have lapsed (`release_abandoned`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models import sql
from models.access import SYSTEM
from models.clock import utcnow
from models.enums import UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit, deliver
from models.requests import claims, lease_clock
from models.requests.alerts import describe_for_staff, queue_staff_alert
from models.requests.completion import already_there, complete_without_running
from models.requests.moves import record_move
from models.requests.queries import Site, load_with_site
from models.requests.slots import cannot_start, decision_rules
from models.rollouts import held
from models.running import DEFAULT_POLICY, RUNNING_STATUSES, RunPolicy
from models.tables import Environment, UpdateRequest

#: Lapsed leases handled per query; a scheduler pass handles one batch.
RECLAIM_BATCH = 100
#: A request a job may hold the lease of.
RUNNING = sql.OneOf(tuple(sorted(RUNNING_STATUSES)))


class Reclaim(StrEnum):
    REQUEUED = "REQUEUED"  # enqueue the job again
    RESLOTTED = "RESLOTTED"  # not begun and can no longer start now: moved to its next slot (or set aside)
    COMPLETED = "COMPLETED"  # not begun, can no longer start, already on its target: nothing to run
    GAVE_UP = "GAVE_UP"  # attempts spent: UNABLE_TO_COMPLETE


@dataclass(frozen=True)
class Reclaimed:
    """One lapsed lease this scheduler won, and what became of the request."""

    request_id: int
    outcome: Reclaim
    status: UpdateStatus  # when the lapse was found
    attempts: int
    reclaims: int
    #: A sentence for the hosting team when they must hear of it; None for a routine re-enqueue.
    alert: str | None = None


def _same(name: str, value: Any) -> dict[str, Any]:
    return {f"{name}__isnull": True} if value is None else {name: value}


def _unchanged(row: UpdateRequest) -> dict[str, Any]:
    """Compare-and-set conditions: the lease is still the lapsed one this scheduler read."""
    return {**_same("lease_expires_at", row.lease_expires_at), **_same("lease_token", row.lease_token)}


async def renew_lease(
    request_id: int, token: str, policy: RunPolicy = DEFAULT_POLICY, now: datetime | None = None
) -> bool:
    """Extend the lease of the job holding `token` by one lease from now (the database's clock).
    False: the job lost it (reclaimed by the scheduler, or the request stopped running) and must
    stop without touching anything."""
    updated = await sql.update(
        UpdateRequest,
        {"id": request_id, "lease_token": token, "status": RUNNING},
        lease_expires_at=lease_clock.expiry(policy.lease, now),
    )
    return updated == 1


async def release_lease(
    request_id: int, token: str, now: datetime | None = None, *, hand_back_try: bool = False
) -> bool:
    """A job that stops before the end (its process is shutting down) lets the next one begin at
    once: the lease keeps no holder and lapses now. With `hand_back_try` (the job stopped because
    its process was asked to, not because the work failed) the try its `begin` counted is given
    back: deploys and restarts during long work do not use up its attempts."""
    changes: dict[str, Any] = {"lease_token": None, "lease_expires_at": lease_clock.expiry(timedelta(0), now)}
    if hand_back_try:
        changes["attempts"] = sql.Add(-1)
    updated = await sql.update(
        UpdateRequest, {"id": request_id, "lease_token": token, "status": RUNNING}, **changes
    )
    return updated == 1


async def lease_live(request: UpdateRequest, now: datetime | None = None) -> bool:
    """Whether `request`'s lease (as read) has not lapsed by the database's clock (or at `now`)."""
    if request.lease_expires_at is None:
        return False
    return request.lease_expires_at > await lease_clock.now(now)


async def release_stopped(request_id: int, token: str | None = None) -> bool:
    """A job that stopped gives back the sites its request still holds once it no longer runs
    (staff gave it up while the job was inside a step). Nothing changes for a running request
    (staff tried it again and it was dispatched anew: the claim is its own again), nor while the
    sites are kept for another job of it (`token`: this job's) whose lease is live: this one
    stalled, lost its lease to that one, and woke after staff gave the request up while that one
    was inside a step. Whether this job gave the sites back.

    Decided and released under the request's row lock (before the environments' rows, the order
    of `models.requests.claims`): claims are the request's, not its run's, so a release decided on
    an earlier read would free the claim of a run dispatched since (staff tried it again)."""
    async with in_transaction():
        request = await UpdateRequest.filter(id=request_id).select_for_update().first()
        if request is None or request.status in RUNNING_STATUSES:
            return False
        if token is not None and request.lease_token not in (None, token) and await lease_live(request):
            return False
        await claims.release(request)
    return True


async def release_abandoned(now: datetime | None = None, limit: int = RECLAIM_BATCH) -> list[int]:
    """Sites still held by requests that no longer run and whose job's lease has lapsed (the job
    stopped without giving them back: its process died): back online. The request ids.

    Each is read again under its row lock, then released in that transaction (request row first,
    then the environments', as everywhere): one dispatched anew since the first read (its old job
    stopped, staff tried it again) holds its site for its new run, which must not be freed."""
    held = Environment.filter(running_request_id__isnull=False).values("running_request_id")
    stale = await _abandoned(UpdateRequest.filter(id__in=Subquery(held)), now).limit(limit)
    released: list[int] = []
    for candidate in stale:
        async with in_transaction():
            locked = _abandoned(UpdateRequest.filter(id=candidate.id), now)
            request = await locked.select_for_update().first()
            if request is None:
                continue  # running again, or its lease renewed: not abandoned any more
            await claims.release(request)
        released.append(request.id)
    return released


def _abandoned(requests: QuerySet[UpdateRequest], now: datetime | None) -> QuerySet[UpdateRequest]:
    """Those of `requests` that do not run and whose lease has lapsed (or that have none)."""
    return requests.exclude(status__in=list(RUNNING_STATUSES)).filter(
        Q(lease_expires_at__lte=lease_clock.instant(now)) | Q(lease_expires_at__isnull=True)
    )


async def lapsed(now: datetime | None = None, limit: int = RECLAIM_BATCH) -> list[UpdateRequest]:
    """Running requests whose lease lapsed (or that have none), oldest lapse first."""
    return (
        await UpdateRequest.filter(status__in=list(RUNNING_STATUSES), deleted_at__isnull=True)
        .filter(Q(lease_expires_at__lt=lease_clock.instant(now)) | Q(lease_expires_at__isnull=True))
        .order_by("lease_expires_at", "id")
        .limit(limit)
    )


async def reclaim_lapsed(
    policy: RunPolicy = DEFAULT_POLICY, now: datetime | None = None, limit: int = RECLAIM_BATCH
) -> list[Reclaimed]:
    """One scheduler pass over lapsed leases; each is won by exactly one scheduler (a compare-
    and-set on the lease it read). Returns what this scheduler did; REQUEUED ones must be enqueued.
    Leases are judged by the database's clock (or at `now`, when pinned); `now` or this machine's
    clock dates the moves."""
    pinned, now = now, now or utcnow()
    done: list[Reclaimed] = []
    for row in await lapsed(pinned, limit):
        if row.attempts >= policy.attempts:
            outcome = await _give_up(row, policy, now)
        elif row.status is UpdateStatus.NOT_STARTED and (late := await _reslot_late(row, policy, now)):
            outcome = Reclaimed(row.id, late, row.status, row.attempts, row.reclaims)
        else:
            outcome = await _requeue(row, policy, pinned)
        if outcome is not None:
            done.append(outcome)
    return done


async def _reslot_late(row: UpdateRequest, policy: RunPolicy, now: datetime) -> Reclaim | None:
    """Work no job has begun whose start is no longer allowed (its window closed while the workers
    were down or far behind, a blackout began) is re-slotted (or, in a rollout paused or halted
    since its dispatch, set aside unless staff scheduled it themselves since:
    `models.rollouts.held`) as begin would do it, rather than left Not Started, holding its site,
    until a worker reaches it; and, as at begin, a version update whose site already runs its
    target or newer completes without running instead (a new slot and invitation would be for work
    that never runs). What became of it; None: left to be requeued."""
    loaded = await load_with_site(row.id)
    if loaded is None or loaded[0].status is not UpdateStatus.NOT_STARTED:
        return None
    request, site = loaded
    after = AfterCommit()
    try:
        async with in_transaction():
            rules = await decision_rules(request, site.district, policy, now)  # before any row lock
            if not cannot_start(request, rules, now):
                return None
            if already_there(request, site):
                await complete_without_running(request, site, now, after)
                outcome = Reclaim.COMPLETED
            else:
                await held.reslot_dispatched(request, site, rules, now, after)
                outcome = Reclaim.RESLOTTED
    except DomainError:
        return None  # a job began it, or another scheduler moved it, since the read
    await deliver(after)
    return outcome


async def _requeue(row: UpdateRequest, policy: RunPolicy, now: datetime | None) -> Reclaimed | None:
    reclaims = row.reclaims + 1
    holder = "a job held it" if row.lease_token else "no job had begun it"
    detail = (
        f"Lease lapsed at {_at(row.lease_expires_at)} ({holder}; {row.attempts} of {policy.attempts} "
        f"tries used); enqueued again ({reclaims} time(s) since a job last took it)."
    )
    won = await sql.update(
        UpdateRequest,
        {"id": row.id, "status": row.status, **_unchanged(row)},
        lease_token=None,
        lease_expires_at=lease_clock.expiry(policy.begin_within(reclaims), now),
        reclaims=reclaims,
        internal_detail=detail,
    )
    if won != 1:
        return None
    alert = None
    if reclaims == policy.attempts:  # once: the workers are down, or far behind
        alert = f"request {row.id} has not begun after {reclaims} re-enqueues; are the workers running?"
    return Reclaimed(row.id, Reclaim.REQUEUED, row.status, row.attempts, reclaims, alert)


async def requeue_failed(item: Reclaimed, now: datetime | None = None) -> bool:
    """Undo a re-enqueue (`reclaim_lapsed`'s REQUEUED) whose job never reached the queue (the
    broker refused it): its lease lapses now, so the next sweep enqueues it again at once, not
    after the doubled time to begin that it gave a job that does not exist. Nothing changes if a
    job took the lease meanwhile (a copy enqueued before). Whether it was undone."""
    undone = await sql.update(
        UpdateRequest,
        {"id": item.request_id, "status": RUNNING, "lease_token": None, "reclaims": item.reclaims},
        reclaims=item.reclaims - 1,
        lease_expires_at=lease_clock.expiry(timedelta(0), now),
    )
    return undone == 1


async def _give_up(row: UpdateRequest, policy: RunPolicy, now: datetime) -> Reclaimed | None:
    after = AfterCommit()
    message = (
        f"The work could not be carried out: it stopped {row.attempts} times without finishing. The "
        "site is back online, and Campus Hosting has been told and will contact you about the next step."
    )
    detail = (
        f"Lease lapsed at {_at(row.lease_expires_at)}; {row.attempts} jobs took this request and "
        f"none finished (UPDATEDESK_STEP_ATTEMPTS={policy.attempts}). Last checkpoints: "
        f"{', '.join(row.completed_steps or []) or 'none'}."
    )
    try:
        async with in_transaction():
            loaded = await load_with_site(row.id)
            if loaded is None:
                return None
            request, site = loaded
            request.status = row.status  # the status the lapse was found in: the compare-and-set's
            await record_move(
                request,
                UpdateStatus.UNABLE_TO_COMPLETE,
                SYSTEM,
                after,
                now=now,
                message=message,
                site=site,
                where=_unchanged(row),
                internal_detail=detail,
                lease_token=None,
                lease_expires_at=None,
            )
            await claims.release(request, site.environment.kind)
            alert = f"{describe_for_staff(request, site)} was given up: {detail}"
            after.notification_ids.extend(await _alert_mail(request, site, alert, policy))
    except DomainError:
        return None  # another scheduler, or the job itself, got there first
    await deliver(after)
    return Reclaimed(row.id, Reclaim.GAVE_UP, row.status, row.attempts, row.reclaims, alert)


async def _alert_mail(request: UpdateRequest, site: Site, alert: str, policy: RunPolicy) -> list[int]:
    subject = f"{describe_for_staff(request, site)} could not be completed"
    return await queue_staff_alert(request, site, subject, alert, policy)


async def alert_staff(request_id: int, alert: str, policy: RunPolicy) -> None:
    """Mail an alert about a request outside any move (a job that does not begin)."""
    loaded = await load_with_site(request_id, include_deleted=True)
    if loaded is None:
        return
    request, site = loaded
    ids = await queue_staff_alert(request, site, f"{describe_for_staff(request, site)} waits", alert, policy)
    await deliver(AfterCommit(notification_ids=ids))


def _at(instant: datetime | None) -> str:
    return instant.isoformat() if instant else "(no lease)"
