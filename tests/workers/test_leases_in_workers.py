"""Leases in the workers (issue 12, item 4): the runbook renews its lease while it works; a job
whose lease another took stops without side effects; an embedded job that raises does not strand
its request; the scheduler's give-up reaches the hosting team (log, metric, mail). On both
backends."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.metrics import STAFF_ALERTS
from infra.settings import Settings
from models.enums import EnvironmentKind, NotificationKind, UpdateStatus
from models.requests import leases
from models.requests.execution import begin
from models.requests.staff import schedule_update_request, set_update_request_status
from models.tables import Environment, Notification, UpdateRequest
from tests import support
from tests.workers.conftest import wait_until
from tests.workers.scenario import make_scene, request_and_schedule
from workers import runbooks
from workers.executors import ProgressCallback, StepJob
from workers.runbooks import Outcome, run_request
from workers.runtime import embedded_runtime
from workers.scheduler import dispatch_pass

WITHIN = 15.0
S = UpdateStatus


def settings_for(db: support.TestDatabase, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db.url,
        "simulated_step_seconds": 0,
        "scheduler_interval": 0.05,
        "step_retry_delay": 0,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


async def status_of(request_id: int) -> UpdateStatus:
    return (await UpdateRequest.get(id=request_id)).status


class HoldingExecutor:
    """Finishes every step at once, except `hold`, which waits until released (or cancelled)."""

    def __init__(self, hold: str) -> None:
        self.hold = hold
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False
        self.steps: list[str] = []

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        if job.step == self.hold:
            self.reached.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        self.steps.append(job.step)


class Queue:
    def __init__(self) -> None:
        self.update_requests: list[int] = []

    async def enqueue_update_request(self, request_id: int) -> None:
        self.update_requests.append(request_id)

    async def enqueue_notification(self, notification_id: int) -> None:
        return None

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        return None


async def test_a_long_runbook_keeps_its_lease_by_renewing_it(db: support.TestDatabase) -> None:
    """Six steps of 0.15 s under a 0.3 s lease: without renewals the scheduler would reclaim it."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))  # no sandbox to follow
    settings = settings_for(db, simulated_step_seconds=0.15, lease_seconds=0.3)
    async with embedded_runtime(settings) as runtime:
        request = await request_and_schedule(scene)

        async def done() -> bool:
            return await status_of(request.id) is S.COMPLETED

        await wait_until(done, WITHIN, "the update")
        assert runtime.embedded_queue is not None
        await runtime.embedded_queue.wait_idle(WITHIN)
    finished = await UpdateRequest.get(id=request.id)
    assert (finished.attempts, finished.reclaims, finished.lease_token) == (1, 0, None)


async def test_a_job_whose_lease_was_taken_stops_without_side_effects(db: support.TestDatabase) -> None:
    scene = await make_scene()
    # Renewals every second: none lands between the reclaim's read and its compare-and-set.
    settings = settings_for(db, lease_seconds=3)
    request = await request_and_schedule(scene)
    queue = Queue()
    assert await dispatch_pass(queue, settings) == [request.id]
    executor = HoldingExecutor("install_version")
    job = asyncio.create_task(run_request(request.id, settings, executor))
    await asyncio.wait_for(executor.reached.wait(), WITHIN)
    # The job looks dead to the scheduler (say its machine stalled): its lease is reclaimed.
    later = datetime.now(UTC) + timedelta(minutes=5)
    [reclaimed] = await leases.reclaim_lapsed(settings.run_policy, later)
    assert reclaimed.outcome is leases.Reclaim.REQUEUED
    assert await asyncio.wait_for(job, WITHIN) is Outcome.DROPPED
    assert executor.cancelled and executor.steps == ["backup", "stop_site"]
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.completed_steps, stored.lease_token) == (
        S.IN_PROGRESS,
        ["backup", "stop_site"],
        None,
    )
    # The next job resumes where the first stopped, and finishes.
    resumed = HoldingExecutor("none")
    assert await run_request(request.id, settings, resumed) is Outcome.COMPLETED
    assert resumed.steps == ["install_version", "migrate_schema", "start_site", "verify"]


