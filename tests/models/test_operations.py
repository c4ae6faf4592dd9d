"""Domain operations against a real database: every refusal code reachable, and the effects of
each operation (supersession, the sandbox following production, environment state, idempotency)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.access import Actor
from models.enums import (
    EnvironmentKind,
    ErrorCode,
    EventType,
    GroupKind,
    HostingModel,
    Role,
    UpdateKind,
    UpdateStatus,
)
from models.errors import DomainError
from models.events import AfterCommit, add_event_sink, remove_event_sink
from models.operations import (
    _record_move,
    begin,
    can_cancel,
    can_delete,
    cancel_update_request,
    complete,
    delete_update_request,
    dispatch,
    dispatch_due,
    fail,
    finish_step,
    finished_steps,
    get_visible_request,
    mark_step_finished,
    reclaim_lost_jobs,
    report_progress,
    request_update,
    roll_out_to_group,
    schedule_update_request,
    set_update_request_status,
    upcoming_slots,
    visible_requests,
)
from models.tables import Environment, MaintenanceWindow, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_group
from tests.models.scenario import (
    DONE_AT,
    IN_WINDOW,
    IN_WINDOW_NEXT_WEEK,
    OUTSIDE_WINDOW,
    RUN_AT,
    T0,
    World,
    history,
    make_world,
    status_of,
)

S = UpdateStatus
E = EnvironmentKind


async def refused(awaitable: Awaitable[Any]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await awaitable
    return caught.value


async def environment(world: World, kind: E = E.PRODUCTION) -> Environment:
    return await Environment.get(district_id=world.district.id, kind=kind)


# --------------------------------------------------------------------- GROUP_MANAGED


async def test_group_managed_district_refuses_a_version_update(db):
    world = await make_world(group=await make_group(kind=GroupKind.CONSORTIUM))
    error = await refused(world.request_version())
    assert (error.code, error.field) == (ErrorCode.GROUP_MANAGED, "districtId")
    error = await refused(world.request_version(actor=world.staff_actor))
    assert error.code is ErrorCode.GROUP_MANAGED
    assert await UpdateRequest.all().count() == 0


async def test_group_managed_district_may_ask_for_a_refresh(db):
    world = await make_world(group=await make_group())
    refresh = await world.request_refresh()
    assert refresh.status is S.TO_BE_SCHEDULED


async def test_staff_roll_out_to_a_group(db):
    group = await make_group(kind=GroupKind.STATE)
    first = await make_district("A district", group=group)
    second = await make_district("B district", group=group)
    await make_district("Outside the group")
    await make_catalog()
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    created = await roll_out_to_group(
        staff, group_id=group.id, environment=E.PRODUCTION, target_version="Campus.2435.4", now=T0
    )
    assert sorted(r.district_id for r in created) == [first.id, second.id]
    assert {r.status for r in created} == {S.TO_BE_SCHEDULED}
    # Repeating the rollout skips districts that already have it.
    again = await roll_out_to_group(
        staff, group_id=group.id, environment=E.PRODUCTION, target_version="Campus.2435.4", now=T0
    )
    assert again == []
    assert await UpdateRequest.all().count() == 2


async def test_roll_out_is_staff_only(db):
    group = await make_group()
    district = await make_district(group=group)
    await make_catalog()
    contact = await actor_of(await make_account(Role.STATE_CONTACT, [district]))
    error = await refused(
        roll_out_to_group(
            contact, group_id=group.id, environment=E.PRODUCTION, target_version="Campus.2435.4"
        )
    )
    assert error.code is ErrorCode.FORBIDDEN


# --------------------------------------------------------------------- ENVIRONMENT_UNAVAILABLE


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        (UpdateKind.VERSION_UPDATE, E.STAGING),
        (UpdateKind.VERSION_UPDATE, E.PREVIEW),
        (UpdateKind.DATABASE_REFRESH, E.STAGING),
    ],
)
async def test_asp_hosted_district_without_staging_or_preview(db, kind, target):
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED, environments=(E.PRODUCTION, E.SANDBOX))
    error = await refused(
        request_update(
            world.requester_actor,
            district_id=world.district.id,
            kind=kind,
            environment=target,
            target_version="Campus.2435.4" if kind is UpdateKind.VERSION_UPDATE else None,
            now=T0,
        )
    )
    assert (error.code, error.field) == (ErrorCode.ENVIRONMENT_UNAVAILABLE, "environment")


# --------------------------------------------------------------------- VALIDATION


async def test_sandbox_version_update_is_refused(db):
    world = await make_world()
    error = await refused(world.request_version(environment=E.SANDBOX))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "environment")


@pytest.mark.parametrize("target", [E.PRODUCTION, E.PREVIEW])
async def test_refresh_of_production_or_preview_is_refused(db, target):
    world = await make_world()
    error = await refused(world.request_refresh(target))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "environment")


@pytest.mark.parametrize("version", [None, "", "   "])
async def test_version_update_without_target_version(db, version):
    world = await make_world()
    error = await refused(world.request_version(version))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "targetVersion")


async def test_unparseable_target_version(db):
    world = await make_world()
    error = await refused(world.request_version("2435.4"))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "targetVersion")


async def test_preferred_start_in_the_past_and_notes_too_long(db):
    world = await make_world()
    error = await refused(world.request_version(preferred_start=T0 - timedelta(hours=1)))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "preferredStart")
    error = await refused(world.request_version(notes="x" * 4001))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "notes")
    request = await world.request_version(preferred_start=IN_WINDOW, notes="  after exams  ")
    assert (request.preferred_start, request.notes) == (IN_WINDOW, "after exams")


@pytest.mark.parametrize("source", [S.TO_BE_SCHEDULED, S.SCHEDULED])
@pytest.mark.parametrize("target", [S.PENDING_INPUT, S.DEFERRED])
async def test_pausing_needs_a_message(db, source, target):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    for message in (None, "", "  "):
        error = await refused(world.set_status(request.id, target, message))
        assert (error.code, error.field) == (ErrorCode.VALIDATION, "message")
    assert await status_of(request.id) is source
    await world.set_status(request.id, target, "We need your go-ahead.")
    assert await status_of(request.id) is target


@pytest.mark.parametrize("source", [S.NOT_STARTED, S.IN_PROGRESS])
async def test_staff_giving_up_needs_a_message(db, source):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    error = await refused(world.set_status(request.id, S.UNABLE_TO_COMPLETE, None))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "message")
    assert await status_of(request.id) is source
    await world.set_status(request.id, S.UNABLE_TO_COMPLETE, "The site's database is corrupt.")
    assert await status_of(request.id) is S.UNABLE_TO_COMPLETE
    assert (await environment(world)).online


async def test_scheduling_by_status_needs_a_start_time(db):
    world = await make_world()
    request = await world.request_version()
    error = await refused(world.set_status(request.id, S.SCHEDULED))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "status")


async def test_schedule_start_must_be_aware_and_not_past(db):
    world = await make_world()
    request = await world.request_version()
    error = await refused(world.schedule(request.id, start=IN_WINDOW.replace(tzinfo=None)))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "start")
    error = await refused(world.schedule(request.id, start=T0 - timedelta(hours=1), override=True))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "start")


# --------------------------------------------------------------------- UNKNOWN_VERSION, VERSION_NOT_NEWER


async def test_unknown_version(db):
    world = await make_world()
    error = await refused(world.request_version("Campus.2440.1"))
    assert (error.code, error.field) == (ErrorCode.UNKNOWN_VERSION, "targetVersion")


@pytest.mark.parametrize("version", ["Campus.2435.2", "Campus.2435.1"])
async def test_version_not_newer(db, version):
    world = await make_world()
    await make_catalog(["Campus.2435.1"])
    error = await refused(world.request_version(version))
    assert (error.code, error.field) == (ErrorCode.VERSION_NOT_NEWER, "targetVersion")


async def test_version_not_newer_is_numeric(db):
    world = await make_world()
    await Environment.filter(district_id=world.district.id).update(current_version="Campus.2435.10")
    error = await refused(world.request_version("Campus.2435.9"))
    assert error.code is ErrorCode.VERSION_NOT_NEWER
    await Environment.filter(district_id=world.district.id).update(current_version="Campus.2435.9")
    assert (await world.request_version("Campus.2435.10")).status is S.TO_BE_SCHEDULED


# --------------------------------------------------------------------- DUPLICATE_REQUEST


@pytest.mark.parametrize("again", ["Campus.2435.4", "Campus.2435.3"])
async def test_same_or_older_version_while_one_is_open(db, again):
    world = await make_world()
    first = await world.request_version("Campus.2435.4")
    error = await refused(world.request_version(again))
    assert (error.code, error.field) == (ErrorCode.DUPLICATE_REQUEST, "targetVersion")
    await world.drive(first.id, S.IN_PROGRESS)
    error = await refused(world.request_version(again))
    assert error.code is ErrorCode.DUPLICATE_REQUEST


async def test_same_version_again_after_a_cancel_is_fine(db):
    world = await make_world()
    first = await world.request_version()
    await world.cancel(first.id)
    second = await world.request_version()
    assert second.id != first.id


async def test_second_open_refresh(db):
    world = await make_world()
    first = await world.request_refresh(E.SANDBOX)
    error = await refused(world.request_refresh(E.SANDBOX))
    assert (error.code, error.field) == (ErrorCode.DUPLICATE_REQUEST, "environment")
    # Another environment, or after the first finished, is fine.
    assert (await world.request_refresh(E.STAGING)).status is S.TO_BE_SCHEDULED
    await world.drive(first.id, S.COMPLETED)
    assert (await world.request_refresh(E.SANDBOX)).status is S.TO_BE_SCHEDULED


# --------------------------------------------------------------------- OUTSIDE_MAINTENANCE_WINDOW


async def test_scheduling_outside_the_window_is_refused(db):
    world = await make_world()
    request = await world.request_version()
    error = await refused(world.schedule(request.id, OUTSIDE_WINDOW))
    assert (error.code, error.field) == (ErrorCode.OUTSIDE_MAINTENANCE_WINDOW, "start")
    assert "Thursday 00:30-03:30 America/Chicago" in error.message
    assert "2026-11-12T06:30:00+00:00" in error.message  # the next window, to act on
    assert await status_of(request.id) is S.TO_BE_SCHEDULED
    assert await StatusChange.filter(update_request_id=request.id).count() == 1


async def test_staff_override_is_recorded_in_the_history(db):
    world = await make_world()
    request = await world.request_version()
    scheduled = await world.schedule(request.id, OUTSIDE_WINDOW, override=True)
    assert (scheduled.status, scheduled.scheduled_start, scheduled.window_override) == (
        S.SCHEDULED,
        OUTSIDE_WINDOW,
        True,
    )
    row = await StatusChange.get(update_request_id=request.id, to_status=S.SCHEDULED)
    assert row.window_override is True
    assert row.by_id == world.staff.id
    assert row.message is not None and "override" in row.message
    stored = await UpdateRequest.get(id=request.id)
    assert stored.window_override is True


async def test_override_inside_the_window_is_not_recorded_as_one(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id, IN_WINDOW, override=True)
    row = await StatusChange.get(update_request_id=request.id, to_status=S.SCHEDULED)
    assert row.window_override is False
    assert not (await UpdateRequest.get(id=request.id)).window_override


async def test_asp_hosted_and_refreshes_are_not_bound_to_windows(db):
    asp = await make_world(hosting_model=HostingModel.ASP_HOSTED)
    update = await asp.request_version()
    assert (await asp.schedule(update.id, OUTSIDE_WINDOW)).status is S.SCHEDULED
    cloud = await make_world()
    refresh = await cloud.request_refresh()
    assert (await cloud.schedule(refresh.id, OUTSIDE_WINDOW)).status is S.SCHEDULED
    assert await StatusChange.filter(window_override=True).count() == 0


async def test_windows_are_data(db):
    world = await make_world()
    request = await world.request_version()
    # Staff move the window to Thursday 10:00-12:00 Chicago (16:00-18:00 UTC in November).
    # (Stored times are wall-clock times in the row's zone; the ORM field wants a tzinfo attached.)
    window = await MaintenanceWindow.get(hosting_model=HostingModel.CAMPUS_CLOUD)
    window.start_time, window.end_time = time(10, 0, tzinfo=UTC), time(12, 0, tzinfo=UTC)
    await window.save()
    error = await refused(world.schedule(request.id, IN_WINDOW))
    assert error.code is ErrorCode.OUTSIDE_MAINTENANCE_WINDOW
    new_window = IN_WINDOW.replace(hour=17)
    assert (await world.schedule(request.id, new_window)).scheduled_start == new_window
    slots = await upcoming_slots(world.district, 2, now=T0)
    assert [(s.start.hour, s.end.hour) for s in slots] == [(16, 18), (16, 18)]
    # A second window is one more row: Tuesday 22:00 to Wednesday 01:00 Chicago.
    await MaintenanceWindow.create(
        hosting_model=HostingModel.CAMPUS_CLOUD,
        weekday=1,
        start_time=time(22, 0, tzinfo=UTC),
        end_time=time(1, 0, tzinfo=UTC),
        time_zone="America/Chicago",
    )
    tuesday_night = datetime(2026, 11, 4, 4, 0, tzinfo=UTC)  # Tuesday 22:00 CST
    request_two = await world.request_version("Campus.2435.4", environment=E.STAGING)
    assert (await world.schedule(request_two.id, tuesday_night)).status is S.SCHEDULED
    slots = await upcoming_slots(world.district, 2, now=T0)
    assert [s.start for s in slots] == [tuesday_night, new_window.replace(hour=16)]


async def test_upcoming_slots_for_a_district(db):
    cloud = await make_world()
    slots = await upcoming_slots(cloud.district, 3, now=T0)
    assert [s.start for s in slots] == [
        IN_WINDOW.replace(minute=30, hour=6) + timedelta(days=7 * i) for i in range(3)
    ]
    asp = await make_district(hosting_model=HostingModel.ASP_HOSTED)
    assert await upcoming_slots(asp, 3, now=T0) == []


# --------------------------------------------------------------------- INVALID_TRANSITION


@pytest.mark.parametrize("source", [S.NOT_STARTED, S.IN_PROGRESS, S.COMPLETED, S.PENDING_INPUT])
async def test_cannot_cancel_once_pulled_from_the_queue(db, source):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    for actor in (world.requester_actor, world.staff_actor):
        error = await refused(cancel_update_request(actor, request.id, now=T0))
        assert error.code is ErrorCode.INVALID_TRANSITION
    assert await status_of(request.id) is source
    assert all(t is not S.CANCELLED for _, t, _ in await history(request.id))


@pytest.mark.parametrize("source", [S.TO_BE_SCHEDULED, S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED])
async def test_only_completed_requests_can_be_deleted(db, source):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    error = await refused(delete_update_request(world.requester_actor, request.id, now=T0))
    assert (error.code, error.field) == (ErrorCode.INVALID_TRANSITION, "id")
    assert (await UpdateRequest.get(id=request.id)).deleted_at is None


async def test_lost_race_with_a_stale_read_is_invalid_transition(db):
    """Two actors load the request; the second to write finds it moved and changes nothing."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    stale = await UpdateRequest.get(id=request.id)
    assert await dispatch(request.id, now=IN_WINDOW)
    rows_before = await StatusChange.filter(update_request_id=request.id).count()
    with pytest.raises(DomainError) as caught:
        async with in_transaction():
            await _record_move(stale, S.CANCELLED, world.requester_actor, AfterCommit(), now=IN_WINDOW)
    assert caught.value.code is ErrorCode.INVALID_TRANSITION
    assert "NOT_STARTED" in caught.value.message
    assert await status_of(request.id) is S.NOT_STARTED
    assert await StatusChange.filter(update_request_id=request.id).count() == rows_before


