import itertools
from datetime import UTC, datetime, timedelta

from models.access import Mover
from models.blackouts import visible_blackouts
from models.enums import EnvironmentKind, GroupKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.lifecycle import check_move
from models.maintenance import upcoming_slots
from models.requests import requesting, staff, withdrawing
from models.tables import Account, District, Environment, StatusChange, UpdateGroup, UpdateRequest
from models.tokens import authenticate
from updatedesk.demo import issue_demo_tokens, load_demo_if_empty
from updatedesk.demo.history import EXAMPLES_ROOM
from updatedesk.demo.replay import cast
from updatedesk.demo.world import CAPITAL, LAKESIDE, NORTH_RIVER, SOUTH_RIVER, STAFF_EMAIL, STATE_GROUP

#: The demo's clock in these tests: its history is dated relative to this.
NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


async def test_demo_world_shows_every_rule_and_loads_once(db):
    assert await load_demo_if_empty(NOW) is True
    assert await load_demo_if_empty(NOW) is False

    districts = await District.all().prefetch_related("environments", "update_group")
    by_group_kind = {d.update_group.kind if d.update_group else None for d in districts}
    assert {GroupKind.STATE, GroupKind.CONSORTIUM, None} <= by_group_kind
    cloud = [d for d in districts if d.hosting_model is HostingModel.CAMPUS_CLOUD]
    assert any(d.update_group is None for d in cloud)
    asp = [d for d in districts if d.hosting_model is HostingModel.ASP_HOSTED]
    review_sites = {EnvironmentKind.STAGING, EnvironmentKind.PREVIEW}
    assert asp and all({e.kind for e in d.environments}.isdisjoint(review_sites) for d in asp)
    consortium = await UpdateGroup.get(kind=GroupKind.CONSORTIUM).prefetch_related("districts")
    assert len(consortium.districts) == 2
    assert {a.role for a in await Account.all()} == set(Role)

    logins = await issue_demo_tokens()
    assert {login.role for login in logins} == {role.value for role in Role}
    for login in logins:
        assert (await authenticate(login.token)).account.email == login.email


async def test_demo_has_a_request_in_every_status_each_with_a_true_history(db):
    await load_demo_if_empty(NOW)
    requests = await UpdateRequest.all()
    assert {r.status for r in requests} == set(UpdateStatus)
    assert {r.kind for r in requests} == set(UpdateKind)

    for request in requests:
        history = await StatusChange.filter(update_request_id=request.id).order_by("id")
        # Made through the domain: created TO_BE_SCHEDULED, every later move one the lifecycle
        # allows to the actor recorded, each from where the one before ended, in time order.
        assert history[0].from_status is None and history[0].to_status is UpdateStatus.TO_BE_SCHEDULED
        for before, move in itertools.pairwise(history):
            assert move.from_status is before.to_status
            assert move.at >= before.at
            check_move(move.from_status, move.to_status, Mover(move.actor), move.message)
        assert history[-1].to_status is request.status
        assert history[-1].at <= NOW
        assert request.created_at == history[0].at


async def test_demo_statuses_carry_what_the_service_would_have_recorded(db):
    await load_demo_if_empty(NOW)
    by_status = {r.status: r for r in await UpdateRequest.all().order_by("-id")}

    running = by_status[UpdateStatus.IN_PROGRESS]
    assert running.progress_percent is not None and 0 < running.progress_percent < 100
    assert running.progress_step and running.completed_steps
    assert not (await Environment.get(id=running.environment_id)).online  # offline while it runs

    superseded = by_status[UpdateStatus.NEW_VERSION_REQUESTED]
    newer = await UpdateRequest.get(id=superseded.superseded_by_id)
    # A rollout places each district's request in its next slot as it starts.
    assert newer.status is UpdateStatus.SCHEDULED and newer.rollout_id is not None
    assert newer.environment_id == superseded.environment_id

    failed = by_status[UpdateStatus.UNABLE_TO_COMPLETE]
    assert failed.status_message and "disk space" in failed.status_message
    for status in (UpdateStatus.PENDING_INPUT, UpdateStatus.DEFERRED):
        assert by_status[status].status_message  # staff's message to the district

    # The SCHEDULED update starts in a coming maintenance window, leaving room for the examples.
    scheduled = by_status[UpdateStatus.SCHEDULED]
    [next_slot] = await upcoming_slots(HostingModel.CAMPUS_CLOUD, 1, now=NOW + EXAMPLES_ROOM)
    assert scheduled.scheduled_start == next_slot.start

    dispatched = by_status[UpdateStatus.NOT_STARTED]
    assert dispatched.dispatched_at is not None and dispatched.dispatched_at <= NOW

    # Completed updates set versionUpdatedAt, the automatic sandbox update followed production,
    # a completed refresh set lastRefreshedAt.
    completed = await UpdateRequest.filter(status=UpdateStatus.COMPLETED)
    assert any(r.automatic for r in completed)
    updated = await Environment.filter(version_updated_at__isnull=False)
    assert {e.kind for e in updated} == {EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX}
    assert all(e.version_updated_at is not None and e.version_updated_at < NOW for e in updated)
    assert await Environment.filter(last_refreshed_at__isnull=False).exists()


async def test_demo_blackout_covers_the_state_group_ahead(db):
    await load_demo_if_empty(NOW)
    staff = (await cast(STAFF_EMAIL)).staff
    [blackout] = await (await visible_blackouts(staff)).all()
    group = await UpdateGroup.get(name=STATE_GROUP)
    assert blackout.update_group_id == group.id
    assert NOW + timedelta(days=13) < blackout.start < blackout.end
    assert blackout.reason
    capital = await District.get(name=CAPITAL)
    assert capital.update_group_id == group.id


async def test_demo_sites_left_free_can_start_now_even_just_before_the_window(db):
    # The examples' refresh copies Lakeside's production, which the demo's SCHEDULED update holds;
    # loaded half an hour before the window, that update used to start within the refresh's hour
    # and the examples' StartNow answered ENVIRONMENT_BUSY.
    [next_slot] = await upcoming_slots(HostingModel.CAMPUS_CLOUD, 1, now=NOW)
    now = next_slot.start - timedelta(minutes=30)
    await load_demo_if_empty(now)
    players = await cast(STAFF_EMAIL)
    free = [
        (LAKESIDE, EnvironmentKind.STAGING),
        (LAKESIDE, EnvironmentKind.SANDBOX),
        (NORTH_RIVER, EnvironmentKind.STAGING),
        (SOUTH_RIVER, EnvironmentKind.SANDBOX),
    ]
    for name, environment in free:
        asked = await requesting.request_update(
            players.staff,
            district_id=players.districts[name],
            kind=UpdateKind.DATABASE_REFRESH,
            environment=environment,
            now=now,
        )
        scheduled = await staff.schedule_update_request(players.staff, asked.id, now, now=now)
        assert scheduled.status is UpdateStatus.SCHEDULED, (name, environment)
        # One refresh of a district at a time: each holds its production.
        await withdrawing.cancel_update_request(players.staff, asked.id, now=now)
