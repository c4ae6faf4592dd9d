"""Races on PostgreSQL: the import file's windows are a rule change like staff's own, so an import
and a start decision take turns through the start lock (`models.start_lock`). The interleavings
are forced (each side seen waiting for the other in `pg_locks`), as for blackouts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.requests import slots
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.tables import District, UpdateGroup, UpdateRequest
from tests.factories import actor_of, make_account, make_district, make_request
from tests.models.scenario import IN_WINDOW
from tests.models.test_races_blackouts import after_rules_read, until_someone_waits
from tests.updatedesk.test_import_windows import document
from updatedesk import importer
from updatedesk.importer import ImportReport, import_document

S = UpdateStatus
CHICAGO = ZoneInfo("America/Chicago")
HOUR = timedelta(hours=1)

#: Campus Cloud's windows become Tuesday nights only: IN_WINDOW (a Thursday, 01:00 in Chicago,
#: inside the seeded Thursday window) is no longer inside one.
TUESDAY_NIGHTS = [
    {
        "hostingModel": "CAMPUS_CLOUD",
        "weekday": 2,
        "startTime": "22:00",
        "endTime": "01:00",
        "timeZone": "America/Chicago",
    }
]


async def update_due_in_the_thursday_window() -> UpdateRequest:
    district = await make_district(hosting_model=HostingModel.CAMPUS_CLOUD)
    return await make_request(district, status=S.SCHEDULED, scheduled_start=IN_WINDOW)


def local(at: datetime | None) -> str:
    assert at is not None
    return f"{at.astimezone(CHICAGO):%a %H:%M}"


@pytest.mark.postgres
async def test_an_import_of_windows_while_a_start_is_decided_returns_only_after_the_start(
    postgres_db, monkeypatch
):
    """The dispatcher has read the Thursday window; the import that removes it waits for the
    dispatch to commit, so what it returns to is the request already started (decided before the
    window went), never a start that commits after the import has returned."""
    request = await update_due_in_the_thursday_window()
    rules_read = asyncio.Event()

    async def import_when_rules_are_read() -> tuple[ImportReport, S]:
        # Made outside the deciding transaction (a task made inside would share its connection).
        await rules_read.wait()
        report = await import_document(document(TUESDAY_NIGHTS))
        return report, (await UpdateRequest.get(id=request.id)).status

    importing = asyncio.create_task(import_when_rules_are_read())

    async def signal_and_wait() -> None:
        rules_read.set()
        await until_someone_waits()  # the import waits for this dispatch to commit

    after_rules_read(monkeypatch, signal_and_wait)
    assert await dispatch(request.id, now=IN_WINDOW)
    report, seen_when_imported = await importing
    assert seen_when_imported is S.NOT_STARTED
    windows = report.counts["maintenanceWindows"]
    assert (windows["created"], windows["removed"]) == (1, 1)


@pytest.mark.postgres
async def test_a_start_decided_while_windows_are_imported_waits_and_sees_them(postgres_db, monkeypatch):
    """The import holds the lock first: the dispatcher waits for it to commit, then reads the new
    windows and moves the request to the next Tuesday night rather than start it now."""
    request = await update_due_in_the_thursday_window()
    real = importer.hold_for_rule_change
    locked = asyncio.Event()

    async def hold_then_let_the_dispatcher_queue() -> None:
        await real()
        locked.set()
        await until_someone_waits()

    monkeypatch.setattr(importer, "hold_for_rule_change", hold_then_let_the_dispatcher_queue)

    async def decide() -> bool:
        await locked.wait()
        return await dispatch(request.id, now=IN_WINDOW)

    deciding = asyncio.create_task(decide())
    await import_document(document(TUESDAY_NIGHTS))
    assert not await deciding
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, local(moved.scheduled_start)) == (S.SCHEDULED, "Tue 22:00")


async def test_an_import_without_windows_does_not_wait_for_start_decisions(db, monkeypatch):
    """A file without `maintenanceWindows` changes no rule: it takes no lock."""
    taken: list[bool] = []

    async def hold() -> None:
        taken.append(True)

    monkeypatch.setattr(importer, "hold_for_rule_change", hold)
    data = document([])
    del data["maintenanceWindows"]
    await import_document(data)
    assert taken == []
    await import_document(document(TUESDAY_NIGHTS))
    assert taken == [True]


# ------------------------------------------------- a district moved into a blacked-out group


async def lakeside_refresh_due_in_a_group_blackout() -> tuple[dict[str, Any], UpdateRequest]:
    """Lakeside (imported in no group) with a sandbox refresh due at IN_WINDOW, a blackout of the
    file's update group over it, and the file that moves Lakeside into that group (no windows)."""
    data = document([])
    del data["maintenanceWindows"]
    await import_document(data)
    group = await UpdateGroup.get(name=data["updateGroups"][0]["name"])
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    await create_blackout(
        staff, start=IN_WINDOW - HOUR, end=IN_WINDOW + HOUR, reason="State testing",
        scope=BlackoutScope(update_group_id=group.id), now=IN_WINDOW - HOUR,
    )  # fmt: skip
    lakeside = await District.get(name=data["districts"][0]["name"])
    request = await make_request(
        lakeside, kind=UpdateKind.DATABASE_REFRESH, environment=EnvironmentKind.SANDBOX,
        status=S.SCHEDULED, scheduled_start=IN_WINDOW,
    )  # fmt: skip
    data["districts"][0]["updateGroup"] = group.name
    return data, request


