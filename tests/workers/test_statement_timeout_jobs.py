"""Outside GraphQL, a statement the database cuts off (`statement_timeout`, here held past it by a
row lock of another connection) is a passing fault: the scheduler's pass is rolled back and the
next one dispatches; a runbook job's request is handed on through its lease, and the worker goes
on. PostgreSQL only (SQLite has no statement timeout)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from infra.settings import Settings
from models.enums import EnvironmentKind, UpdateStatus
from models.errors import statement_cancelled
from models.tables import Environment, UpdateRequest
from tests import support
from tests.infra.test_statement_timeout import raw_connection, service_connection
from tests.workers.scenario import make_scene, request_and_schedule
from tests.workers.test_leases_in_workers import HoldingExecutor, Queue, settings_for
from tests.workers.test_scheduler import RecordingQueue, _due_requests
from workers.embedded import EmbeddedQueue
from workers.executors import ProgressCallback, StepJob
from workers.runbooks import VERSION_UPDATE_STEPS
from workers.scheduler import Scheduler, dispatch_pass

WITHIN = 15.0
S = UpdateStatus


class Failures(logging.Handler):
    """Says when a logger reports a failure (its message containing `words`), keeping its error
    (logged with it, or named in the message)."""

    def __init__(self, logger: str, words: str, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.logger = logging.getLogger(logger)
        self.words = words
        self.errors: list[BaseException | None] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            args = record.args if isinstance(record.args, tuple) else ()
            named = next((arg for arg in args if isinstance(arg, BaseException)), None)
            self.errors.append(record.exc_info[1] if record.exc_info else named)
            self.seen.set()

    def __enter__(self) -> Failures:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        self.logger.removeHandler(self)


class ReportingHold(HoldingExecutor):
    """Reports progress in its held step before it waits: its "starting" progress is written
    before the test takes the lock, so the checkpoint is the one write that meets it."""

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        if job.step == self.hold:
            await report(50, None)
        await super().run_step(job, report)


async def test_a_due_request_cut_off_waits_for_the_next_pass_and_the_rest_is_dispatched(
    postgres_db: support.TestDatabase,
) -> None:
    """The pass moves the first due request to NOT_STARTED, then waits to claim its site, whose
    row another connection holds past the timeout: that request's move is undone and it waits for
    a later pass; the pass goes on and dispatches the one behind it (one locked row does not stop
    every dispatch), and the scheduler lives on."""
    locked_id, other_id = await _due_requests(2)
    environment_id = (await UpdateRequest.get(id=locked_id)).environment_id
    queue, passed = RecordingQueue(), asyncio.Event()
    url = postgres_db.url
    settings = Settings(database_url=url, scheduler_interval=3600)  # only a wake brings a pass
    with (
        Failures("models.requests.dispatch", "not dispatched this pass", logging.WARNING) as skipped,
        Failures("workers.scheduler", "dispatch pass failed") as failed,
    ):
        async with raw_connection(url) as holder, service_connection(url):
            scheduler = Scheduler(queue, settings, on_pass=passed.set)
            async with holder.transaction():
                await holder.execute("SELECT id FROM environment WHERE id = $1 FOR UPDATE", environment_id)
                running = asyncio.create_task(scheduler.run())
                try:
                    await asyncio.wait_for(passed.wait(), WITHIN)
                except BaseException:
                    scheduler.stop()
                    await running
                    raise
            try:
                assert len(skipped.errors) == 1 and statement_cancelled(skipped.errors[0])
                assert failed.errors == []
                assert queue.update_requests == [other_id]
                # Nothing half-done: the move to NOT_STARTED went with the claim it waited for.
                stored = await UpdateRequest.get(id=locked_id)
                assert (stored.status, stored.dispatched_at, stored.lease_token) == (S.SCHEDULED, None, None)
                site = await Environment.get(id=environment_id)
                assert site.running_request_id is None
                # The lock is gone: the next pass dispatches it.
                passed.clear()
                scheduler.wake()
                await asyncio.wait_for(passed.wait(), WITHIN)
            finally:
                scheduler.stop()
                await running
    assert queue.update_requests == [other_id, locked_id]
    stored = await UpdateRequest.get(id=locked_id)
    assert stored.status is S.NOT_STARTED
    assert (await Environment.get(id=environment_id)).running_request_id == locked_id


@pytest.mark.parametrize("cut_off", ["begin", "checkpoint"])
async def test_a_runbook_job_cut_off_hands_its_request_on_and_the_worker_goes_on(
    postgres_db: support.TestDatabase, cut_off: str
) -> None:
    """The job's begin, or the checkpoint of its second step, waits on the request's row, which
    another connection holds past the timeout: the job fails, the worker does not; the request
    keeps the job's lease, which lapses, and the scheduler gives it to the next job, which resumes
    after the last checkpoint that was written."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))  # no sandbox to follow
    url = postgres_db.url
    settings = settings_for(postgres_db, lease_seconds=60)
    request = await request_and_schedule(scene)
    lock = "SELECT id FROM update_request WHERE id = $1 FOR UPDATE"
    with Failures("workers.embedded", "job failed") as failed:
        async with raw_connection(url) as holder, service_connection(url):
            assert await dispatch_pass(Queue(), settings) == [request.id]
            executor = ReportingHold("stop_site" if cut_off == "checkpoint" else "none")
            worker = EmbeddedQueue(settings, executor)
            try:
                async with holder.transaction():
                    if cut_off == "begin":
                        await holder.execute(lock, request.id)
                        await worker.enqueue_update_request(request.id)
                    else:
                        await worker.enqueue_update_request(request.id)
                        await asyncio.wait_for(executor.reached.wait(), WITHIN)
                        await holder.execute(lock, request.id)
                        executor.release.set()  # the step ends; its checkpoint waits for the row
                    await worker.wait_idle(WITHIN)
                assert [statement_cancelled(error) for error in failed.errors] == [True]
                stored = await UpdateRequest.get(id=request.id)
                if cut_off == "begin":
                    assert (stored.status, stored.attempts) == (S.NOT_STARTED, 0)
                else:
                    assert (stored.status, stored.completed_steps) == (S.IN_PROGRESS, ["backup"])
                # Its lease (the dispatch's, or the job's) stands: the scheduler reclaims it once lapsed.
                assert stored.lease_expires_at is not None
                later = datetime.now(UTC) + timedelta(minutes=5)
                assert await dispatch_pass(Queue(), settings, later) == [request.id]
                # The same worker runs the next job to the end.
                await worker.enqueue_update_request(request.id)
                await worker.wait_idle(WITHIN)
            finally:
                await worker.close()
    finished = await UpdateRequest.get(id=request.id)
    assert (finished.status, finished.lease_token) == (S.COMPLETED, None)
    ran = [step.name for step in VERSION_UPDATE_STEPS]
    assert executor.steps == (["backup", "stop_site", *ran[1:]] if cut_off == "checkpoint" else ran)