async def test_an_embedded_job_that_raises_does_not_strand_its_request(
    db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: an embedded job that raised left the request IN_PROGRESS and its site offline."""
    scene = await make_scene()
    calls: list[int] = []

    async def broken(request_id: int, **kwargs: object) -> UpdateRequest:
        calls.append(request_id)
        raise RuntimeError("the database connection was reset")

    monkeypatch.setattr(runbooks.completion, "complete", broken)
    settings = settings_for(db, lease_seconds=0.2, step_attempts=2)
    async with embedded_runtime(settings) as runtime:
        request = await request_and_schedule(scene)

        async def given_up() -> bool:
            return await status_of(request.id) is S.UNABLE_TO_COMPLETE

        await wait_until(given_up, WITHIN, "the lapsed lease to be given up")
        assert runtime.embedded_queue is not None
        await runtime.embedded_queue.wait_idle(WITHIN)
    assert calls == [request.id, request.id]  # two jobs took it, each raised
    failed = await UpdateRequest.get(id=request.id)
    assert failed.attempts == 2 and failed.internal_detail is not None
    production = await Environment.get(district_id=scene.district.id, kind=EnvironmentKind.PRODUCTION)
    assert (production.online, production.running_request_id) == (True, None)


async def test_a_given_up_request_alerts_the_hosting_team(
    db: support.TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    scene = await make_scene()
    settings = settings_for(db, lease_seconds=60, step_attempts=1, staff_alert_email="oncall@hosting.example")
    request = await request_and_schedule(scene)
    queue = Queue()
    assert await dispatch_pass(queue, settings) == [request.id]
    assert await begin(request.id, token="dead-worker", policy=settings.run_policy) is not None
    before = STAFF_ALERTS.labels("given_up")._value.get()
    with caplog.at_level(logging.ERROR, logger="workers.scheduler"):
        await dispatch_pass(queue, settings, datetime.now(UTC) + timedelta(minutes=5))
    assert await status_of(request.id) is S.UNABLE_TO_COMPLETE
    assert STAFF_ALERTS.labels("given_up")._value.get() == before + 1
    assert any(f"request {request.id}" in r.getMessage() for r in caplog.records)
    mail = await Notification.get(kind=NotificationKind.STAFF_ALERT)
    assert mail.recipient == "oncall@hosting.example" and str(request.id) in mail.subject


async def test_the_district_reads_words_and_staff_read_the_redacted_output(
    db: support.TestDatabase, tmp_path: Path
) -> None:
    scene = await make_scene()
    script = tmp_path / "operator.sh"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$UPDATEDESK_STEP" = backup ]; then\n'
        '  echo "pg_dump: could not connect to postgres://backup:s3cret-pw@db.internal/campus" >&2; exit 2\n'
        "fi\n"
    )
    settings = settings_for(db, executor="command", command_version_update=f"sh {script}", step_attempts=1)
    async with embedded_runtime(settings):
        request = await request_and_schedule(scene)

        async def failed() -> bool:
            return await status_of(request.id) is S.UNABLE_TO_COMPLETE

        await wait_until(failed, WITHIN, "the failure")
    stored = await UpdateRequest.get(id=request.id)
    assert stored.status_message is not None and "Back up the site" in stored.status_message
    assert "pg_dump" not in stored.status_message
    assert stored.internal_detail is not None and "could not connect" in stored.internal_detail
    assert "s3cret-pw" not in stored.internal_detail


@pytest.mark.parametrize("outage", ["refused", "no answer"])
async def test_a_job_that_cannot_renew_its_lease_stops_its_step_once_the_lease_has_lapsed(
    db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch, outage: str
) -> None:
    """The worker loses the database in the middle of a step: its renewals fail, or hang. Once its
    lease has lapsed the scheduler may hand the request to another job, so this one stops its
    running step then (it does not go on working the site beside the next job) and writes nothing."""
    scene = await make_scene()
    settings = settings_for(db, lease_seconds=0.3)
    request = await request_and_schedule(scene)
    assert await dispatch_pass(Queue(), settings) == [request.id]
    executor = HoldingExecutor("install_version")
    job = asyncio.create_task(run_request(request.id, settings, executor))
    await asyncio.wait_for(executor.reached.wait(), WITHIN)
    asked: list[int] = []
    answer = asyncio.Event()

    async def unreachable(request_id: int, *args: object, **kwargs: object) -> bool:
        asked.append(request_id)
        if outage == "no answer":
            await answer.wait()
        raise ConnectionError("could not reach the database")

    monkeypatch.setattr(leases, "renew_lease", unreachable)
    assert await asyncio.wait_for(job, WITHIN) is Outcome.DROPPED
    assert asked and executor.cancelled and executor.steps == ["backup", "stop_site"]
    answer.set()  # the renewal left waiting ends (and fails)
    monkeypatch.undo()
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.completed_steps) == (S.IN_PROGRESS, ["backup", "stop_site"])
    # The next job, once the scheduler reclaims the lapsed lease, resumes after the checkpoints.
    [reclaimed] = await leases.reclaim_lapsed(settings.run_policy, datetime.now(UTC) + timedelta(seconds=1))
    assert reclaimed.outcome is leases.Reclaim.REQUEUED
    resumed = HoldingExecutor("none")
    assert await run_request(request.id, settings, resumed) is Outcome.COMPLETED
    assert resumed.steps == ["install_version", "migrate_schema", "start_site", "verify"]


async def test_staff_giving_up_a_request_mid_step_keep_its_site_until_the_job_has_stopped(
    db: support.TestDatabase,
) -> None:
    """The job is inside a step when staff give the request up: it stops at its next renewal, and
    only then is the site given back (by the job itself, not by a sweep a lease later)."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))
    settings = settings_for(db, lease_seconds=0.6)  # renewed every 0.2 s
    request = await request_and_schedule(scene)
    assert await dispatch_pass(Queue(), settings) == [request.id]
    executor = HoldingExecutor("install_version")
    job = asyncio.create_task(run_request(request.id, settings, executor))
    await asyncio.wait_for(executor.reached.wait(), WITHIN)
    await set_update_request_status(scene.staff, request.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.")
    production = await Environment.get(district_id=scene.district.id)
    assert (production.running_request_id, production.online) == (request.id, False)  # still at work
    assert await asyncio.wait_for(job, WITHIN) is Outcome.DROPPED
    assert executor.cancelled and "install_version" not in executor.steps
    production = await Environment.get(id=production.id)
    assert (production.running_request_id, production.online) == (None, True)


async def test_a_site_a_dead_job_left_held_is_freed_by_the_scheduler_after_its_lease(
    db: support.TestDatabase,
) -> None:
    """As above, but the job's process dies before it learns it was given up: the scheduler's pass
    frees the site once the job's lease would have lapsed, not before."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))
    settings = settings_for(db, lease_seconds=30)
    request = await request_and_schedule(scene)
    assert await dispatch_pass(Queue(), settings) == [request.id]
    assert await begin(request.id, token="job-that-dies", policy=settings.run_policy) is not None
    await set_update_request_status(scene.staff, request.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.")
    lapses_at = (await UpdateRequest.get(id=request.id)).lease_expires_at
    assert lapses_at is not None
    await dispatch_pass(Queue(), settings, now=lapses_at - timedelta(seconds=1))
    assert (await Environment.get(district_id=scene.district.id)).running_request_id == request.id
    await dispatch_pass(Queue(), settings, now=lapses_at)
    production = await Environment.get(district_id=scene.district.id)
    assert (production.running_request_id, production.online) == (None, True)


@pytest.mark.parametrize("retried", [False, True], ids=["given-up", "tried-again"])
async def test_a_stalled_job_waking_after_staff_gave_up_leaves_the_site_to_the_job_still_at_work(
    db: support.TestDatabase, retried: bool
) -> None:
    """A zombie: the first job stalls inside a step (its machine paused), its lease lapses and the
    scheduler hands the request to a second job, which is inside a step when staff give the
    request up (and, `retried`, put it back and schedule it at once). The site stays held for the
    second job until it stops: the first job waking and stopping must not give it back while the
    second may still be at work on it (nor may the request start again on it)."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))
    settings = settings_for(db, lease_seconds=30)  # no renewal falls inside the test
    request = await request_and_schedule(scene)
    assert await dispatch_pass(Queue(), settings) == [request.id]
    first = HoldingExecutor("install_version")
    first_job = asyncio.create_task(run_request(request.id, settings, first))
    await asyncio.wait_for(first.reached.wait(), WITHIN)
    # The first job's machine stalls: its lease lapses, and the request goes to a second job.
    later = datetime.now(UTC) + timedelta(minutes=5)
    [reclaimed] = await leases.reclaim_lapsed(settings.run_policy, later)
    assert reclaimed.outcome is leases.Reclaim.REQUEUED
    second = HoldingExecutor("install_version")
    second_job = asyncio.create_task(run_request(request.id, settings, second))
    await asyncio.wait_for(second.reached.wait(), WITHIN)
    await set_update_request_status(scene.staff, request.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.")
    if retried:
        await set_update_request_status(scene.staff, request.id, S.TO_BE_SCHEDULED)
        await schedule_update_request(
            scene.staff, request.id, datetime.now(UTC), override_maintenance_window=True
        )
    # The first job wakes: its step ends, its checkpoint is refused, and it stops.
    first.release.set()
    assert await asyncio.wait_for(first_job, WITHIN) is Outcome.DROPPED
    production = await Environment.get(district_id=scene.district.id)
    assert (production.running_request_id, production.online) == (request.id, False)  # second at work
    assert await dispatch_pass(Queue(), settings) == []
    # The second job stops in turn and gives the site back.
    second.release.set()
    assert await asyncio.wait_for(second_job, WITHIN) is Outcome.DROPPED
    production = await Environment.get(id=production.id)
    assert (production.running_request_id, production.online) == (None, True)
