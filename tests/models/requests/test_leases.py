"""Nothing stranded (issue 12, item 4): a started request is leased by the job running it; the
scheduler reclaims lapsed leases, enqueues the job again, and gives the request up once its
attempts are spent: UNABLE_TO_COMPLETE, site online, district and staff told.
Injected clocks; against a real database, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.enums import EnvironmentKind, NotificationKind, UpdateStatus
from models.errors import DomainError
from models.requests.completion import Held, complete, fail
from models.requests.dispatch import dispatch
from models.requests.execution import begin, finish_step, report_progress, take_lease
from models.requests.leases import (
    Reclaim,
    reclaim_lapsed,
    release_abandoned,
    release_lease,
    release_stopped,
    renew_lease,
    requeue_failed,
)
from models.requests.queries import load_with_site
from models.running import RunPolicy
from models.tables import Environment, Notification, StatusChange, UpdateRequest
from tests.models.scenario import IN_WINDOW, RUN_AT, World, make_world, status_of

S = UpdateStatus
LEASE = timedelta(seconds=60)
POLICY = RunPolicy(lease=LEASE, attempts=2, staff_alert_email="oncall@hosting.example")


async def running(world: World) -> UpdateRequest:
    """A production version update whose job began at RUN_AT with token 'first-job'."""
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    assert await begin(request.id, now=RUN_AT, token="first-job", policy=POLICY) is not None
    return await UpdateRequest.get(id=request.id)


async def test_dispatch_leases_the_request_for_a_job_to_begin(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.lease_token, stored.lease_expires_at, stored.attempts) == (None, IN_WINDOW + LEASE, 0)
    # Not lapsed yet: nothing to reclaim.
    assert await reclaim_lapsed(POLICY, now=IN_WINDOW + LEASE - timedelta(seconds=1)) == []


async def test_a_job_renews_its_lease_and_only_its_own(db):
    world = await make_world()
    request = await running(world)
    assert (request.lease_token, request.lease_expires_at, request.attempts) == (
        "first-job",
        RUN_AT + LEASE,
        1,
    )
    later = RUN_AT + timedelta(seconds=50)
    assert await renew_lease(request.id, "first-job", POLICY, later)
    assert not await renew_lease(request.id, "someone-else", POLICY, later)
    assert (await UpdateRequest.get(id=request.id)).lease_expires_at == later + LEASE
    assert await reclaim_lapsed(POLICY, now=RUN_AT + LEASE + timedelta(seconds=1)) == []  # renewed


async def test_a_lapsed_lease_is_reclaimed_once_and_the_next_job_resumes(db):
    world = await make_world()
    request = await running(world)
    assert await finish_step(request.id, "backup", 15, known_steps=[], lease_token="first-job")
    lapsed_at = RUN_AT + LEASE + timedelta(seconds=1)
    first, second = await reclaim_lapsed(POLICY, now=lapsed_at), await reclaim_lapsed(POLICY, now=lapsed_at)
    assert [(r.request_id, r.outcome, r.alert) for r in first] == [(request.id, Reclaim.REQUEUED, None)]
    assert second == []  # one scheduler wins each lapse
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.lease_token, stored.reclaims) == (S.IN_PROGRESS, None, 1)
    assert stored.internal_detail is not None and "Lease lapsed" in stored.internal_detail
    # The next job takes it over and resumes after the checkpoint; the old one can change nothing.
    resumed = await begin(request.id, now=lapsed_at, token="second-job", policy=POLICY)
    assert resumed is not None and resumed[0].completed_steps == ["backup"] and resumed[0].attempts == 2
    assert await begin(request.id, now=lapsed_at, token="duplicate", policy=POLICY) is None
    assert not await renew_lease(request.id, "first-job", POLICY, lapsed_at)
    assert not await report_progress(request.id, 50, "install", lease_token="first-job")
    assert not await finish_step(request.id, "install", 60, known_steps=["backup"], lease_token="first-job")
    assert not await finish_step(request.id, "install", 60, lease_token="first-job")
    for ending in (
        complete(request.id, lease_token="first-job"),
        fail(request.id, "x", lease_token="first-job"),
    ):
        try:
            await ending
        except DomainError:
            pass
        else:
            raise AssertionError("a job that lost its lease ended the request")
    assert await status_of(request.id) is S.IN_PROGRESS
    await complete(request.id, now=lapsed_at + timedelta(minutes=5), lease_token="second-job")
    assert await status_of(request.id) is S.COMPLETED


async def test_attempts_spent_the_request_is_given_up_and_everyone_told(db):
    """Issue 12: a request whose job died after its retries stayed IN_PROGRESS, its site offline."""
    world = await make_world()
    request = await running(world)
    assert not (await Environment.get(id=request.environment_id)).online
    now = RUN_AT + LEASE + timedelta(seconds=1)
    assert [r.outcome for r in await reclaim_lapsed(POLICY, now=now)] == [Reclaim.REQUEUED]
    assert await begin(request.id, now=now, token="second-job", policy=POLICY) is not None
    now += LEASE + timedelta(seconds=1)
    [given_up] = await reclaim_lapsed(POLICY, now=now)
    assert (given_up.outcome, given_up.attempts) == (Reclaim.GAVE_UP, 2)
    assert given_up.alert is not None and f"request {request.id}" in given_up.alert
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.lease_token, stored.lease_expires_at) == (S.UNABLE_TO_COMPLETE, None, None)
    assert stored.status_message is not None and "2 times" in stored.status_message
    assert stored.internal_detail is not None and "UPDATEDESK_STEP_ATTEMPTS=2" in stored.internal_detail
    change = await StatusChange.filter(update_request_id=request.id).order_by("-id").first()
    assert change is not None and (change.from_status, change.actor) == (S.IN_PROGRESS, "SYSTEM")
    production = await Environment.get(id=request.environment_id)
    assert (production.online, production.running_request_id) == (True, None)
    district_mail = await Notification.get(
        update_request_id=request.id, kind=NotificationKind.UNABLE_TO_COMPLETE
    )
    assert district_mail.recipient == world.requester.email
    assert "lapsed" not in district_mail.body and "UPDATEDESK" not in district_mail.body
    assert "2 times" in district_mail.body  # the district hears what happened, in words
    staff_mail = await Notification.get(update_request_id=request.id, kind=NotificationKind.STAFF_ALERT)
    assert staff_mail.recipient == "oncall@hosting.example" and "UPDATEDESK_STEP_ATTEMPTS" in staff_mail.body
    assert not await renew_lease(request.id, "second-job", POLICY, now)  # the job, if alive, stops


async def test_without_an_alert_address_staff_alerts_are_not_mailed(db):
    world = await make_world()
    request = await running(world)
    quiet = RunPolicy(lease=LEASE, attempts=1)
    [given_up] = await reclaim_lapsed(quiet, now=RUN_AT + LEASE + timedelta(seconds=1))
    assert given_up.outcome is Reclaim.GAVE_UP and given_up.alert is not None
    assert not await Notification.filter(kind=NotificationKind.STAFF_ALERT).exists()
    assert await status_of(request.id) is S.UNABLE_TO_COMPLETE


async def test_a_job_that_dies_at_its_start_every_time_is_given_up_from_not_started(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    now = IN_WINDOW
    for attempt in range(POLICY.attempts):
        assert await take_lease(request.id, f"job-{attempt}", POLICY, now)
        now += LEASE + timedelta(seconds=1)
        [reclaimed] = await reclaim_lapsed(POLICY, now=now)
    assert reclaimed.outcome is Reclaim.GAVE_UP and reclaimed.status is S.NOT_STARTED
    assert await status_of(request.id) is S.UNABLE_TO_COMPLETE
    assert (await Environment.get(id=request.environment_id)).running_request_id is None


async def test_a_job_waiting_in_a_backlog_is_never_given_up(db):
    """A dispatched job no worker has reached yet costs the request nothing: enqueued again with
    twice the time to begin, and staff are alerted once."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    now, alerts, waits = IN_WINDOW, [], []
    for _ in range(6):
        expires = (await UpdateRequest.get(id=request.id)).lease_expires_at
        assert expires is not None
        now = expires + timedelta(seconds=1)
        [reclaimed] = await reclaim_lapsed(POLICY, now=now)
        assert reclaimed.outcome is Reclaim.REQUEUED
        alerts.append(reclaimed.alert is not None)
        stored = await UpdateRequest.get(id=request.id)
        assert stored.lease_expires_at is not None
        waits.append(round((stored.lease_expires_at - now) / LEASE))
    assert waits == [2, 4, 8, 16, 16, 16]
    assert alerts == [False, True, False, False, False, False]
    assert await status_of(request.id) is S.NOT_STARTED
    assert await begin(request.id, now=now, token="finally", policy=POLICY) is not None


