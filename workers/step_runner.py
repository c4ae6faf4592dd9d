"""One step of a runbook: its tries (up to `step_attempts`, a pause between them), the progress
it reports, and its job's lease, which stops it (and the pause) when the lease is lost or the
process is stopping (`workers.job_lease`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from infra.logs import redact_text
from infra.settings import Settings
from models.requests import execution
from workers.errors import StepFailed
from workers.executors import Executor, StepJob
from workers.job_lease import JobStopping, Lease, LeaseLost

logger = logging.getLogger(__name__)

#: A step that finishes (or reports progress) within this many seconds writes no "starting"
#: progress of its own: instant steps cost one write (their checkpoint), not two.
STARTING_GRACE_SECONDS = 0.2


async def run_step(
    job: StepJob, executor: Executor, settings: Settings, start: int, end: int, lease: Lease
) -> None:
    """Run one step with progress, up to `step_attempts` times; raise the last StepFailed."""

    for attempt in range(1, settings.step_attempts + 1):
        lease.check()
        try:
            await _attempt_step(job, executor, start, end, lease)
            return
        except (LeaseLost, JobStopping):
            raise
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
                raise StepFailed(
                    f"Step '{job.step_label}' failed unexpectedly.", detail=redact_text(repr(error))
                ) from error
        await _pause(settings.step_retry_delay, lease)


async def _pause(seconds: float, lease: Lease) -> None:
    """The wait between a step's tries: the lease cuts it short as it does a step."""
    pause = asyncio.ensure_future(asyncio.sleep(seconds))
    lease.work = pause
    try:
        await pause
    except asyncio.CancelledError:
        stopped = lease.stopped_by_us() if pause.cancelled() else None
        if stopped is not None:
            raise stopped from None
        raise
    finally:
        lease.work = None


async def _attempt_step(job: StepJob, executor: Executor, start: int, end: int, lease: Lease) -> None:
    """One try of a step. Its "starting" progress is written only once the step has run for
    STARTING_GRACE_SECONDS or reports progress of its own: an instant step writes none."""
    starting: asyncio.Task[bool] | None = None
    token = lease.token

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
                    lease_token=token,
                    sequence=job.history_seq,
                )
            )
        return starting

    async def report(percent: int, message: str | None) -> None:
        await announce()  # in order: "starting" is never written after the step's own progress
        overall = start + (end - start) * max(0, min(100, percent)) // 100
        await execution.report_progress(
            job.request_id,
            overall,
            job.step,
            message or job.step_label,
            district_id=job.district_id,
            lease_token=token,
            sequence=job.history_seq,
        )

    work = asyncio.ensure_future(executor.run_step(job, report))
    lease.work = work
    try:
        done, _ = await asyncio.wait({work}, timeout=STARTING_GRACE_SECONDS)
        if not done:
            await announce()
        await work
    except asyncio.CancelledError:
        stopped = lease.stopped_by_us() if work.cancelled() else None
        if stopped is not None:
            raise stopped from None  # the lease stopped the step: it is gone, or the process stops
        raise
    finally:
        lease.work = None
        for task in (work, starting):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
