"""Runbooks: the named steps of each kind of request, run through an executor.

``run_request`` is the whole job of one delivery: claim the request (``begin``), skip the steps
already checkpointed by an earlier delivery, run the others with progress, checkpoint each, then
``complete``; a step that still fails after ``step_attempts`` tries ends the request as
UNABLE_TO_COMPLETE with its reason. A job for a request that is no longer NOT_STARTED or
IN_PROGRESS is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from enum import StrEnum

from infra.metrics import JOBS
from infra.settings import Settings
from models.enums import EnvironmentKind, UpdateKind
from models.errors import DomainError
from models.requests import completion, execution
from models.requests.queries import Site
from models.tables import Environment, UpdateRequest
from workers.errors import StepFailed
from workers.executors import COPY_STEP, Executor, StepJob, build_executor

logger = logging.getLogger(__name__)

#: A step that finishes (or reports progress) within this many seconds writes no "starting"
#: progress of its own: instant steps cost one write (their checkpoint), not two.
STARTING_GRACE_SECONDS = 0.2


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
    DROPPED = "DROPPED"  # not ours to run (cancelled, finished, or stopped by staff)


def steps_for(kind: UpdateKind) -> tuple[Step, ...]:
    return RUNBOOKS[kind]


async def _source_database_url(request: UpdateRequest, site: Site) -> str | None:
    """Where a refresh copies from: production's database, when it has one."""
    if request.kind is not UpdateKind.DATABASE_REFRESH:
        return None
    production = await Environment.get_or_none(district_id=site.district.id, kind=EnvironmentKind.PRODUCTION)
    return production.database_url if production else None


async def run_request(request_id: int, settings: Settings, executor: Executor | None = None) -> Outcome:
    """Run (or resume) the runbook of one request; counts the outcome for /metrics."""
    kind: list[str] = ["unknown"]
    outcome = Outcome.DROPPED
    try:
        outcome = await _run_request(request_id, settings, executor, kind)
        return outcome
    finally:
        JOBS.labels(kind[0], outcome.value).inc()


async def _run_request(
    request_id: int, settings: Settings, executor: Executor | None, kind: list[str]
) -> Outcome:
    executor = executor or build_executor(settings)
    claimed = await execution.begin(request_id)
    if claimed is None:
        logger.info("request %s is not ready to run; job dropped", request_id)
        return Outcome.DROPPED
    request, site = claimed
    kind[0] = request.kind.value
    district, environment = site.district, site.environment
    source_url = await _source_database_url(request, site)
    # The checkpoints as begin() read them: the compare-and-set of each finish_step.
    checkpoints = list(request.completed_steps or [])
    done = set(checkpoints)
    start_percent = 0
    for step in steps_for(request.kind):
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
            await _run_step(job, executor, settings, start_percent, step.done_percent)
        except StepFailed as failure:
            return await _give_up(request_id, failure.reason)
        # The checkpoint and the step's "done" progress: one write.
        if not await execution.finish_step(
            request_id,
            step.name,
            step.done_percent,
            f"{step.label}: done",
            known_steps=checkpoints,
            district_id=district.id,
            sequence=request.history_seq,
        ):
            logger.info("request %s stopped running during step %s; job dropped", request_id, step.name)
            return Outcome.DROPPED
        if step.name not in checkpoints:
            checkpoints.append(step.name)
        start_percent = step.done_percent
    try:
        await completion.complete(request_id)
    except DomainError as error:
        logger.info("request %s could not be completed by the worker: %s", request_id, error)
        return Outcome.DROPPED
    return Outcome.COMPLETED


async def _run_step(job: StepJob, executor: Executor, settings: Settings, start: int, end: int) -> None:
    """Run one step with progress, up to `step_attempts` times; raise the last StepFailed."""

    for attempt in range(1, settings.step_attempts + 1):
        try:
            await _attempt_step(job, executor, start, end)
            return
        except StepFailed as failure:
            if not failure.retryable or attempt == settings.step_attempts:
                raise
            logger.warning(
                "request %s step %s failed (attempt %s of %s): %s",
                job.request_id,
                job.step,
                attempt,
                settings.step_attempts,
                failure.reason,
            )
        except Exception as error:  # an executor bug or a lost dependency: still a step failure
            logger.exception("request %s step %s raised", job.request_id, job.step)
            if attempt == settings.step_attempts:
                raise StepFailed(f"Step '{job.step_label}' failed unexpectedly: {error}") from error
        await asyncio.sleep(settings.step_retry_delay)


async def _attempt_step(job: StepJob, executor: Executor, start: int, end: int) -> None:
    """One try of a step. Its "starting" progress is written only once the step has run for
    STARTING_GRACE_SECONDS or reports progress of its own: an instant step writes none."""
    starting: asyncio.Task[bool] | None = None

    def announce() -> asyncio.Task[bool]:
        nonlocal starting
        if starting is None:
            starting = asyncio.ensure_future(
                execution.report_progress(
                    job.request_id,
                    start,
                    job.step,
                    f"{job.step_label}...",
                    district_id=job.district_id,
                    sequence=job.history_seq,
                )
            )
        return starting

    async def report(percent: int, message: str | None) -> None:
        await announce()  # in order: "starting" is never written after the step's own progress
        overall = start + (end - start) * max(0, min(100, percent)) // 100
        await execution.report_progress(
            job.request_id, overall, job.step, message or job.step_label,
            district_id=job.district_id, sequence=job.history_seq,
        )  # fmt: skip

    work = asyncio.ensure_future(executor.run_step(job, report))
    try:
        done, _ = await asyncio.wait({work}, timeout=STARTING_GRACE_SECONDS)
        if not done:
            await announce()
        await work
    finally:
        for task in (work, starting):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _give_up(request_id: int, reason: str) -> Outcome:
    try:
        await completion.fail(request_id, reason)
    except DomainError as error:
        logger.info("request %s could not be marked unable to complete: %s", request_id, error)
        return Outcome.DROPPED
    return Outcome.FAILED
