"""`run_request` with a fake executor (tests/workers/runbook_support.py) on a real database (both
backends): steps run once and are checkpointed, failures are retried or end the request, a
redelivered job resumes, a job that is not ours is dropped, and every outcome is counted."""

from __future__ import annotations

import asyncio

import pytest

from infra.metrics import REGISTRY
from infra.settings import Settings
from models.enums import EnvironmentKind, EventType, UpdateKind, UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests import completion
from models.requests.dispatch import dispatch
from models.requests.staff import set_update_request_status
from models.requests.withdrawing import cancel_update_request
from models.tables import Environment, UpdateRequest
from tests import support
from tests.workers.runbook_support import FakeExecutor, dispatched, progress_log
from tests.workers.scenario import TARGET_VERSION, make_scene, request_and_schedule
from workers.errors import StepFailed
from workers.executors import ProgressCallback, StepJob
from workers.runbooks import DATABASE_REFRESH_STEPS, VERSION_UPDATE_STEPS, Outcome, run_request

STEP_ATTEMPTS = 3
SETTINGS = Settings(step_attempts=STEP_ATTEMPTS, step_retry_delay=0)
VERSION_STEPS = [step.name for step in VERSION_UPDATE_STEPS]
#: Bounds a wait for something the runbook must do; only a broken runbook makes a test wait this long.
WITHIN = 10.0


def jobs_counted(kind: str, outcome: Outcome) -> float:
    value = REGISTRY.get_sample_value("updatedesk_jobs_total", {"kind": kind, "outcome": outcome.value})
    return value or 0.0


def retryable(reason: str = "mirror timed out") -> StepFailed:
    return StepFailed(reason)


# --------------------------------------------------------------------------- completing


