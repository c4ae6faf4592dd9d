"""Runbooks: the named steps of each kind of request, run through an executor.

``run_request`` is the whole job of one delivery: claim the request (``begin``, which takes its
lease), skip the steps already checkpointed by an earlier delivery, run the others with progress,
checkpoint each, then ``complete``; a step that still fails after ``step_attempts`` tries ends the
request as UNABLE_TO_COMPLETE: the district reads which step did not succeed, hosting staff read the
executor's output (``internalDetail``, redacted). A job for a request that is no longer NOT_STARTED
or IN_PROGRESS, or whose lease another job holds, is dropped.

While the runbook runs, a background task renews the lease every third of its length. When a
renewal finds the lease gone (the scheduler reclaimed it after this job stalled, or staff gave the
request up), the executor's running step is cancelled at once and the job ends: every write it
might still attempt carries its lease token and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from infra.logs import redact_text
from infra.metrics import JOBS
from infra.settings import Settings
from models import sql
from models.clock import utcnow
from models.enums import EnvironmentKind, UpdateKind
from models.errors import DomainError
from models.requests import completion, execution, leases
from models.requests.queries import Site
from models.running import new_lease_token
from models.tables import Environment, UpdateRequest
from workers.errors import StepFailed
from workers.executors import COPY_STEP, Executor, StepJob, build_executor
from workers.job_lease import JobStopping, Lease, LeaseLost, RunningJobs, keep_lease
from workers.step_runner import run_step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    #: Overall progress when this step is done.
    done_percent: int


VERSION_UPDATE_STEPS: tuple[Step, ...] = (
    Step("backup", "Back up the site", 15),
    Step("stop_site", "Stop the site", 25),
    Step("install_version", "Install the new version", 60),
    Step("migrate_schema", "Migrate the database schema", 80),
    Step("start_site", "Start the site", 90),
    Step("verify", "Verify the site", 100),
)

DATABASE_REFRESH_STEPS: tuple[Step, ...] = (
    Step("snapshot_production", "Snapshot the production data", 20),
    Step(COPY_STEP, "Copy the data into the target", 70),
    Step("sanitize_reindex", "Sanitize and reindex", 90),
    Step("verify", "Verify the site", 100),
)

RUNBOOKS: dict[UpdateKind, tuple[Step, ...]] = {
    UpdateKind.VERSION_UPDATE: VERSION_UPDATE_STEPS,
    UpdateKind.DATABASE_REFRESH: DATABASE_REFRESH_STEPS,
}


class Outcome(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DROPPED = "DROPPED"  # not ours to run (cancelled, finished, stopped by staff, lease lost)
    HANDED_BACK = "HANDED_BACK"  # the process stopped: the request waits for the next job


def steps_for(kind: UpdateKind) -> tuple[Step, ...]:
    return RUNBOOKS[kind]


async def _source_database_url(request: UpdateRequest, site: Site) -> str | None:
    """Where a refresh copies from: production's database, when it has one."""
    if request.kind is not UpdateKind.DATABASE_REFRESH:
        return None
    if site.production is not None:  # the job's first read joined it
        return site.production[1]
    rows = await sql.select(
        Environment, ("database_url",), {"district_id": site.district.id, "kind": EnvironmentKind.PRODUCTION}
    )
    return cast(str | None, rows[0][0]) if rows else None


async def run_request(
    request_id: int, settings: Settings, executor: Executor | None = None, jobs: RunningJobs | None = None
) -> Outcome:
    """Run (or resume) the runbook of one request; counts the outcome for /metrics. `jobs`: the
    process's running jobs, which it stops when the process stops (`RunningJobs`)."""
    kind: list[str] = ["unknown"]
    outcome = Outcome.DROPPED
    try:
        outcome = await _run_request(request_id, settings, executor, kind, jobs or RunningJobs())
        return outcome
    finally:
        JOBS.labels(kind[0], outcome.value).inc()