async def test_a_re_enqueue_the_broker_refused_is_undone_unless_a_job_took_the_lease(db):
    """The job of a re-enqueue never reached the queue: its lease lapses at once, with the count
    of re-enqueues it had, for the next sweep to enqueue it again. A job that took the lease
    meanwhile (a copy enqueued before) keeps it."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    lapsed = IN_WINDOW + LEASE + timedelta(seconds=1)
    [refused] = await reclaim_lapsed(POLICY, now=lapsed)
    assert await requeue_failed(refused, now=lapsed)
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.lease_token, stored.lease_expires_at, stored.reclaims) == (None, lapsed, 0)
    later = lapsed + timedelta(seconds=1)
    [again] = await reclaim_lapsed(POLICY, now=later)
    assert (again.outcome, again.reclaims) == (Reclaim.REQUEUED, 1)
    assert await begin(request.id, now=later, token="copy", policy=POLICY) is not None
    assert not await requeue_failed(again, now=later)
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.lease_token, stored.lease_expires_at) == (
        S.IN_PROGRESS,
        "copy",
        later + LEASE,
    )


async def test_a_stopping_job_releases_its_lease_for_the_next_one(db):
    world = await make_world()
    request = await running(world)
    assert await release_lease(request.id, "first-job", RUN_AT + timedelta(seconds=5))
    assert await begin(request.id, now=RUN_AT + timedelta(seconds=6), token="next", policy=POLICY) is not None


async def test_restarts_that_hand_the_try_back_never_use_up_the_attempts(db):
    """Five deploys during one update (attempts=2): each stopping job hands its try back, so a
    lapse after them is a first lapse, re-enqueued, not a give-up; a crash still counts."""
    world = await make_world()
    request = await running(world)
    at = RUN_AT
    for restart in range(5):
        at += timedelta(minutes=1)
        token = "first-job" if restart == 0 else f"job-{restart}"
        assert await release_lease(request.id, token, at, hand_back_try=True)
        assert await begin(request.id, now=at, token=f"job-{restart + 1}", policy=POLICY) is not None
    assert (await UpdateRequest.get(id=request.id)).attempts == 1
    # The last job's process dies: its lease lapses, and the request is re-enqueued.
    [reclaimed] = await reclaim_lapsed(POLICY, now=at + LEASE + timedelta(seconds=1))
    assert reclaimed.outcome is Reclaim.REQUEUED and await status_of(request.id) is S.IN_PROGRESS
    # Without the hand-back (a job that stopped for another reason) the try stays counted.
    assert await begin(request.id, now=at + 2 * LEASE, token="crashing", policy=POLICY) is not None
    assert await release_lease(request.id, "crashing", at + 2 * LEASE)
    assert (await UpdateRequest.get(id=request.id)).attempts == 2


async def test_staff_giving_up_a_running_request_ends_its_lease(db):
    world = await make_world()
    request = await running(world)
    await world.set_status(request.id, S.UNABLE_TO_COMPLETE, "Stopped: the district asked us to wait.")
    assert not await renew_lease(request.id, "first-job", POLICY, RUN_AT)
    assert await reclaim_lapsed(POLICY, now=RUN_AT + timedelta(days=1)) == []
    # Held while the job might still be inside a step; freed once its lease would have lapsed
    # (the job died without giving it back) or when the job stops.
    environment = await Environment.get(district_id=world.district.id, kind=EnvironmentKind.PRODUCTION)
    assert (environment.online, environment.running_request_id) == (False, request.id)
    assert await release_abandoned(RUN_AT + timedelta(days=1)) == [request.id]
    environment = await Environment.get(id=environment.id)
    assert (environment.online, environment.running_request_id) == (True, None)


async def test_a_request_given_up_and_tried_again_waits_for_its_old_job_to_stop(db):
    """Staff give a running update up, put it back and schedule it again at once: its old job may
    still be inside a step until its next renewal, so the site it holds is not the request's to
    start again on. Dispatch waits until the old job stops (or its lease would have lapsed), or
    two jobs of one request run on one site."""
    world = await make_world()
    request = await running(world)
    await world.set_status(request.id, S.UNABLE_TO_COMPLETE, "Stopped: the district asked us to wait.")
    await world.set_status(request.id, S.TO_BE_SCHEDULED)
    due = RUN_AT + timedelta(seconds=30)  # within the old job's lease
    await world.schedule(request.id, due)
    assert not await dispatch(request.id, now=due, policy=POLICY)
    assert await status_of(request.id) is S.SCHEDULED
    assert await release_abandoned(due) == []  # its lease has not lapsed: the job may be working
    # The old job stops (its renewal found the lease gone): now it may start again.
    assert await release_stopped(request.id)
    assert await dispatch(request.id, now=due, policy=POLICY)
    assert await begin(request.id, now=due, token="second-job", policy=POLICY) is not None


async def test_an_old_job_that_died_does_not_keep_its_tried_again_request_waiting(db):
    world = await make_world()
    request = await running(world)
    await world.set_status(request.id, S.UNABLE_TO_COMPLETE, "Stopped: the district asked us to wait.")
    await world.set_status(request.id, S.TO_BE_SCHEDULED)
    await world.schedule(request.id, RUN_AT + timedelta(seconds=30))
    # The old job's process died: its lease lapses, and the scheduler's sweep frees the site.
    lapsed = RUN_AT + LEASE + timedelta(seconds=1)
    assert await release_abandoned(lapsed) == [request.id]
    assert await dispatch(request.id, now=lapsed, policy=POLICY)


async def test_a_job_completing_from_its_held_row_after_staff_gave_up_changes_nothing(db):
    """The job completes from the row it began with (no read): if staff gave the request up in
    between, the compare-and-set on status, history sequence and lease refuses it, and neither the
    history, the site's version nor its hold changes."""
    world = await make_world()
    begun = await begin((await running(world)).id, now=RUN_AT, token="second-job", policy=POLICY)
    assert begun is None  # the first job holds it: the held row comes from the first begin
    held = await load_with_site((await UpdateRequest.get(district_id=world.district.id)).id)
    assert held is not None
    request, site = held
    await world.set_status(request.id, S.UNABLE_TO_COMPLETE, "Stopped: the district asked us to wait.")
    before = await Environment.get(id=site.environment.id)
    moves = await StatusChange.filter(update_request_id=request.id).count()
    with pytest.raises(DomainError):
        await complete(request.id, RUN_AT, lease_token="first-job", held=Held(request, site, "verify"))
    assert await status_of(request.id) is S.UNABLE_TO_COMPLETE
    assert await StatusChange.filter(update_request_id=request.id).count() == moves
    after = await Environment.get(id=site.environment.id)
    assert (after.current_version, after.version_updated_at) == (
        before.current_version,
        before.version_updated_at,
    )