async def test_a_run_completes_every_step_once_and_checkpoints_it(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    executor = FakeExecutor()
    assert await run_request(request.id, SETTINGS, executor) is Outcome.COMPLETED

    assert executor.steps == VERSION_STEPS
    finished = await UpdateRequest.get(id=request.id)
    assert finished.status is UpdateStatus.COMPLETED
    assert finished.completed_steps == VERSION_STEPS
    assert finished.progress_percent == 100
    production = await Environment.get(id=request.environment_id)
    assert production.current_version == TARGET_VERSION and production.online


async def test_each_step_job_names_the_request_and_its_site(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    executor = FakeExecutor()
    await run_request(request.id, SETTINGS, executor)
    labels = [step.label for step in VERSION_UPDATE_STEPS]
    assert [job.step_label for job in executor.jobs] == labels
    assert {
        (job.request_id, job.kind, job.district_id, job.district_name, job.environment, job.target_version)
        for job in executor.jobs
    } == {
        (
            request.id,
            UpdateKind.VERSION_UPDATE,
            scene.district.id,
            scene.district.name,
            "PRODUCTION",
            TARGET_VERSION,
        )
    }


async def test_a_refresh_copies_from_production_s_database(db: support.TestDatabase) -> None:
    scene = await make_scene()
    for kind, url in (
        (EnvironmentKind.PRODUCTION, "sqlite:///srv/p.db"),
        (EnvironmentKind.SANDBOX, "sqlite:///srv/s.db"),
    ):
        await Environment.filter(district_id=scene.district.id, kind=kind).update(database_url=url)
    request = await dispatched(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)
    executor = FakeExecutor()
    assert await run_request(request.id, SETTINGS, executor) is Outcome.COMPLETED
    assert executor.steps == [step.name for step in DATABASE_REFRESH_STEPS]
    assert {(job.source_database_url, job.target_database_url) for job in executor.jobs} == {
        ("sqlite:///srv/p.db", "sqlite:///srv/s.db")
    }
    assert (await Environment.get(id=request.environment_id)).last_refreshed_at is not None


async def test_a_queued_refresh_whose_production_was_removed_fails_saying_so(
    db: support.TestDatabase,
) -> None:
    """Requested and scheduled while production existed; the hosting team then removed the
    production site. The job has nothing to copy: it must not run (nor report a refresh that
    copied nothing) but end the request with words the district can read, the site free."""
    scene = await make_scene()
    request = await request_and_schedule(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)
    await Environment.filter(district_id=scene.district.id, kind=EnvironmentKind.PRODUCTION).delete()
    assert await dispatch(request.id)
    executor = FakeExecutor()

    await run_request(request.id, SETTINGS, executor)

    assert executor.steps == []
    ended = await UpdateRequest.get(id=request.id)
    assert ended.status is UpdateStatus.UNABLE_TO_COMPLETE
    assert ended.status_message and "no longer has a production site" in ended.status_message
    assert ended.lease_token is None
    sandbox = await Environment.get(id=request.environment_id)
    assert sandbox.online and sandbox.running_request_id is None and sandbox.last_refreshed_at is None


# --------------------------------------------------------------------------- progress


async def test_progress_within_a_step_is_scaled_to_the_step_s_share(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    stored: list[tuple[int | None, str | None, str | None]] = []

    async def halfway(job: StepJob, report: ProgressCallback) -> None:
        if job.step == "install_version":  # from 25 % to 60 % of the whole run
            await report(50, "Unpacking")
            await report(80, None)
            row = await UpdateRequest.get(id=job.request_id)
            stored.append((row.progress_percent, row.progress_step, row.progress_message))

    await run_request(request.id, SETTINGS, FakeExecutor(during=halfway))
    assert stored == [(53, "install_version", "Install the new version")]


async def test_an_instant_step_writes_only_its_checkpoint(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)

    async def reports_in_one_step(job: StepJob, report: ProgressCallback) -> None:
        if job.step == "install_version":
            await report(50, "Unpacking")

    async with progress_log() as log:
        await run_request(request.id, SETTINGS, FakeExecutor(during=reports_in_one_step))
    assert log.seen == [
        (15, "Back up the site: done"),
        (25, "Stop the site: done"),
        (25, "Install the new version..."),  # announced only because the step reports progress
        (42, "Unpacking"),
        (60, "Install the new version: done"),
        (80, "Migrate the database schema: done"),
        (90, "Start the site: done"),
        (100, "Verify the site: done"),
    ]


async def test_the_last_step_s_checkpoint_is_the_completed_move_and_its_record_comes_first(
    db: support.TestDatabase,
) -> None:
    """The last checkpoint is written by the COMPLETED move (one write): readers still get the
    step's "done" PROGRESS, in the run's order, right before COMPLETED."""
    scene = await make_scene()
    request = await dispatched(scene)
    events: list[UpdateRequestChanged] = []

    async def keep(event: UpdateRequestChanged) -> None:
        if event.update_request_id == request.id:
            events.append(event)

    add_event_sink(keep)
    try:
        assert await run_request(request.id, SETTINGS, FakeExecutor()) is Outcome.COMPLETED
    finally:
        remove_event_sink(keep)
    started = next(
        e for e in events if e.status is UpdateStatus.IN_PROGRESS and e.type is EventType.STATUS_CHANGED
    )
    last_two = events[-2:]
    assert [(e.type, e.status) for e in last_two] == [
        (EventType.PROGRESS, UpdateStatus.IN_PROGRESS),
        (EventType.STATUS_CHANGED, UpdateStatus.COMPLETED),
    ]
    progress, completed = last_two
    assert progress.progress is not None
    assert (progress.progress.percent, progress.progress.message) == (100, "Verify the site: done")
    assert progress.sequence == started.sequence and completed.sequence == (started.sequence or 0) + 1
    finished = await UpdateRequest.get(id=request.id)
    assert finished.completed_steps == VERSION_STEPS
    assert (finished.progress_step, finished.progress_message) == ("verify", "Verify the site: done")


async def test_a_job_that_dies_between_its_last_step_and_completing_runs_that_step_again(
    db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    reached = asyncio.Event()

    async def dies_before_completing(*args: object, **kwargs: object) -> UpdateRequest:
        reached.set()
        await asyncio.Event().wait()  # the worker dies here
        raise AssertionError("never completes")

    with monkeypatch.context() as patched:
        patched.setattr(completion, "complete", dies_before_completing)
        async with progress_log() as log:
            first = asyncio.create_task(run_request(request.id, SETTINGS, FakeExecutor()))
            await asyncio.wait_for(reached.wait(), WITHIN)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
    interrupted = await UpdateRequest.get(id=request.id)
    assert (interrupted.status, interrupted.completed_steps) == (UpdateStatus.IN_PROGRESS, VERSION_STEPS[:-1])
    assert log.seen[-1] == (90, "Start the site: done")  # nothing announced that was not written

    again = FakeExecutor()
    assert await run_request(request.id, SETTINGS, again) is Outcome.COMPLETED
    assert again.steps == VERSION_STEPS[-1:]
    assert (await UpdateRequest.get(id=request.id)).completed_steps == VERSION_STEPS


async def test_a_request_stopped_during_its_last_step_is_not_announced_done(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)

    async def staff_give_up(job: StepJob, report: ProgressCallback) -> None:
        if job.step == VERSION_STEPS[-1]:
            await set_update_request_status(
                scene.staff, job.request_id, UpdateStatus.UNABLE_TO_COMPLETE, "Stopped by staff"
            )

    async with progress_log() as log:
        assert await run_request(request.id, SETTINGS, FakeExecutor(during=staff_give_up)) is Outcome.DROPPED
    stopped = await UpdateRequest.get(id=request.id)
    assert (stopped.status, stopped.completed_steps) == (UpdateStatus.UNABLE_TO_COMPLETE, VERSION_STEPS[:-1])
    assert (100, "Verify the site: done") not in log.seen


async def test_a_step_that_runs_a_while_announces_that_it_started(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    async with progress_log() as log:

        async def until_announced(job: StepJob, report: ProgressCallback) -> None:
            if job.step == "backup":
                await log.published("Back up the site...", WITHIN)

        await run_request(request.id, SETTINGS, FakeExecutor(during=until_announced))
    assert log.seen[:2] == [(0, "Back up the site..."), (15, "Back up the site: done")]


# --------------------------------------------------------------------------- failing


async def test_a_step_that_fails_then_succeeds_is_retried(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    executor = FakeExecutor({"install_version": [retryable(), retryable()]})
    assert await run_request(request.id, SETTINGS, executor) is Outcome.COMPLETED
    assert executor.steps.count("install_version") == 3
    assert (await UpdateRequest.get(id=request.id)).completed_steps == VERSION_STEPS


async def test_a_step_that_keeps_failing_ends_the_request_with_its_reason(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    reasons = [f"mirror timed out ({n})" for n in range(1, STEP_ATTEMPTS + 2)]
    executor = FakeExecutor({"install_version": [retryable(reason) for reason in reasons]})
    assert await run_request(request.id, SETTINGS, executor) is Outcome.FAILED

    assert executor.steps == ["backup", "stop_site", *["install_version"] * STEP_ATTEMPTS]
    failed = await UpdateRequest.get(id=request.id)
    assert failed.status is UpdateStatus.UNABLE_TO_COMPLETE
    # The district reads which step failed; the last try's own words are for hosting staff.
    assert failed.status_message is not None and "Install the new version" in failed.status_message
    assert "mirror" not in failed.status_message
    assert failed.internal_detail == reasons[STEP_ATTEMPTS - 1]
    assert failed.completed_steps == ["backup", "stop_site"]
    assert (await Environment.get(id=request.environment_id)).online


async def test_a_failure_that_is_not_retryable_ends_the_request_at_once(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    reason = "No operator command is configured for VERSION_UPDATE."
    executor = FakeExecutor({"backup": [StepFailed(reason, retryable=False)]})
    assert await run_request(request.id, SETTINGS, executor) is Outcome.FAILED
    assert executor.steps == ["backup"]
    failed = await UpdateRequest.get(id=request.id)
    assert failed.status is UpdateStatus.UNABLE_TO_COMPLETE
    assert failed.status_message is not None and "Back up the site" in failed.status_message
    assert failed.internal_detail == reason


async def test_an_executor_error_counts_as_a_failed_try(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    executor = FakeExecutor({"verify": [RuntimeError("socket closed") for _ in range(STEP_ATTEMPTS)]})
    assert await run_request(request.id, SETTINGS, executor) is Outcome.FAILED
    assert executor.steps.count("verify") == STEP_ATTEMPTS
    failed = await UpdateRequest.get(id=request.id)
    # The district reads which step failed; the exception's text is for hosting staff only.
    assert failed.status_message is not None and "Verify the site" in failed.status_message
    assert "socket closed" not in failed.status_message
    assert failed.internal_detail is not None and "socket closed" in failed.internal_detail


# --------------------------------------------------------------------------- redelivery, dropping


async def test_a_redelivered_job_resumes_after_the_last_checkpoint(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    reached = asyncio.Event()

    async def hang_in_install(job: StepJob, report: ProgressCallback) -> None:
        if job.step == "install_version":
            reached.set()
            await asyncio.Event().wait()  # the worker dies here

    first = asyncio.create_task(run_request(request.id, SETTINGS, FakeExecutor(during=hang_in_install)))
    await asyncio.wait_for(reached.wait(), WITHIN)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    interrupted = await UpdateRequest.get(id=request.id)
    assert (interrupted.status, interrupted.completed_steps) == (
        UpdateStatus.IN_PROGRESS,
        ["backup", "stop_site"],
    )

    again = FakeExecutor()
    assert await run_request(request.id, SETTINGS, again) is Outcome.COMPLETED
    assert again.steps == VERSION_STEPS[2:]
    finished = await UpdateRequest.get(id=request.id)
    assert finished.completed_steps == VERSION_STEPS and finished.attempts == 2


async def test_a_job_for_a_cancelled_request_is_dropped(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await request_and_schedule(scene)
    await cancel_update_request(scene.requester, request.id)
    executor = FakeExecutor()
    assert await run_request(request.id, SETTINGS, executor) is Outcome.DROPPED
    assert executor.steps == []
    assert (await UpdateRequest.get(id=request.id)).status is UpdateStatus.CANCELLED


async def test_a_job_for_a_finished_request_is_dropped(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    await run_request(request.id, SETTINGS, FakeExecutor())
    executor = FakeExecutor()
    assert await run_request(request.id, SETTINGS, executor) is Outcome.DROPPED
    assert executor.steps == []


async def test_a_request_stopped_during_a_step_drops_the_rest(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await dispatched(scene)

    async def staff_give_up(job: StepJob, report: ProgressCallback) -> None:
        if job.step == "stop_site":
            await set_update_request_status(
                scene.staff, job.request_id, UpdateStatus.UNABLE_TO_COMPLETE, "Stopped by staff"
            )

    executor = FakeExecutor(during=staff_give_up)
    assert await run_request(request.id, SETTINGS, executor) is Outcome.DROPPED
    assert executor.steps == ["backup", "stop_site"]
    stopped = await UpdateRequest.get(id=request.id)
    assert (stopped.status, stopped.status_message) == (UpdateStatus.UNABLE_TO_COMPLETE, "Stopped by staff")
    assert stopped.completed_steps == ["backup"]


# --------------------------------------------------------------------------- the metric


async def test_every_outcome_is_counted_under_the_request_s_kind(db: support.TestDatabase) -> None:
    scene = await make_scene((EnvironmentKind.PRODUCTION, EnvironmentKind.STAGING))
    completed, failed = await dispatched(scene), await dispatched(scene, environment=EnvironmentKind.STAGING)
    before = {
        outcome: jobs_counted("VERSION_UPDATE", outcome) for outcome in (Outcome.COMPLETED, Outcome.FAILED)
    }
    unknown_before = jobs_counted("unknown", Outcome.DROPPED)

    await run_request(completed.id, SETTINGS, FakeExecutor())
    await run_request(failed.id, SETTINGS, FakeExecutor({"backup": [StepFailed("no", retryable=False)]}))
    await run_request(987_654, SETTINGS, FakeExecutor())

    assert jobs_counted("VERSION_UPDATE", Outcome.COMPLETED) == before[Outcome.COMPLETED] + 1
    assert jobs_counted("VERSION_UPDATE", Outcome.FAILED) == before[Outcome.FAILED] + 1
    assert jobs_counted("unknown", Outcome.DROPPED) == unknown_before + 1
