"""The worker's side of a request while it runs: claim it (begin), report progress, and
checkpoint finished runbook steps so a redelivered job resumes after them. Every write of a job
carries its lease token: a job that lost its lease to another changes nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from tortoise.transactions import in_transaction

from models import sql
from models.access import WORKER
from models.clock import utcnow
from models.enums import EnvironmentKind, EventType, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit, ProgressReport, UpdateRequestChanged, deliver
from models.requests import claims, lease_clock
from models.requests.completion import (
    already_there,
    complete_without_running,
    fail_without_production,
    lacks_production,
)
from models.requests.leases import RUNNING
from models.requests.moves import no_progress, record_move
from models.requests.queries import SITE_JOINS, Site, load_with_site
from models.requests.slots import cannot_start, decision_rules
from models.rollouts import held
from models.running import DEFAULT_POLICY, RUNNING_STATUSES, RunPolicy, new_lease_token
from models.tables import District, Environment, UpdateRequest

logger = logging.getLogger(__name__)

#: Longest step name kept with a progress report (the column's size).
MAX_STEP_NAME = 100


async def begin(
    request_id: int,
    now: datetime | None = None,
    *,
    token: str | None = None,
    policy: RunPolicy = DEFAULT_POLICY,
) -> tuple[UpdateRequest, Site] | None:
    """Claim a dispatched request for the job holding `token`: take its lease (a try, counted in
    `attempts`), then NOT_STARTED -> IN_PROGRESS with the environment offline; or, for an
    IN_PROGRESS request whose lapsed lease the scheduler reclaimed, take it over to resume after
    its checkpoints (a refresh whose district lost its production site meanwhile fails instead,
    as a queued one does).

    None when the job must be dropped: another job holds the lease (this one is a duplicate and
    touches nothing), the request is in any other status (cancelled meanwhile, finished by an
    earlier delivery), or it was not started because of what begin checks first: a version update
    whose target the site already runs completes without running, a refresh whose district lost its
    production site fails without running, and window-bound work that can no longer finish inside
    its window, or work due inside a blackout, is re-slotted (set aside instead when its group
    rollout was paused or halted since, unless staff scheduled it themselves since then:
    `models.rollouts.held`). Returns the request with its district and environment, which the
    runbook needs. The lease runs on the database's clock (`models.requests.lease_clock`; on `now`
    when pinned), the start on `now`.
    """
    pinned, now = now, now or utcnow()
    token = token or new_lease_token()
    # The lease first, then one read of the request as this job now holds it (its tries, its
    # checkpoints): no read before the write and none after it to refresh.
    loaded = await take_lease_and_load(request_id, token, policy, pinned)
    if loaded is None or loaded[0].lease_token != token or loaded[0].status not in RUNNING_STATUSES:
        return None
    request, site = loaded
    if request.status is UpdateStatus.IN_PROGRESS:
        # Resumed after its last checkpoint: a refresh whose production was removed while no job
        # ran it has nothing left to copy, as a queued one has not (below).
        if await lacks_production(request, site):
            await _fail_resumed_without_production(request, site, now, token)
            return None
        return request, site
    # The dispatcher found the start allowed at its dispatch: a worker whose clock runs behind it
    # judges (and records) the start no earlier, or it would re-slot work into the slot it is in.
    if request.dispatched_at is not None and request.dispatched_at > now:
        now = request.dispatched_at
    after = AfterCommit()
    try:
        async with in_transaction():
            rules = await decision_rules(request, site.district, policy, now)
            if already_there(request, site):
                await complete_without_running(request, site, now, after)
                started = False
            elif await lacks_production(request, site):
                await fail_without_production(request, site, now, after, token)
                logger.warning("request %s: a refresh with no production site to copy; not run", request.id)
                started = False
            elif cannot_start(request, rules, now):
                await held.reslot_dispatched(request, site, rules, now, after)
                started = False
            else:
                await record_move(
                    request,
                    UpdateStatus.IN_PROGRESS,
                    WORKER,
                    after,
                    now=now,
                    site=site,
                    where={"lease_token": token},
                    started_at=now,
                    **no_progress(),
                )
                # Dispatch claimed the site; claiming again (a no-op then) keeps begin safe on its
                # own. The same UPDATE takes the site offline.
                await claims.claim(
                    request,
                    site.environment.kind,
                    environment_ids=claims.ids_from(request, site),
                    online=False,
                )
                started = True
    except (DomainError, claims.EnvironmentBusy):
        return None
    await deliver(after)
    return (request, site) if started else None


async def _fail_resumed_without_production(
    request: UpdateRequest, site: Site, now: datetime, token: str
) -> None:
    after = AfterCommit()
    try:
        async with in_transaction():
            await fail_without_production(request, site, now, after, token)
    except DomainError:
        return  # staff moved it, or another job took it over, meanwhile
    await deliver(after)
    logger.warning("request %s: a resumed refresh with no production site to copy; not run", request.id)


async def take_lease(request_id: int, token: str, policy: RunPolicy, now: datetime | None = None) -> bool:
    """Take the lease of a running request that has no holder, counting one try; it lapses one
    lease from now by the database's clock (at `now`, when pinned). A job that then dies before
    moving the request leaves a lease that lapses: the scheduler counts it against the request's
    attempts, so a job that always fails at its start cannot loop forever."""
    taken = await sql.update(
        UpdateRequest,
        {"id": request_id, "status": RUNNING, "lease_token": None, "deleted_at": None},
        attempts=sql.Add(1),
        lease_token=token,
        lease_expires_at=lease_clock.expiry(policy.lease, now),
        reclaims=0,
    )
    return taken == 1


async def take_lease_and_load(
    request_id: int, token: str, policy: RunPolicy, now: datetime | None = None
) -> tuple[UpdateRequest, Site] | None:
    """`take_lease`, then the request with its site as the lease left it (None: not taken), and for
    a refresh its district's production site. One round trip on PostgreSQL (the UPDATE ...
    RETURNING read with its district and environment, and production joined)."""
    if UpdateRequest._meta.db.capabilities.dialect != "postgres":
        if not await take_lease(request_id, token, policy, now):
            return None
        return await _load_with_production(request_id)
    found = await _LEASE_TAKEN_WITH_SITE.first_with_extra(
        [
            1,
            token,
            sql.db_value(UpdateRequest, "lease_expires_at", now),  # NULL: the database's clock
            policy.lease,
            request_id,
            *(sql.db_value(UpdateRequest, "status", status) for status in RUNNING.values),
            sql.db_value(Environment, "kind", EnvironmentKind.PRODUCTION),
        ]
    )
    if found is None:
        return None
    (request, district, environment), (production_id, production_url) = found
    production = (
        None if production_id is None else (cast(int, production_id), cast(str | None, production_url))
    )
    return cast(UpdateRequest, request), Site(
        cast(District, district), cast(Environment, environment), production
    )


async def _load_with_production(request_id: int) -> tuple[UpdateRequest, Site] | None:
    """`load_with_site`, and for a refresh its production as the PostgreSQL read joins it: one read
    answers whether there is one to copy, which sites the job claims, and where it copies from."""
    loaded = await load_with_site(request_id)
    if loaded is None or loaded[0].kind is not UpdateKind.DATABASE_REFRESH:
        return loaded
    request, site = loaded
    rows = await sql.select(
        Environment,
        ("id", "database_url"),
        {"district_id": request.district_id, "kind": EnvironmentKind.PRODUCTION},
    )
    if not rows:
        return loaded
    production = (cast(int, rows[0][0]), cast(str | None, rows[0][1]))
    return request, Site(site.district, site.environment, production)


# take_lease's UPDATE (as models/sql.update writes it, the expiry on the database's clock unless
# pinned), read back with the request's site.
_TAKE_LEASE = (
    'UPDATE "update_request" SET "attempts"="attempts"+{},"lease_token"={},'
    f'"lease_expires_at"=COALESCE({{}},{sql.DATABASE_CLOCK})+{{}}::interval,'
    f'"reclaims"=0 WHERE "id"={{}} AND "status" IN ({",".join("{}" for _ in RUNNING.values)})'
    ' AND "lease_token" IS NULL AND "deleted_at" IS NULL'
)
_LEASE_TAKEN_WITH_SITE = sql.Rows(
    UpdateRequest,
    "TRUE",
    SITE_JOINS,
    source=(f'WITH "taken" AS ({_TAKE_LEASE} RETURNING *) ', '"taken"'),
    # The district's production site: what a refresh claims first and copies.
    extra=(
        ('"p"."id"', '"p"."database_url"'),
        'LEFT JOIN "environment" "p" ON "p"."district_id"="t0"."district_id" AND "p"."kind"={}',
    ),
)


def progress_report(percent: int, step: str, message: str | None, now: datetime) -> ProgressReport:
    return ProgressReport(max(0, min(100, int(percent))), step[:MAX_STEP_NAME], message, now)


def progress_columns(report: ProgressReport) -> dict[str, Any]:
    return {
        "progress_percent": report.percent,
        "progress_step": report.step,
        "progress_message": report.message,
        "progress_at": report.at,
    }


def _running(request_id: int, sequence: int | None) -> dict[str, Any]:
    """The filter of a write that only a running request takes (and, with `sequence`, only the
    run that the IN_PROGRESS move with that history sequence began)."""
    running: dict[str, Any] = {"id": request_id, "status": UpdateStatus.IN_PROGRESS}
    if sequence is not None:
        running["history_seq"] = sequence
    return running


async def _publish_progress(
    request_id: int, district_id: int | None, sequence: int | None, report: ProgressReport
) -> None:
    if district_id is None or sequence is None:
        rows = await UpdateRequest.filter(id=request_id).values_list("district_id", "history_seq")
        district_id, sequence = cast(tuple[int, int], rows[0])
    event = UpdateRequestChanged(
        EventType.PROGRESS, request_id, district_id, UpdateStatus.IN_PROGRESS, report.at, report,
        sequence=sequence,
    )  # fmt: skip
    await deliver(AfterCommit(events=[event]))


async def report_progress(
    request_id: int,
    percent: int,
    step: str,
    message: str | None = None,
    now: datetime | None = None,
    *,
    district_id: int | None = None,
    lease_token: str | None = None,
    sequence: int | None = None,
) -> bool:
    """Store the latest progress of a running request and publish it. False if it is not running
    (or, with `lease_token`, no longer held by that job).

    `district_id` and `sequence` (the request's district and the history sequence of its
    IN_PROGRESS move, which a runbook already knows) save the lookup for the event record."""
    report = progress_report(percent, step, message, now or utcnow())
    updated = await sql.update(
        UpdateRequest, {**_running(request_id, sequence), **_held_by(lease_token)}, **progress_columns(report)
    )
    if updated != 1:
        return False
    await _publish_progress(request_id, district_id, sequence, report)
    return True


async def finish_step(
    request_id: int,
    step: str,
    percent: int,
    message: str | None = None,
    now: datetime | None = None,
    *,
    known_steps: list[str] | None = None,
    district_id: int | None = None,
    lease_token: str | None = None,
    sequence: int | None = None,
) -> bool:
    """Checkpoint a runbook step and store its "done" progress in one write; publish the progress.

    False if the request stopped running, or the job holding `lease_token` lost its lease (nothing
    is written then). With `known_steps` (the
    checkpoints the caller read and has written since) the write is one UPDATE that is also a
    compare-and-set on those checkpoints and on IN_PROGRESS; if another delivery changed them
    meanwhile, the checkpoint is merged under a row lock instead, so none is ever lost."""
    report = progress_report(percent, step, message, now or utcnow())
    columns = progress_columns(report)
    written = False
    if known_steps is not None:
        steps = list(known_steps) if step in known_steps else [*known_steps, step]
        written = (
            await sql.update(
                UpdateRequest,
                {
                    **_running(request_id, sequence),
                    "completed_steps": list(known_steps),
                    **_held_by(lease_token),
                },
                completed_steps=steps,
                **columns,
            )
            == 1
        )
    if not written:
        async with in_transaction():
            request = await UpdateRequest.filter(id=request_id).select_for_update().first()
            if request is None or request.status is not UpdateStatus.IN_PROGRESS:
                return False
            if lease_token is not None and request.lease_token != lease_token:
                return False
            if sequence is not None and request.history_seq != sequence:
                return False
            steps = list(request.completed_steps or [])
            if step not in steps:
                steps.append(step)
            await UpdateRequest.filter(id=request_id).update(completed_steps=steps, **columns)
            district_id, sequence = request.district_id, request.history_seq
    await _publish_progress(request_id, district_id, sequence, report)
    return True


def _held_by(lease_token: str | None) -> dict[str, Any]:
    return {} if lease_token is None else {"lease_token": lease_token}
