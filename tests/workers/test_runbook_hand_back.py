"""A stopping process hands its runbooks' requests back (`RunningJobs`, both backends): the running
step is stopped, the lease released with the try given back, and the next job resumes from the
checkpoints; a closing process begins nothing; a step's retry pause is cut short too; a stop that
comes while the job completes lets the completion through."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from infra.settings import Settings
from models.enums import UpdateStatus
from models.requests import claims
from models.tables import Environment, UpdateRequest
from tests import support
from tests.workers.runbook_support import FakeExecutor, dispatched
from tests.workers.scenario import make_scene
from workers.errors import StepFailed
from workers.executors import ProgressCallback, StepJob
from workers.job_lease import RunningJobs
from workers.runbooks import VERSION_UPDATE_STEPS, Outcome, run_request

VERSION_STEPS = [step.name for step in VERSION_UPDATE_STEPS]
LONG_STEP = VERSION_STEPS[2]
#: One try per step: a stop that counted as a try would leave nothing for the next job.
SETTINGS = Settings(step_attempts=1, step_retry_delay=0)
#: Bounds a wait for something the runbook must do; only a broken runbook makes a test wait this long.
WITHIN = 10.0


class HangsIn:
    """`during` for FakeExecutor: the step `step` runs until cancelled; `inside` is set once it has
    begun, `stopped` once it was cancelled."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.inside = asyncio.Event()
        self.stopped = asyncio.Event()

    async def __call__(self, job: StepJob, report: ProgressCallback) -> None:
        if job.step != self.step:
            return
        self.inside.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.stopped.set()


async def test_a_stopping_process_hands_a_running_request_back_without_counting_the_try(
    db: support.TestDatabase,
) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    jobs = RunningJobs()
    hangs = HangsIn(LONG_STEP)
    job = asyncio.create_task(run_request(request.id, SETTINGS, FakeExecutor(during=hangs), jobs))
    await asyncio.wait_for(hangs.inside.wait(), WITHIN)
    assert (await UpdateRequest.get(id=request.id)).attempts == 1

    assert await jobs.hand_back_all(WITHIN) == (1, 0)
    assert job.done() and job.result() is Outcome.HANDED_BACK and hangs.stopped.is_set()
    handed = await UpdateRequest.get(id=request.id)
    assert (handed.status, handed.lease_token, handed.attempts) == (UpdateStatus.IN_PROGRESS, None, 0)
    assert handed.completed_steps == VERSION_STEPS[:2]

    # A closed process begins nothing (the try is not taken); another process resumes the request.
    assert await run_request(request.id, SETTINGS, FakeExecutor(), jobs) is Outcome.DROPPED
    assert (await UpdateRequest.get(id=request.id)).attempts == 0
    resumed = FakeExecutor()
    assert await run_request(request.id, SETTINGS, resumed, RunningJobs()) is Outcome.COMPLETED
    assert resumed.steps == VERSION_STEPS[2:]
    assert (await UpdateRequest.get(id=request.id)).attempts == 1


async def test_a_stop_during_the_pause_between_a_steps_tries_does_not_wait_it_out(
    db: support.TestDatabase,
) -> None:
    scene = await make_scene()
    request = await dispatched(scene)
    jobs = RunningJobs()
    failed_once = asyncio.Event()

    async def fails_then_notes(job: StepJob, report: ProgressCallback) -> None:
        if job.step == LONG_STEP and not failed_once.is_set():
            failed_once.set()
            raise StepFailed("mirror timed out")

    an_hour_between_tries = Settings(step_attempts=2, step_retry_delay=3600)
    job = asyncio.create_task(
        run_request(request.id, an_hour_between_tries, FakeExecutor(during=fails_then_notes), jobs)
    )
    await asyncio.wait_for(failed_once.wait(), WITHIN)
    assert await jobs.hand_back_all(WITHIN) == (1, 0)
    assert job.done() and job.result() is Outcome.HANDED_BACK
    handed = await UpdateRequest.get(id=request.id)
    assert (handed.lease_token, handed.attempts) == (None, 0)


async def test_a_job_that_begins_as_its_process_closes_hands_back_before_its_first_step(
    db: support.TestDatabase,
) -> None:
    """The process closes between the job's check and its begin: the job holds the lease for a
    moment, then gives it back with the try, running no step."""
    scene = await make_scene()
    request = await dispatched(scene)
    jobs = RunningJobs()
    executor = FakeExecutor()
    job = asyncio.create_task(run_request(request.id, SETTINGS, executor, jobs))
    await asyncio.sleep(0)  # the job has passed its check and is beginning
    jobs.closed = True
    assert await asyncio.wait_for(job, WITHIN) is Outcome.HANDED_BACK
    assert executor.steps == []
    handed = await UpdateRequest.get(id=request.id)
    assert (handed.status, handed.lease_token, handed.attempts) == (UpdateStatus.IN_PROGRESS, None, 0)


async def test_a_stop_while_the_job_completes_lets_the_completion_through(
    db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop arrives inside the COMPLETED transaction (after the last step, while the site is
    being given back): only a step is ever cancelled, so the request completes, the site is free,
    and nothing is handed back for another job to run again."""
    scene = await make_scene()
    request = await dispatched(scene)
    jobs = RunningJobs()
    inside, go_on = asyncio.Event(), asyncio.Event()
    release = claims.release

    async def release_when_told(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        await go_on.wait()
        return await release(*args, **kwargs)

    monkeypatch.setattr(claims, "release", release_when_told)
    job = asyncio.create_task(run_request(request.id, SETTINGS, FakeExecutor(), jobs))
    await asyncio.wait_for(inside.wait(), WITHIN)
    stopping = asyncio.create_task(jobs.hand_back_all(WITHIN))
    await asyncio.sleep(0)  # the stop has reached the job's lease
    assert jobs.closed and not stopping.done()
    go_on.set()
    assert await asyncio.wait_for(stopping, WITHIN) == (1, 0)
    assert job.result() is Outcome.COMPLETED
    completed = await UpdateRequest.get(id=request.id)
    assert (completed.status, completed.lease_token, completed.attempts) == (UpdateStatus.COMPLETED, None, 1)
    site = await Environment.get(id=completed.environment_id)
    assert site.running_request_id is None
    assert site.current_version == completed.target_version


async def test_a_job_that_does_not_hand_back_in_time_is_counted_as_left() -> None:
    """The stopping worker's log must not say a job was handed back when its wait ran out."""
    jobs = RunningJobs()
    release = asyncio.Event()
    entered = asyncio.Event()

    class Unheeded:
        def hand_back(self) -> None:
            pass  # a job stuck where it cannot see the stop (its step's kill not done yet)

    async def stuck() -> None:
        with jobs.running(cast(Any, Unheeded())):
            entered.set()
            await release.wait()

    job = asyncio.create_task(stuck())
    await asyncio.wait_for(entered.wait(), WITHIN)
    assert await jobs.hand_back_all(0.01) == (1, 1)
    release.set()
    await job