async def test_a_lease_renewal_cut_off_is_tried_again_and_the_job_keeps_its_lease(
    postgres_db: support.TestDatabase,
) -> None:
    """A renewal waits on the request's row past the timeout while the step runs: the job keeps
    working (its lease has not lapsed), renews at the next turn and finishes, with one try."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))
    url = postgres_db.url
    settings = settings_for(postgres_db, lease_seconds=4)  # renewed every 1.3 s
    request = await request_and_schedule(scene)
    lock = "SELECT id FROM update_request WHERE id = $1 FOR UPDATE"
    with Failures("workers.job_lease", "could not renew the lease", logging.WARNING) as renewal:
        async with raw_connection(url) as holder, service_connection(url):
            assert await dispatch_pass(Queue(), settings) == [request.id]
            executor = ReportingHold("stop_site")
            worker = EmbeddedQueue(settings, executor)
            try:
                await worker.enqueue_update_request(request.id)
                await asyncio.wait_for(executor.reached.wait(), WITHIN)
                async with holder.transaction():
                    await holder.execute(lock, request.id)
                    await asyncio.wait_for(renewal.seen.wait(), WITHIN)
                executor.release.set()
                await worker.wait_idle(WITHIN)
            finally:
                await worker.close()
    assert [statement_cancelled(error) for error in renewal.errors] == [True]
    finished = await UpdateRequest.get(id=request.id)
    assert (finished.status, finished.attempts, finished.reclaims) == (S.COMPLETED, 1, 0)
    assert executor.steps == [step.name for step in VERSION_UPDATE_STEPS]
