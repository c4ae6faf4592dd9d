"""What the hosting team does: scheduling inside windows (or with a recorded override), status moves
that need a message.
Against a real database, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from models.enums import (
    EnvironmentKind,
    ErrorCode,
    HostingModel,
    Role,
    UpdateStatus,
)
from models.maintenance import upcoming_slots
from models.requests.leases import release_stopped
from models.requests.staff import schedule_update_request, set_update_request_status
from models.tables import MaintenanceWindow, StatusChange, UpdateRequest
from tests.factories import make_district
from tests.models.scenario import (
    IN_WINDOW,
    OUTSIDE_WINDOW,
    T0,
    environment,
    make_world,
    refused,
    status_of,
)

S = UpdateStatus
E = EnvironmentKind


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
    if source is S.IN_PROGRESS:  # a job is at work on the site: it comes back online as it stops
        assert not (await environment(world)).online
        assert await release_stopped(request.id)
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


async def test_scheduling_outside_the_window_is_refused(db):
    world = await make_world()
    request = await world.request_version()
    error = await refused(world.schedule(request.id, OUTSIDE_WINDOW))
    assert (error.code, error.field) == (ErrorCode.OUTSIDE_MAINTENANCE_WINDOW, "start")
    assert "Thursday 00:30-03:30 America/Chicago" in error.message
    # The next window, to act on, in the district's own time.
    assert "The next possible start is Thursday, November 12, 2026 at 12:30 AM CST." in error.message
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
    slots = await upcoming_slots(world.district.hosting_model, 2, now=T0)
    assert [(s.start.hour, s.end.hour) for s in slots] == [(16, 18), (16, 18)]
    # A second window is one more row: Tuesday 22:00 to Wednesday 01:00 Chicago.
    await MaintenanceWindow.create(
        hosting_model=HostingModel.CAMPUS_CLOUD,
        weekday=2,  # ISO: Tuesday
        start_time=time(22, 0, tzinfo=UTC),
        end_time=time(1, 0, tzinfo=UTC),
        time_zone="America/Chicago",
    )
    tuesday_night = datetime(2026, 11, 4, 4, 0, tzinfo=UTC)  # Tuesday 22:00 CST
    request_two = await world.request_version("Campus.2435.4", environment=E.STAGING)
    assert (await world.schedule(request_two.id, tuesday_night)).status is S.SCHEDULED
    slots = await upcoming_slots(world.district.hosting_model, 2, now=T0)
    assert [s.start for s in slots] == [tuesday_night, new_window.replace(hour=16)]


async def test_upcoming_slots_for_a_district(db):
    cloud = await make_world()
    slots = await upcoming_slots(cloud.district.hosting_model, 3, now=T0)
    assert [s.start for s in slots] == [
        IN_WINDOW.replace(minute=30, hour=6) + timedelta(days=7 * i) for i in range(3)
    ]
    asp = await make_district(hosting_model=HostingModel.ASP_HOSTED)
    assert await upcoming_slots(asp.hosting_model, 3, now=T0) == []


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


async def test_staff_schedule_of_a_missing_request_is_not_found(db):
    world = await make_world()
    error = await refused(world.schedule(999_999))
    assert error.code is ErrorCode.NOT_FOUND


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