async def test_cancel_then_dispatch_and_dispatch_then_cancel(db):
    world = await make_world()
    first = await world.request_version("Campus.2435.4", environment=E.PRODUCTION)
    second = await world.request_version("Campus.2435.4", environment=E.STAGING)
    await world.schedule(first.id)
    await world.schedule(second.id)
    await world.cancel(first.id)
    assert not await dispatch(first.id, now=IN_WINDOW)
    assert await status_of(first.id) is S.CANCELLED
    assert await dispatch(second.id, now=IN_WINDOW)
    assert (await refused(world.cancel(second.id))).code is ErrorCode.INVALID_TRANSITION
    assert await status_of(second.id) is S.NOT_STARTED


@pytest.mark.parametrize("source", [S.TO_BE_SCHEDULED, S.NOT_STARTED, S.COMPLETED])
async def test_worker_cannot_complete_what_is_not_running(db, source):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    assert (await refused(complete(request.id, now=DONE_AT))).code is ErrorCode.INVALID_TRANSITION
    assert await status_of(request.id) is source


async def test_staff_cannot_make_system_or_worker_moves(db):
    world = await make_world()
    request = await world.request_version()
    for target in (S.NOT_STARTED, S.IN_PROGRESS, S.COMPLETED, S.NEW_VERSION_REQUESTED):
        error = await refused(world.set_status(request.id, target, "forced"))
        assert error.code is ErrorCode.INVALID_TRANSITION
    await world.drive(request.id, S.SCHEDULED)
    assert (
        await refused(world.set_status(request.id, S.NOT_STARTED, "go"))
    ).code is ErrorCode.INVALID_TRANSITION
    assert await status_of(request.id) is S.SCHEDULED


