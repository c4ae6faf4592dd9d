"""Never backwards (issue 12, item 3): a version update whose target the site already runs (or has
passed) when a worker picks it up completes without running, saying so; completing never lowers a
version; the automatic sandbox update supersedes older open sandbox updates.
Against a real database, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, NotificationKind, UpdateStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.tables import Environment, Notification, StatusChange, UpdateRequest
from tests.models.scenario import AFTER_RUN, DONE_AT, IN_WINDOW, RUN_AT, T0, World, make_world, status_of

S = UpdateStatus
E = EnvironmentKind


async def site(world: World, kind: E) -> Environment:
    return await Environment.get(district_id=world.district.id, kind=kind)


async def test_a_resumed_older_sandbox_update_does_not_downgrade_the_sandbox(db):
    """Issue 12: a resumed older sandbox update took the sandbox from 2439.1 back to 2435.9."""
    world = await make_world()
    first = await world.request_version("Campus.2435.9")
    await world.drive(first.id, S.COMPLETED)  # production 2435.9; the sandbox follows (automatic)
    older_sandbox = await UpdateRequest.get(district_id=world.district.id, automatic=True)
    assert older_sandbox.target_version == "Campus.2435.9"
    assert await dispatch(older_sandbox.id, now=DONE_AT)  # dispatched, then its job is lost
    await Environment.filter(id=older_sandbox.environment_id).update(current_version="Campus.2439.1")
    assert await begin(older_sandbox.id, now=DONE_AT + timedelta(minutes=1)) is None
    finished = await UpdateRequest.get(id=older_sandbox.id)
    assert finished.status is S.COMPLETED
    assert finished.status_message is not None and "already runs Campus.2439.1" in finished.status_message
    change = await StatusChange.filter(update_request_id=older_sandbox.id).order_by("-id").first()
    assert change is not None and (change.from_status, change.to_status, change.actor) == (
        S.NOT_STARTED,
        S.COMPLETED,
        "SYSTEM",
    )
    sandbox = await site(world, E.SANDBOX)
    assert (sandbox.current_version, sandbox.running_request_id, sandbox.online) == (
        "Campus.2439.1",
        None,
        True,
    )


async def test_completion_never_lowers_a_version(db):
    world = await make_world()
    request = await world.request_version("Campus.2435.4", environment=E.STAGING)
    await world.drive(request.id, S.IN_PROGRESS)
    await Environment.filter(district_id=world.district.id, kind=E.STAGING).update(
        current_version="Campus.2439.1"
    )
    await complete(request.id, now=DONE_AT)
    assert (await site(world, E.STAGING)).current_version == "Campus.2439.1"


async def test_requests_superseded_by_one_completed_without_running_complete_with_it(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    newer = await world.request_version("Campus.2435.4")
    await world.schedule(newer.id)
    assert await dispatch(newer.id, now=IN_WINDOW)
    await Environment.filter(district_id=world.district.id, kind=E.PRODUCTION).update(
        current_version="Campus.2435.9"
    )
    assert await begin(newer.id, now=RUN_AT) is None
    assert (await status_of(newer.id), await status_of(older.id)) == (S.COMPLETED, S.COMPLETED)
    # Nothing was installed on production, so the sandbox is not asked to follow.
    assert not await UpdateRequest.filter(district_id=world.district.id, automatic=True).exists()


async def test_the_automatic_sandbox_update_supersedes_older_open_sandbox_updates(db):
    world = await make_world()
    first = await world.request_version("Campus.2435.4")
    await world.drive(first.id, S.COMPLETED)
    older_sandbox = await UpdateRequest.get(district_id=world.district.id, automatic=True)
    assert older_sandbox.status is S.SCHEDULED  # waiting for its turn
    second = await world.request_version("Campus.2435.9")
    await world.schedule(second.id, DONE_AT + timedelta(minutes=10))
    assert await dispatch(second.id, now=DONE_AT + timedelta(minutes=10))
    assert await begin(second.id, now=DONE_AT + timedelta(minutes=11)) is not None
    await complete(second.id, now=DONE_AT + timedelta(minutes=20))
    newer_sandbox = await UpdateRequest.get(
        district_id=world.district.id, automatic=True, target_version="Campus.2435.9"
    )
    older_sandbox = await UpdateRequest.get(id=older_sandbox.id)
    assert (older_sandbox.status, older_sandbox.superseded_by_id) == (
        S.NEW_VERSION_REQUESTED,
        newer_sandbox.id,
    )
    assert newer_sandbox.status is S.SCHEDULED
    assert await dispatch(newer_sandbox.id, now=DONE_AT + timedelta(minutes=21))
    assert await begin(newer_sandbox.id, now=DONE_AT + timedelta(minutes=22)) is not None
    await complete(newer_sandbox.id, now=DONE_AT + timedelta(minutes=30))
    assert await status_of(older_sandbox.id) is S.COMPLETED
    assert (await site(world, E.SANDBOX)).current_version == "Campus.2435.9"


async def test_the_automatic_sandbox_update_is_placed_clear_of_work_planned_on_the_sandbox(db):
    """Production is updated at the window's opening (00:30 CST) and a sandbox refresh is planned
    for 01:30: the automatic sandbox update, made when production completes at 00:50, goes after
    the refresh's expected hour (02:30, the last start that fits), not at once on top of it."""
    world = await make_world()
    opens = IN_WINDOW - timedelta(minutes=30)
    update = await world.request_version("Campus.2435.4")
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, opens)
    await world.schedule(refresh.id, opens + timedelta(hours=1))
    assert await dispatch(update.id, now=opens)
    assert await begin(update.id, now=opens) is not None
    await complete(update.id, now=opens + timedelta(minutes=20))
    automatic = await UpdateRequest.get(district_id=world.district.id, automatic=True)
    assert (automatic.status, automatic.scheduled_start) == (S.SCHEDULED, opens + timedelta(hours=2))


