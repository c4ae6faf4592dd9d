"""Leases across machines whose clocks disagree ("Running safely": one job per environment,
nothing stranded). A worker's clock behind the scheduler's by more than a lease, or the
scheduler's ahead of the worker's, must not make a job in a long step look dead: no second job
begins on its site, and the healthy request is neither reclaimed nor given up. A worker's clock
ahead must not keep a dead job's request stranded for longer than one lease plus one pass. Staff
giving up work of a worker whose clock is behind keep its site held while the job may still be in
its step.

Clocks per task (`tests.support_clocks`); the database's clock is the true one. PostgreSQL only:
on SQLite every process runs on the machine that has the file, so there is one clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from infra.settings import Settings
from models.enums import EnvironmentKind, UpdateStatus
from models.requests import leases
from models.requests.execution import begin
from models.requests.staff import set_update_request_status
from models.tables import Environment, UpdateRequest
from tests import support
from tests.support_clocks import per_task_clocks, start_with_clock
from tests.workers.scenario import make_scene, request_and_schedule
from workers.executors import ProgressCallback, StepJob
from workers.runbooks import Outcome, run_request
from workers.scheduler import dispatch_pass

WITHIN = 15.0
S = UpdateStatus
#: Far more than any lease.
HOUR = timedelta(hours=1)


@pytest.fixture
def skewed(db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch) -> support.TestDatabase:
    if not db.is_postgres:
        pytest.skip("one SQLite file, one machine: its processes share one clock")
    per_task_clocks(monkeypatch)
    return db


def settings_for(db: support.TestDatabase, lease_seconds: float) -> Settings:
    return Settings(
        database_url=db.url,
        simulated_step_seconds=0,
        scheduler_interval=0.05,
        step_retry_delay=0,
        lease_seconds=lease_seconds,
    )


class Queue:
    def __init__(self) -> None:
        self.update_requests: list[int] = []

    async def enqueue_update_request(self, request_id: int) -> None:
        self.update_requests.append(request_id)

    async def enqueue_notification(self, notification_id: int) -> None:
        return None

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        return None


class OneSite:
    """Every job's steps on the one site: instant, except `hold`, which waits until released.
    Counts the jobs inside a step at once (more than one: two jobs on one environment)."""

    def __init__(self, hold: str) -> None:
        self.hold = hold
        self.entered: asyncio.Queue[str] = asyncio.Queue()
        self.release = asyncio.Event()
        self.inside = 0
        self.most_at_once = 0
        self.steps: list[str] = []

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        self.inside += 1
        self.most_at_once = max(self.most_at_once, self.inside)
        try:
            if job.step == self.hold:
                self.entered.put_nowait(job.step)
                await self.release.wait()
            self.steps.append(job.step)
        finally:
            self.inside -= 1


class Renewals:
    """Awaitable renewals of the job's lease (the real ones, counted)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.renewed = asyncio.Event()
        real = leases.renew_lease

        async def counted(*args: object, **kwargs: object) -> bool:
            kept = await real(*args, **kwargs)  # type: ignore[arg-type]
            if kept:
                self.renewed.set()
            return kept

        monkeypatch.setattr(leases, "renew_lease", counted)

    async def next(self) -> None:
        self.renewed.clear()
        await asyncio.wait_for(self.renewed.wait(), WITHIN)


@pytest.mark.parametrize(
    ("worker_clock", "scheduler_clock"),
    [(-HOUR, timedelta(0)), (timedelta(0), HOUR)],
    ids=["worker-behind", "scheduler-ahead"],
)
async def test_a_long_step_under_skewed_clocks_keeps_its_site_alone_and_completes(
    skewed: support.TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    worker_clock: timedelta,
    scheduler_clock: timedelta,
) -> None:
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))
    settings = settings_for(skewed, lease_seconds=0.6)  # renewed every 0.2 s
    renewals = Renewals(monkeypatch)
    request = await request_and_schedule(scene)
    queue = Queue()

    async def scheduler_pass() -> list[int]:
        return await start_with_clock(scheduler_clock, dispatch_pass(queue, settings))

    assert await scheduler_pass() == [request.id]
    site = OneSite(hold="install_version")
    jobs = [start_with_clock(worker_clock, run_request(request.id, settings, site))]
    await asyncio.wait_for(site.entered.get(), WITHIN)
    for _ in range(2):  # a pass right after begin, and one after a renewal during the long step
        enqueued = await scheduler_pass()
        # Whatever the scheduler enqueued, a worker (with the scheduler's clock) runs at once.
        for request_id in enqueued:
            again = start_with_clock(scheduler_clock, run_request(request_id, settings, site))
            jobs.append(again)
            entered = asyncio.ensure_future(site.entered.get())
            await asyncio.wait({again, entered}, timeout=WITHIN, return_when=asyncio.FIRST_COMPLETED)
            entered.cancel()
        assert enqueued == [], "the scheduler took a live job's lease for lapsed"
        await renewals.next()
    site.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(*jobs), WITHIN)
    assert site.most_at_once == 1, "two jobs were inside a step on one site"
    assert outcomes == [Outcome.COMPLETED]
    done = await UpdateRequest.get(id=request.id)
    assert (done.status, done.attempts, done.reclaims) == (S.COMPLETED, 1, 0)


async def test_a_dead_job_of_a_worker_clock_ahead_is_reclaimed_one_lease_later(
    skewed: support.TestDatabase,
) -> None:
    """The job begins and its process dies at once: no renewal. The scheduler (true clock) must
    enqueue it again once one lease has passed, not once the worker's clock would say so."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))
    settings = settings_for(skewed, lease_seconds=30)
    request = await request_and_schedule(scene)
    queue = Queue()
    assert await dispatch_pass(queue, settings) == [request.id]
    policy = settings.run_policy
    assert await start_with_clock(HOUR, begin(request.id, token="job-that-dies", policy=policy)) is not None
    a_lease_later = datetime.now(UTC) + policy.lease + timedelta(seconds=1)
    assert await dispatch_pass(queue, settings, now=a_lease_later) == [request.id]
    reclaimed = await UpdateRequest.get(id=request.id)
    assert (reclaimed.status, reclaimed.lease_token, reclaimed.reclaims) == (S.IN_PROGRESS, None, 1)


async def test_staff_giving_up_work_of_a_worker_clock_behind_keep_its_site_while_the_job_may_run(
    skewed: support.TestDatabase,
) -> None:
    """Staff (the API's clock, true) give up a request whose job (clock an hour behind) is inside
    a step: the job's lease is live, so the site stays held for it, not handed to other work."""
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION,))
    settings = settings_for(skewed, lease_seconds=30)
    request = await request_and_schedule(scene)
    assert await dispatch_pass(Queue(), settings) == [request.id]
    policy = settings.run_policy
    assert await start_with_clock(-HOUR, begin(request.id, token="job-in-a-step", policy=policy)) is not None
    await set_update_request_status(scene.staff, request.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.")
    production = await Environment.get(district_id=scene.district.id)
    assert (production.running_request_id, production.online) == (request.id, False)
    # The scheduler's sweep (true clock) does not free it either while the lease holds.
    await dispatch_pass(Queue(), settings)
    production = await Environment.get(id=production.id)
    assert production.running_request_id == request.id