async def test_schedule_of_a_running_request_is_invalid_not_outside_window(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    error = await refused(world.schedule(request.id, OUTSIDE_WINDOW))
    assert error.code is ErrorCode.INVALID_TRANSITION


# --------------------------------------------------------------------- NOT_FOUND, FORBIDDEN


async def test_foreign_district_is_not_found(db):
    world = await make_world()
    foreign = await make_district()
    for kind, version in ((UpdateKind.VERSION_UPDATE, "Campus.2435.4"), (UpdateKind.DATABASE_REFRESH, None)):
        error = await refused(
            request_update(
                world.requester_actor,
                district_id=foreign.id,
                kind=kind,
                environment=E.PRODUCTION if version else E.SANDBOX,
                target_version=version,
            )
        )
        assert (error.code, error.field) == (ErrorCode.NOT_FOUND, "districtId")
    # A district that does not exist at all gives the very same answer.
    missing = await refused(
        request_update(
            world.staff_actor,
            district_id=999_999,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.PRODUCTION,
            target_version="Campus.2435.4",
        )
    )
    assert (missing.code, missing.field) == (ErrorCode.NOT_FOUND, "districtId")


async def test_foreign_request_is_not_found_on_every_path(db):
    world = await make_world()
    other = await make_world()
    theirs = await other.request_version()
    await other.drive(theirs.id, S.COMPLETED)
    queued = await other.request_refresh()
    for operation in (
        cancel_update_request(world.requester_actor, queued.id, now=T0),
        delete_update_request(world.requester_actor, theirs.id, now=T0),
        get_visible_request(world.requester_actor, queued.id),
        cancel_update_request(world.requester_actor, 999_999, now=T0),
    ):
        error = await refused(operation)
        assert (error.code, error.field) == (ErrorCode.NOT_FOUND, "id")
        assert error.message == "No update request with that id."
    assert await visible_requests(world.requester_actor).count() == 0
    assert await status_of(queued.id) is S.TO_BE_SCHEDULED
    assert not can_cancel(world.requester_actor, queued)


async def test_staff_schedule_of_a_missing_request_is_not_found(db):
    world = await make_world()
    error = await refused(world.schedule(999_999))
    assert error.code is ErrorCode.NOT_FOUND


async def test_viewers_cannot_write(db):
    world = await make_world()
    request = await world.request_version()
    done = await world.request_refresh()
    await world.drive(done.id, S.COMPLETED)
    for operation in (
        world.request_version("Campus.2435.9", actor=world.viewer_actor),
        world.request_refresh(E.STAGING, actor=world.viewer_actor),
        cancel_update_request(world.viewer_actor, request.id),
        delete_update_request(world.viewer_actor, done.id),
        schedule_update_request(world.viewer_actor, request.id, IN_WINDOW, now=T0),
        set_update_request_status(world.viewer_actor, request.id, S.DEFERRED, "no"),
    ):
        assert (await refused(operation)).code is ErrorCode.FORBIDDEN
    assert await get_visible_request(world.viewer_actor, request.id)  # reading is fine
    assert not can_cancel(world.viewer_actor, request)
    assert not can_delete(world.viewer_actor, done)
    assert await status_of(request.id) is S.TO_BE_SCHEDULED


@pytest.mark.parametrize("role", [Role.TECHNICAL_CONTACT, Role.STATE_CONTACT, Role.PARTNER, Role.ESA])
async def test_only_staff_schedule_and_set_statuses(db, role):
    world = await make_world(requester_role=role)
    request = await world.request_version()
    error = await refused(schedule_update_request(world.requester_actor, request.id, IN_WINDOW, now=T0))
    assert error.code is ErrorCode.FORBIDDEN
    error = await refused(
        set_update_request_status(world.requester_actor, request.id, S.DEFERRED, "not now", now=T0)
    )
    assert error.code is ErrorCode.FORBIDDEN
    assert await status_of(request.id) is S.TO_BE_SCHEDULED


async def test_multi_district_contact_acts_for_each_connected_district(db):
    first, second = await make_district(), await make_district()
    await make_catalog()
    contact = await actor_of(await make_account(Role.CONSORTIUM_CONTACT, [first, second]))
    for district in (first, second):
        request = await request_update(
            contact,
            district_id=district.id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.PRODUCTION,
            target_version="Campus.2435.4",
            now=T0,
        )
        assert (await cancel_update_request(contact, request.id, now=T0)).status is S.CANCELLED


# --------------------------------------------------------------------- supersession


async def test_newer_request_supersedes_the_older_open_one(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    await world.schedule(older.id)
    newer = await world.request_version("Campus.2435.4")
    stored = await UpdateRequest.get(id=older.id)
    assert (stored.status, stored.superseded_by_id) == (S.NEW_VERSION_REQUESTED, newer.id)
    assert newer.status is S.TO_BE_SCHEDULED
    assert await history(older.id) == [
        (None, S.TO_BE_SCHEDULED, "REQUESTER"),
        (S.TO_BE_SCHEDULED, S.SCHEDULED, "STAFF"),
        (S.SCHEDULED, S.NEW_VERSION_REQUESTED, "SYSTEM"),
    ]
    # A superseded request is no longer due: the dispatcher leaves it alone.
    assert await dispatch_due(now=IN_WINDOW) == []
    assert (await refused(world.cancel(older.id))).code is ErrorCode.INVALID_TRANSITION


async def test_completing_the_newer_completes_the_older(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    newer = await world.request_version("Campus.2435.4")
    await world.schedule(newer.id, OUTSIDE_WINDOW, override=True)
    assert await dispatch(newer.id, now=OUTSIDE_WINDOW)
    assert await begin(newer.id, now=OUTSIDE_WINDOW) is not None
    await complete(newer.id, now=OUTSIDE_WINDOW + timedelta(hours=1))
    stored_older = await UpdateRequest.get(id=older.id)
    assert stored_older.status is S.COMPLETED
    assert stored_older.completed_at == OUTSIDE_WINDOW + timedelta(hours=1)
    assert (await history(older.id))[-1] == (S.NEW_VERSION_REQUESTED, S.COMPLETED, "SYSTEM")
    last = await StatusChange.filter(update_request_id=older.id).order_by("-id").first()
    assert last is not None and str(newer.id) in (last.message or "")
    production = await environment(world)
    assert production.current_version == "Campus.2435.4"


async def test_supersession_chains_complete_together(db):
    world = await make_world()
    first = await world.request_version("Campus.2435.3")
    second = await world.request_version("Campus.2435.4")
    third = await world.request_version("Campus.2435.9")
    assert (await UpdateRequest.get(id=second.id)).superseded_by_id == third.id
    await world.drive(third.id, S.COMPLETED)
    assert [await status_of(r.id) for r in (first, second, third)] == [S.COMPLETED] * 3


async def test_a_started_request_is_not_superseded(db):
    world = await make_world()
    running = await world.request_version("Campus.2435.3")
    await world.drive(running.id, S.IN_PROGRESS)
    newer = await world.request_version("Campus.2435.4")
    assert await status_of(running.id) is S.IN_PROGRESS
    assert (await UpdateRequest.get(id=running.id)).superseded_by_id is None
    assert newer.status is S.TO_BE_SCHEDULED


async def test_supersession_is_per_environment(db):
    world = await make_world()
    staging = await world.request_version("Campus.2435.3", environment=E.STAGING)
    await world.request_version("Campus.2435.4", environment=E.PRODUCTION)
    assert await status_of(staging.id) is S.TO_BE_SCHEDULED


# --------------------------------------------------------------------- completion effects


async def test_in_progress_takes_the_site_offline_and_completion_brings_it_back(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.NOT_STARTED)
    assert (await environment(world)).online
    started = await begin(request.id, now=RUN_AT)
    assert started is not None and started.started_at == RUN_AT and started.attempts == 1
    assert not (await environment(world)).online
    assert (await environment(world, E.STAGING)).online  # only the environment being updated
    await complete(request.id, now=DONE_AT)
    production = await environment(world)
    assert production.online
    assert (production.current_version, production.version_updated_at) == ("Campus.2435.4", DONE_AT)
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.completed_at, stored.progress_percent) == (DONE_AT, 100)


@pytest.mark.parametrize("ending", ["complete", "fail", "staff"])
async def test_site_stays_offline_while_another_request_on_it_runs(db, ending):
    world = await make_world()
    update = await world.request_version(environment=E.STAGING)
    refresh = await world.request_refresh(E.STAGING)
    await world.drive(update.id, S.IN_PROGRESS)
    await world.drive(refresh.id, S.IN_PROGRESS)
    if ending == "complete":
        await complete(refresh.id, now=DONE_AT)
    elif ending == "fail":
        await fail(refresh.id, "Copy failed.", now=DONE_AT)
    else:
        await world.set_status(refresh.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.")
    assert await status_of(update.id) is S.IN_PROGRESS
    assert not (await environment(world, E.STAGING)).online
    await complete(update.id, now=DONE_AT)
    assert (await environment(world, E.STAGING)).online


async def test_failure_brings_the_site_back_online_with_the_reason(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    failed = await fail(request.id, "The upgrade script stopped at step 3.", now=DONE_AT)
    assert failed.status is S.UNABLE_TO_COMPLETE
    assert failed.status_message == "The upgrade script stopped at step 3."
    production = await environment(world)
    assert production.online and production.current_version == "Campus.2435.2"
    # Staff try again from the start: checkpoints and progress are forgotten.
    await world.set_status(request.id, S.TO_BE_SCHEDULED)
    retried = await UpdateRequest.get(id=request.id)
    assert (retried.status, retried.attempts, retried.started_at, retried.completed_steps) == (
        S.TO_BE_SCHEDULED,
        0,
        None,
        [],
    )


async def test_refresh_sets_last_refreshed_at_and_keeps_the_version(db):
    world = await make_world()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.drive(refresh.id, S.COMPLETED)
    sandbox = await environment(world, E.SANDBOX)
    assert (sandbox.last_refreshed_at, sandbox.current_version, sandbox.version_updated_at) == (
        DONE_AT,
        "Campus.2435.2",
        None,
    )
    assert sandbox.online
    assert await UpdateRequest.filter(automatic=True).count() == 0


async def test_production_update_brings_an_automatic_sandbox_update(db):
    world = await make_world()
    request = await world.request_version("Campus.2435.4")
    await world.drive(request.id, S.COMPLETED)
    sandbox_env = await environment(world, E.SANDBOX)
    automatic = await UpdateRequest.get(automatic=True)
    assert (automatic.environment_id, automatic.kind, automatic.target_version, automatic.status) == (
        sandbox_env.id,
        UpdateKind.VERSION_UPDATE,
        "Campus.2435.4",
        S.SCHEDULED,
    )
    assert automatic.scheduled_start == DONE_AT
    assert automatic.requested_by_id is None
    assert await history(automatic.id) == [
        (None, S.TO_BE_SCHEDULED, "SYSTEM"),
        (S.TO_BE_SCHEDULED, S.SCHEDULED, "SYSTEM"),
    ]
    # It runs like any other request and updates the sandbox's version.
    assert await dispatch_due(now=DONE_AT) == [automatic.id]
    assert await begin(automatic.id, now=DONE_AT) is not None
    assert not (await environment(world, E.SANDBOX)).online
    later = DONE_AT + timedelta(minutes=20)
    await complete(automatic.id, now=later)
    sandbox_env = await environment(world, E.SANDBOX)
    assert (sandbox_env.current_version, sandbox_env.version_updated_at, sandbox_env.online) == (
        "Campus.2435.4",
        later,
        True,
    )
    # A sandbox update does not bring another one.
    assert await UpdateRequest.filter(automatic=True).count() == 1


@pytest.mark.parametrize("target", [E.STAGING, E.PREVIEW])
async def test_other_environments_do_not_bring_a_sandbox_update(db, target):
    world = await make_world()
    request = await world.request_version(environment=target)
    await world.drive(request.id, S.COMPLETED)
    assert await UpdateRequest.filter(automatic=True).count() == 0
    assert (await environment(world, target)).current_version == "Campus.2435.4"
    assert (await environment(world, E.PRODUCTION)).current_version == "Campus.2435.2"


async def test_no_sandbox_update_when_the_district_has_no_sandbox(db):
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED, environments=(E.PRODUCTION,))
    request = await world.request_version()
    await world.drive(request.id, S.COMPLETED)
    assert await UpdateRequest.filter(automatic=True).count() == 0


# --------------------------------------------------------------------- idempotency


async def test_same_key_same_account_returns_the_first_request(db):
    world = await make_world()
    first = await world.request_version(idempotency_key="form-42")
    again = await world.request_version(idempotency_key="form-42")
    assert again.id == first.id
    # Even when the repeated call differs (a retried form after the user changed a field).
    other = await world.request_refresh(idempotency_key="form-42")
    assert other.id == first.id
    assert await UpdateRequest.all().count() == 1
    assert await StatusChange.all().count() == 1


async def test_same_key_from_different_accounts_is_separate(db):
    world = await make_world()
    colleague = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [world.district]))
    mine = await world.request_version(idempotency_key="form-42")
    theirs = await world.request_refresh(actor=colleague, idempotency_key="form-42")
    assert theirs.id != mine.id
    assert (theirs.requested_by_id, theirs.idempotency_key) == (colleague.account_id, "form-42")
    # Their key does not return my request: a same-version ask from them is checked as new.
    error = await refused(world.request_version(actor=colleague, idempotency_key="form-43"))
    assert error.code is ErrorCode.DUPLICATE_REQUEST


async def test_a_refused_request_does_not_claim_its_key(db):
    world = await make_world()
    error = await refused(world.request_version("Campus.2440.1", idempotency_key="k"))
    assert error.code is ErrorCode.UNKNOWN_VERSION
    created = await world.request_version("Campus.2435.4", idempotency_key="k")
    assert created.target_version == "Campus.2435.4"


# --------------------------------------------------------------------- cancel, delete, lists


async def test_cancel_keeps_the_history_and_hides_from_nothing_but_the_queue(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    cancelled = await world.cancel(request.id, actor=world.staff_actor)
    assert cancelled.status is S.CANCELLED
    assert (await history(request.id))[-1] == (S.SCHEDULED, S.CANCELLED, "STAFF")
    assert await dispatch_due(now=IN_WINDOW) == []


async def test_delete_hides_a_completed_request_and_keeps_its_history(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.COMPLETED)
    assert can_delete(world.requester_actor, await UpdateRequest.get(id=request.id))
    deleted = await delete_update_request(world.requester_actor, request.id, now=DONE_AT)
    assert deleted.deleted_at == DONE_AT
    assert await visible_requests(world.requester_actor).filter(id=request.id).count() == 0
    assert await visible_requests(world.staff_actor).filter(id=request.id).count() == 0
    assert len(await history(request.id)) == 5
    assert (
        await refused(delete_update_request(world.requester_actor, request.id))
    ).code is ErrorCode.NOT_FOUND


async def test_visible_requests_follow_the_actors_districts(db):
    world = await make_world()
    other = await make_world()
    mine = await world.request_version()
    theirs = await other.request_version()
    assert [r.id for r in await visible_requests(world.requester_actor)] == [mine.id]
    assert [r.id for r in await visible_requests(world.viewer_actor)] == [mine.id]
    staff_ids = {r.id for r in await visible_requests(world.staff_actor)}
    assert staff_ids == {mine.id, theirs.id}


# --------------------------------------------------------------------- scheduler and worker plumbing


async def test_dispatch_only_when_due(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert not await dispatch(request.id, now=IN_WINDOW - timedelta(seconds=1))
    assert await dispatch_due(now=IN_WINDOW - timedelta(seconds=1)) == []
    assert await dispatch_due(now=IN_WINDOW) == [request.id]
    assert await dispatch_due(now=IN_WINDOW) == []  # a second pass finds nothing
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.dispatched_at) == (S.NOT_STARTED, IN_WINDOW)


async def test_reschedule_moves_the_due_time(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await world.schedule(request.id, IN_WINDOW_NEXT_WEEK)
    assert await dispatch_due(now=IN_WINDOW) == []
    assert await dispatch_due(now=IN_WINDOW_NEXT_WEEK) == [request.id]
    assert [t for _, t, _ in await history(request.id)].count(S.SCHEDULED) == 2


async def test_begin_is_idempotent_for_redelivered_jobs(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    again = await begin(request.id, now=RUN_AT)
    assert again is not None and again.attempts == 2
    assert [t for _, t, _ in await history(request.id)].count(S.IN_PROGRESS) == 1
    cancelled = await world.request_refresh()
    await world.cancel(cancelled.id)
    assert await begin(cancelled.id, now=RUN_AT) is None
    assert await begin(999_999, now=RUN_AT) is None


async def test_progress_and_checkpoints_only_while_running(db):
    world = await make_world()
    request = await world.request_version()
    assert not await report_progress(request.id, 10, "backup")
    assert not await mark_step_finished(request.id, "backup")
    await world.drive(request.id, S.IN_PROGRESS)
    assert await report_progress(request.id, 140, "backup", "copying", now=RUN_AT)
    assert await mark_step_finished(request.id, "backup")
    assert await mark_step_finished(request.id, "backup")
    assert await mark_step_finished(request.id, "upgrade")
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.progress_percent, stored.progress_step, stored.progress_message) == (
        100,
        "backup",
        "copying",
    )
    assert await finished_steps(request.id) == ["backup", "upgrade"]


async def test_finish_step_checkpoints_and_stores_done_progress_in_one_write(db):
    world = await make_world()
    request = await world.request_version()
    assert not await finish_step(request.id, "backup", 15, "done", known_steps=[])
    assert not await finish_step(request.id, "backup", 15, "done")
    await world.drive(request.id, S.IN_PROGRESS)
    events = []

    async def sink(event):
        events.append(event)

    add_event_sink(sink)
    try:
        # The compare-and-set path, then a stale view (another delivery checkpointed "stop_site"
        # meanwhile): merged under the row lock, nothing lost, nothing repeated.
        assert await finish_step(request.id, "backup", 15, "Back up: done", now=RUN_AT, known_steps=[])
        await UpdateRequest.filter(id=request.id).update(completed_steps=["backup", "stop_site"])
        assert await finish_step(
            request.id, "install", 60, "Install: done", now=RUN_AT, known_steps=["backup"]
        )
        assert await finish_step(request.id, "install", 60, "Install: done", now=RUN_AT)
    finally:
        remove_event_sink(sink)
    assert await finished_steps(request.id) == ["backup", "stop_site", "install"]
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.progress_percent, stored.progress_step, stored.progress_message) == (
        60,
        "install",
        "Install: done",
    )
    assert [(e.type, e.district_id, e.progress.percent) for e in events] == [
        (EventType.PROGRESS, request.district_id, 15),
        (EventType.PROGRESS, request.district_id, 60),
        (EventType.PROGRESS, request.district_id, 60),
    ]
    await fail(request.id, "gave up", now=RUN_AT)
    checkpoints = ["backup", "stop_site", "install"]
    assert not await finish_step(request.id, "verify", 100, "done", known_steps=checkpoints)
    assert await finished_steps(request.id) == checkpoints


async def test_reclaim_lost_jobs_claims_each_once(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.NOT_STARTED)
    assert await reclaim_lost_jobs(timedelta(minutes=10), now=IN_WINDOW + timedelta(minutes=5)) == []
    later = IN_WINDOW + timedelta(minutes=11)
    assert await reclaim_lost_jobs(timedelta(minutes=10), now=later) == [request.id]
    assert await reclaim_lost_jobs(timedelta(minutes=10), now=later) == []
    assert (await UpdateRequest.get(id=request.id)).dispatched_at == later
    assert await status_of(request.id) is S.NOT_STARTED


async def test_actor_helpers(db):
    world = await make_world()
    assert world.staff_actor.district_ids is None
    assert world.requester_actor.district_ids == frozenset({world.district.id})
    assert isinstance(world.viewer_actor, Actor) and not world.viewer_actor.can_request_for(world.district.id)
    assert world.requester_actor.can_request_for(world.district.id)
    assert not world.requester_actor.can_request_for(world.district.id + 1)