async def test_work_no_worker_began_before_its_window_closed_is_re_slotted_by_the_scheduler(db):
    """The workers are down through the whole window: the dispatched update is not left Not Started
    (its site held, the district reading nothing) until a worker comes back; the scheduler that
    finds its lease lapsed moves it to the next slot that fits, frees the site and says why."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    assert [r.outcome for r in await reclaim_lapsed(POLICY, now=IN_WINDOW + 2 * LEASE)] == [Reclaim.REQUEUED]
    after_window = IN_WINDOW + timedelta(hours=5)  # Thursday 06:00 CST
    [reclaimed] = await reclaim_lapsed(POLICY, now=after_window)
    assert reclaimed.outcome is Reclaim.RESLOTTED
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start, moved.lease_token, moved.lease_expires_at) == (
        S.SCHEDULED,
        IN_WINDOW + timedelta(days=7, minutes=-30),  # the next Thursday's opening, 00:30 CST
        None,
        None,
    )
    assert moved.status_message is not None and "maintenance window" in moved.status_message
    production = await Environment.get(id=moved.environment_id)
    assert (production.running_request_id, production.online) == (None, True)
    assert await begin(request.id, now=after_window, token="late-job", policy=POLICY) is None  # the old job
    assert await reclaim_lapsed(POLICY, now=after_window + 2 * LEASE) == []


async def test_work_no_worker_began_whose_site_got_its_version_meanwhile_completes_unmoved(db):
    """As above, but production got the version meanwhile (staff brought it there by hand and the
    import recorded it): the scheduler finding the lapsed lease after the window completes the
    update without running, as the worker's begin would, instead of moving it to next week with
    a new invitation for work that will never run."""
    world = await make_world()
    request = await world.request_version("Campus.2435.4")
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    await Environment.filter(id=request.environment_id).update(current_version="Campus.2435.9")
    mailed = await Notification.filter(update_request_id=request.id).count()
    [reclaimed] = await reclaim_lapsed(POLICY, now=IN_WINDOW + timedelta(hours=5))
    done = await UpdateRequest.get(id=request.id)
    assert (done.status, done.scheduled_start, done.lease_token) == (S.COMPLETED, IN_WINDOW, None)
    assert reclaimed.outcome is Reclaim.COMPLETED
    assert done.status_message is not None and "already runs Campus.2435.9" in done.status_message
    kinds = (
        await Notification.filter(update_request_id=request.id).order_by("id").values_list("kind", flat=True)
    )
    assert kinds[mailed:] == [NotificationKind.COMPLETED]
    production = await Environment.get(id=done.environment_id)
    assert (production.running_request_id, production.online) == (None, True)