#: Thursday 2026-11-05 00:30 CST, when the seeded window opens, and the week after.
OPENS = IN_WINDOW - timedelta(minutes=30)
NEXT_OPENING = OPENS + timedelta(days=7)
#: 03:00 CST: inside the window with 30 of the expected 60 minutes left.
TOO_LATE = OPENS + timedelta(hours=2, minutes=30)


async def notices(request_id: int) -> list[NotificationKind]:
    rows = await Notification.filter(update_request_id=request_id).order_by("id")
    return [row.kind for row in rows]


async def moves(request_id: int) -> list[tuple[S | None, S, str]]:
    rows = await StatusChange.filter(update_request_id=request_id).order_by("id")
    return [(row.from_status, row.to_status, row.actor) for row in rows]


@pytest.mark.parametrize("kept_from_its_slot_by", ["a late pass", "a blackout"])
async def test_a_due_update_the_site_already_runs_completes_instead_of_moving(db, kept_from_its_slot_by):
    """The older update was dispatched (so the newer one could not supersede it), then its job came
    too late for the window and it went back to SCHEDULED; staff put it after the newer one, which
    runs and completes first. When the older one falls due it cannot start in its slot (the
    scheduler is late, or a blackout began), but there is nothing to install: production already
    runs a newer version. It completes without running, as the worker's begin would have it,
    instead of moving to next week with a new invitation for work that will never run."""
    world = await make_world()
    older = await world.request_version("Campus.2435.4")
    await world.schedule(older.id, IN_WINDOW)
    assert await dispatch(older.id, now=IN_WINDOW)
    newer = await world.request_version("Campus.2435.9")
    assert await begin(older.id, now=TOO_LATE) is None  # re-slotted to the next week's window
    latest_fit = NEXT_OPENING + timedelta(hours=2)
    await world.schedule(older.id, latest_fit)
    await world.schedule(newer.id, NEXT_OPENING)
    assert await dispatch(newer.id, now=NEXT_OPENING)
    assert await begin(newer.id, now=NEXT_OPENING) is not None
    await complete(newer.id, now=NEXT_OPENING + timedelta(minutes=50))
    now = latest_fit
    if kept_from_its_slot_by == "a late pass":
        now = TOO_LATE + timedelta(days=7)
    else:
        await create_blackout(
            world.staff_actor,
            start=latest_fit - timedelta(minutes=5),
            end=latest_fit + timedelta(hours=3),
            reason="Network maintenance",
            scope=BlackoutScope(district_id=world.district.id),
            now=T0,
        )
    mailed = await notices(older.id)
    assert not await dispatch(older.id, now=now)
    finished = await UpdateRequest.get(id=older.id)
    assert (finished.status, finished.scheduled_start) == (S.COMPLETED, latest_fit)
    assert finished.status_message == (
        "Nothing was installed: the production site already runs Campus.2435.9, which is not older "
        "than Campus.2435.4."
    )
    assert (await moves(older.id))[-2:] == [
        (S.SCHEDULED, S.NOT_STARTED, "DISPATCHER"),
        (S.NOT_STARTED, S.COMPLETED, "SYSTEM"),
    ]
    # The district is told it is done; no new date, no invitation for it.
    assert await notices(older.id) == [*mailed, NotificationKind.COMPLETED]
    production = await site(world, E.PRODUCTION)
    assert (production.current_version, production.running_request_id, production.online) == (
        "Campus.2435.9",
        None,
        True,
    )
    followers = await UpdateRequest.filter(district_id=world.district.id, automatic=True)
    assert [r.target_version for r in followers] == ["Campus.2435.9"]


async def test_a_due_update_the_site_already_runs_waits_for_its_busy_site_then_completes(db):
    """Already on the target, kept from its slot, and its site is busy (a staging refresh copies
    production and overruns): nothing runs two at a time on a site, not even for a moment in the
    history, so it waits SCHEDULED, unmoved and with no mail, and completes once the site is free."""
    world = await make_world()
    refresh = await world.request_refresh(E.STAGING)
    update = await world.request_version("Campus.2435.4")
    await world.drive(refresh.id, S.IN_PROGRESS)
    await world.schedule(update.id, AFTER_RUN)
    await Environment.filter(district_id=world.district.id, kind=E.PRODUCTION).update(
        current_version="Campus.2435.9"
    )
    mailed = await notices(update.id)
    history = await moves(update.id)
    assert not await dispatch(update.id, now=TOO_LATE)
    waiting = await UpdateRequest.get(id=update.id)
    assert (waiting.status, waiting.scheduled_start) == (S.SCHEDULED, AFTER_RUN)
    assert (await notices(update.id), await moves(update.id)) == (mailed, history)
    await complete(refresh.id, now=TOO_LATE + timedelta(minutes=1))
    assert not await dispatch(update.id, now=TOO_LATE + timedelta(minutes=2))
    assert await status_of(update.id) is S.COMPLETED
    assert await notices(update.id) == [*mailed, NotificationKind.COMPLETED]