async def _run_request(
    request_id: int, settings: Settings, executor: Executor | None, kind: list[str], jobs: RunningJobs
) -> Outcome:
    if jobs.closed:
        # The process is stopping. The request keeps its dispatch lease, which lapses; the
        # scheduler then enqueues the job again, for a process that runs it.
        logger.info("stopping: update request %s is left for another worker", request_id)
        return Outcome.DROPPED
    executor = executor or build_executor(settings)
    policy = settings.run_policy
    lease = Lease(new_lease_token())
    taken_at = asyncio.get_running_loop().time()  # the lease lapses no sooner than a lease after this
    claimed = await execution.begin(request_id, token=lease.token, policy=policy)
    if claimed is None:
        logger.info("request %s is not ready to run, or another job holds it; job dropped", request_id)
        return Outcome.DROPPED
    request, site = claimed
    kind[0] = request.kind.value
    keeper = asyncio.ensure_future(keep_lease(request_id, lease, policy, taken_at))
    try:
        with jobs.running(lease):
            outcome = await _run_steps(request, site, executor, settings, lease)
        if outcome is Outcome.HANDED_BACK:
            # Stopped by its process, not by the work: the try begin counted is given back.
            await leases.release_lease(request_id, lease.token, hand_back_try=True)
            logger.info("request %s handed back: its process is stopping", request_id)
        if outcome is Outcome.DROPPED:
            # Staff may have given the request up while this job was inside a step: the site was
            # kept for it until now (models.requests.staff); the sweep frees it if this fails.
            with contextlib.suppress(Exception):
                await leases.release_stopped(request_id, lease.token)
        return outcome
    except asyncio.CancelledError:
        # This job is being stopped (the worker shuts down): let the next job begin at once.
        with contextlib.suppress(Exception):
            await leases.release_lease(request_id, lease.token)
        raise
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


async def _run_steps(
    request: UpdateRequest, site: Site, executor: Executor, settings: Settings, lease: Lease
) -> Outcome:
    try:
        return await _steps(request, site, executor, settings, lease)
    except LeaseLost:
        return Outcome.DROPPED
    except JobStopping:
        return Outcome.HANDED_BACK


async def _steps(
    request: UpdateRequest, site: Site, executor: Executor, settings: Settings, lease: Lease
) -> Outcome:
    request_id, token = request.id, lease.token
    district, environment = site.district, site.environment
    source_url = await _source_database_url(request, site)
    # The checkpoints as begin() read them: the compare-and-set of each finish_step.
    checkpoints = list(request.completed_steps or [])
    done = set(checkpoints)
    start_percent = 0
    steps = steps_for(request.kind)
    last_checkpoint: completion.LastCheckpoint | None = None
    for step in steps:
        if step.name in done:
            start_percent = step.done_percent
            continue
        job = StepJob(
            request_id=request_id,
            kind=request.kind,
            step=step.name,
            step_label=step.label,
            district_id=district.id,
            district_name=district.name,
            environment=environment.kind.value,
            target_version=request.target_version,
            source_database_url=source_url,
            target_database_url=environment.database_url,
            history_seq=request.history_seq,
        )
        try:
            await run_step(job, executor, settings, start_percent, step.done_percent, lease)
        except StepFailed as failure:
            # What went wrong in staff's words (the step, the exit status) and the executor's own
            # output are technical detail for hosting staff; the district reads which step failed.
            detail = failure.reason if failure.detail is None else f"{failure.reason} {failure.detail}"
            return await _give_up(request_id, step, detail, token)
        if step is steps[-1]:
            # The last step's checkpoint is written by the COMPLETED move right after it.
            report = execution.progress_report(step.done_percent, step.name, f"{step.label}: done", utcnow())
            last_checkpoint = completion.LastCheckpoint([*checkpoints, step.name], report)
            checkpoints.append(step.name)
            break
        # The checkpoint and the step's "done" progress: one write.
        if not await execution.finish_step(
            request_id,
            step.name,
            step.done_percent,
            f"{step.label}: done",
            known_steps=checkpoints,
            district_id=district.id,
            lease_token=token,
            sequence=request.history_seq,
        ):
            logger.info("request %s stopped running during step %s; job dropped", request_id, step.name)
            return Outcome.DROPPED
        if step.name not in checkpoints:
            checkpoints.append(step.name)
        start_percent = step.done_percent
    last_step = checkpoints[-1] if checkpoints else request.progress_step
    try:
        await completion.complete(
            request_id,
            lease_token=token,
            policy=settings.run_policy,
            held=completion.Held(request, site, last_step, last_checkpoint),
        )
    except DomainError as error:
        logger.info("request %s could not be completed by the worker: %s", request_id, error)
        return Outcome.DROPPED
    return Outcome.COMPLETED


async def _give_up(request_id: int, step: Step, detail: str, token: str) -> Outcome:
    """The district reads which step did not succeed; the executor's own words (command output,
    exception text) go, redacted, to hosting staff only."""
    reason = (
        f'The step "{step.label}" could not be completed. The site is back online, and Campus '
        "Hosting has the details and will contact you about the next step."
    )
    try:
        await completion.fail(request_id, reason, detail=redact_text(detail), lease_token=token)
    except DomainError as error:
        logger.info("request %s could not be marked unable to complete: %s", request_id, error)
        return Outcome.DROPPED
    return Outcome.FAILED
