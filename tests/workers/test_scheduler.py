"""The dispatch loop: two schedulers at once dispatch every due request exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from infra.settings import Settings
from models.enums import EnvironmentKind, HostingModel, NotificationKind, UpdateKind, UpdateStatus
from models.tables import District, Environment, Notification, UpdateRequest
from tests import support
from tests.factories import unique
from tests.reliability.support import Row, count, record
from workers.mail import RETRY_LOST_AFTER
from workers.scheduler import (
    OUTBOX_STALE_SECONDS,
    SWEEP_EVERY_SECONDS,
    Scheduler,
    dispatch_pass,
    sweep_outbox,
)

DUE_REQUESTS = count(500, 2000)


class RecordingQueue:
    def __init__(self) -> None:
        self.update_requests: list[int] = []
        self.notifications: list[int] = []
        self.webhooks: list[int] = []

    async def enqueue_update_request(self, request_id: int) -> None:
        self.update_requests.append(request_id)
        await asyncio.sleep(0)  # let the other scheduler in between enqueues

    async def enqueue_notification(self, notification_id: int) -> None:
        self.notifications.append(notification_id)

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        self.webhooks.append(webhook_id)


async def _due_requests(count: int, *, one_site: bool = False) -> list[int]:
    """`count` due version updates, each on its own site (one job per environment), or all on one.
    ASP-hosted, so the wall clock of the run never puts them outside a maintenance window."""
    sites = 1 if one_site else count
    prefix = unique("Due")
    await District.bulk_create(
        [District(name=f"{prefix} {i}", hosting_model=HostingModel.ASP_HOSTED) for i in range(sites)]
    )
    district_ids = cast(
        list[int], await District.filter(name__startswith=prefix).order_by("id").values_list("id", flat=True)
    )
    await Environment.bulk_create(
        [
            Environment(district_id=d, kind=EnvironmentKind.PRODUCTION, current_version="Campus.2435.2")
            for d in district_ids
        ]
    )
    environments = await Environment.filter(district_id__in=list(district_ids)).values_list(
        "id", "district_id"
    )
    start = datetime.now(UTC) - timedelta(minutes=1)
    await UpdateRequest.bulk_create(
        [
            UpdateRequest(
                kind=UpdateKind.VERSION_UPDATE,
                status=UpdateStatus.SCHEDULED,
                district_id=environments[i % sites][1],
                environment_id=environments[i % sites][0],
                target_version="Campus.2435.4",
                scheduled_start=start,
                created_at=start,
                updated_at=start,
            )
            for i in range(count)
        ]
    )
    return cast(list[int], await UpdateRequest.filter(scheduled_start=start).values_list("id", flat=True))


@pytest.mark.reliability
async def test_two_schedulers_dispatch_each_due_request_exactly_once(
    postgres_db: support.TestDatabase, request: pytest.FixtureRequest
) -> None:
    await _due_requests(DUE_REQUESTS)
    settings = Settings(database_url=postgres_db.url)
    first, second = RecordingQueue(), RecordingQueue()
    await asyncio.gather(dispatch_pass(first, settings), dispatch_pass(second, settings))
    enqueued = Counter(first.update_requests + second.update_requests)
    assert len(enqueued) == DUE_REQUESTS and set(enqueued.values()) == {1}
    assert await UpdateRequest.filter(status=UpdateStatus.NOT_STARTED).count() == DUE_REQUESTS
    note = "two dispatch passes at once over the same due requests; each enqueued exactly once"
    record(Row("two schedulers", "race", DUE_REQUESTS, DUE_REQUESTS, note=note, test=request.node.nodeid))


async def test_a_job_not_begun_within_its_lease_is_enqueued_again(db: support.TestDatabase) -> None:
    await _due_requests(1)
    settings = Settings(database_url=db.url, lease_seconds=60)
    queue = RecordingQueue()
    [request_id] = await dispatch_pass(queue, settings)
    assert await dispatch_pass(queue, settings) == []  # its lease has not lapsed yet
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert await dispatch_pass(queue, settings, later) == [request_id]
    assert queue.update_requests == [request_id, request_id]
    assert await dispatch_pass(queue, settings, later) == []  # reclaimed once, by one pass


class FlakyQueue(RecordingQueue):
    """Redis refuses the next `failures` enqueues of a request's job."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    async def enqueue_update_request(self, request_id: int) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await super().enqueue_update_request(request_id)