@pytest.mark.postgres
async def test_an_import_moving_a_district_into_a_blacked_out_group_returns_only_after_the_start(
    postgres_db, monkeypatch
):
    """The dispatcher has read the rules (Lakeside in no group); the import that moves Lakeside
    into a blacked-out group changes which blackouts cover it: it waits for the dispatch to commit,
    so a start never commits inside the blackout after the import has returned."""
    data, request = await lakeside_refresh_due_in_a_group_blackout()
    rules_read = asyncio.Event()

    async def import_when_rules_are_read() -> S:
        await rules_read.wait()
        await import_document(data)
        return (await UpdateRequest.get(id=request.id)).status

    importing = asyncio.create_task(import_when_rules_are_read())

    async def signal_and_wait() -> None:
        rules_read.set()
        await until_someone_waits()  # the import waits for this dispatch to commit

    after_rules_read(monkeypatch, signal_and_wait)
    assert await dispatch(request.id, now=IN_WINDOW)  # decided before Lakeside joined the group
    assert await importing is S.NOT_STARTED


@pytest.mark.postgres
@pytest.mark.parametrize("decider", ["dispatch", "begin"])
async def test_a_start_read_before_an_import_moved_its_district_into_a_blacked_out_group_sees_it(
    postgres_db, monkeypatch, decider
):
    """The dispatcher (or the worker's begin) has read the request and its district (in no group)
    but not yet the rules when an import moves the district into a blacked-out group and returns:
    the start decided afterwards must see the group's blackout, and moves the request past it."""
    data, request = await lakeside_refresh_due_in_a_group_blackout()
    if decider == "begin":
        assert await dispatch(request.id, now=IN_WINDOW)
    real = slots.hold_for_start_decision
    asked = asyncio.Event()

    async def import_when_asked() -> None:
        # A task made here, outside the deciding transaction, has a connection of its own.
        await asked.wait()
        await import_document(data)

    importing = asyncio.create_task(import_when_asked())

    async def import_first_then_hold() -> None:
        if not asked.is_set():
            asked.set()
            await importing  # the import has returned before this start is decided
        await real()

    monkeypatch.setattr(slots, "hold_for_start_decision", import_first_then_hold)
    if decider == "dispatch":
        assert not await dispatch(request.id, now=IN_WINDOW)
    else:
        assert await begin(request.id, now=IN_WINDOW) is None
    assert importing.done()
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, IN_WINDOW + HOUR)