async def test_jobs_redis_refused_at_their_re_enqueue_are_enqueued_by_the_next_pass(
    db: support.TestDatabase,
) -> None:
    """Two jobs were lost (their worker died before taking them), and Redis refuses the first
    enqueue of the sweep that finds their leases lapsed: that pass fails and tries no more, and the
    next pass enqueues both. Neither waits out the doubled lease of a re-enqueue that never
    happened, with no job queued for it."""
    ids = sorted(await _due_requests(2))
    settings = Settings(database_url=db.url, lease_seconds=60)
    queue = FlakyQueue()
    assert sorted(await dispatch_pass(queue, settings)) == ids
    lapsed = datetime.now(UTC) + timedelta(minutes=2)
    queue.failures = 1
    with pytest.raises(ConnectionError):  # the pass fails, and says so
        await dispatch_pass(queue, settings, lapsed)
    assert queue.update_requests[2:] == []
    assert sorted(await dispatch_pass(queue, settings, lapsed + timedelta(seconds=1))) == ids
    assert sorted(queue.update_requests[2:]) == ids
    assert await dispatch_pass(queue, settings, lapsed + timedelta(seconds=2)) == []  # once


async def test_a_job_redis_refused_at_its_dispatch_is_enqueued_once_its_lease_lapses(
    db: support.TestDatabase,
) -> None:
    """Redis is away when the dispatched request's job is enqueued: the pass fails, the request
    stays NOT_STARTED holding its site, and the first pass after its lease lapsed enqueues it."""
    [request_id] = await _due_requests(1)
    settings = Settings(database_url=db.url, lease_seconds=60)
    queue = FlakyQueue()
    queue.failures = 1
    with pytest.raises(ConnectionError):
        await dispatch_pass(queue, settings)
    assert queue.update_requests == []
    stored = await UpdateRequest.get(id=request_id)
    assert stored.status is UpdateStatus.NOT_STARTED and stored.lease_expires_at is not None
    assert await dispatch_pass(queue, settings, stored.lease_expires_at - timedelta(seconds=1)) == []
    assert await dispatch_pass(queue, settings, stored.lease_expires_at + timedelta(seconds=1)) == [
        request_id
    ]
    assert queue.update_requests == [request_id]


async def test_outbox_mails_whose_job_was_lost_are_enqueued_again(db: support.TestDatabase) -> None:
    now = datetime.now(UTC)
    lost = await Notification.create(
        kind=NotificationKind.COMPLETED, recipient="tc@example.org", subject="s", body="b"
    )
    fresh = await Notification.create(
        kind=NotificationKind.COMPLETED, recipient="tc@example.org", subject="s", body="b"
    )
    tried = await Notification.create(
        kind=NotificationKind.COMPLETED, recipient="tc@example.org", subject="s", body="b", attempts=1
    )
    old = now - timedelta(seconds=OUTBOX_STALE_SECONDS + 1)
    await Notification.filter(id__in=[lost.id, tried.id]).update(created_at=old)
    queue = RecordingQueue()
    assert await sweep_outbox(queue, now) == [lost.id]
    assert queue.notifications == [lost.id]
    assert fresh.id not in queue.notifications


async def test_outbox_mails_whose_retry_is_overdue_are_enqueued_again(db: support.TestDatabase) -> None:
    """A mail job's retries count every fault, the database's too, while the mail counts only its
    SMTP attempts: a job can run out of retries with the mail still PENDING and attempts left. No
    job looks after it then; once its retry is overdue by more than any backoff, it is sent again."""
    now = datetime.now(UTC)
    overdue, waiting = [
        await Notification.create(
            kind=NotificationKind.COMPLETED, recipient="tc@example.org", subject="s", body="b", attempts=2
        )
        for _ in range(2)
    ]
    await Notification.filter(id=overdue.id).update(claimed_at=now - RETRY_LOST_AFTER - timedelta(seconds=1))
    await Notification.filter(id=waiting.id).update(claimed_at=now - timedelta(minutes=1))  # retry to come
    queue = RecordingQueue()
    assert await sweep_outbox(queue, now) == [overdue.id]
    assert queue.notifications == [overdue.id]


class SweepWatch(RecordingQueue):
    """A queue that says when a swept mail job arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_enqueued = asyncio.Event()

    async def enqueue_notification(self, notification_id: int) -> None:
        await super().enqueue_notification(notification_id)
        self.mail_enqueued.set()


async def test_woken_passes_sweep_at_most_every_second_and_a_skipped_sweep_still_comes(
    db: support.TestDatabase,
) -> None:
    """A scheduler woken once per finished request must not repeat its sweeps each time, but a
    sweep a woken pass skipped must not wait for the poll (an hour here) either."""
    queue = SweepWatch()
    first_pass = asyncio.Event()
    scheduler = Scheduler(
        queue, Settings(database_url=db.url, scheduler_interval=3600), on_pass=first_pass.set
    )
    running = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(first_pass.wait(), 10)
        assert scheduler.sweeps == 1
        for _ in range(5):  # a burst of wakes right after a sweep: passes, no sweeps
            first_pass.clear()
            scheduler.wake()
            await asyncio.wait_for(first_pass.wait(), 10)
        passes_in_burst, sweeps_in_burst = scheduler.passes, scheduler.sweeps
        lost = await Notification.create(
            kind=NotificationKind.COMPLETED, recipient="tc@example.org", subject="s", body="b"
        )
        await Notification.filter(id=lost.id).update(
            created_at=datetime.now(UTC) - timedelta(seconds=OUTBOX_STALE_SECONDS + 1)
        )
        # No wake and an hour's poll: only the capped sleep brings the sweep that finds it.
        await asyncio.wait_for(queue.mail_enqueued.wait(), 10 * SWEEP_EVERY_SECONDS)
    finally:
        scheduler.stop()
        await running
    assert passes_in_burst >= 6
    assert sweeps_in_burst < passes_in_burst
    assert queue.notifications == [lost.id]


async def test_freed_sites_are_gathered_into_one_pass_and_a_scheduled_request_wakes_at_once(
    db: support.TestDatabase,
) -> None:
    """A worker finishing many requests frees a site each time: those wakes make one pass, not
    one each; a request becoming SCHEDULED still wakes the scheduler at once (an hour's poll here,
    so only a wake can bring a pass)."""
    passed = asyncio.Event()
    scheduler = Scheduler(
        RecordingQueue(), Settings(database_url=db.url, scheduler_interval=3600), on_pass=passed.set
    )
    running = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(passed.wait(), 10)
        passed.clear()
        before = scheduler.passes
        for _ in range(50):
            scheduler.wake_for(UpdateStatus.COMPLETED)
            scheduler.wake_for(UpdateStatus.UNABLE_TO_COMPLETE)
        scheduler.wake_for(UpdateStatus.IN_PROGRESS)  # frees nothing: no wake
        await asyncio.wait_for(passed.wait(), 10)
        assert scheduler.passes == before + 1
        assert not scheduler._wake.is_set() and scheduler._gathering is None  # nothing more pending
        passed.clear()
        scheduler.wake_for(UpdateStatus.SCHEDULED)
        assert scheduler._wake.is_set() and scheduler._gathering is None  # at once, not gathered
        await asyncio.wait_for(passed.wait(), 10)
    finally:
        scheduler.stop()
        await running
