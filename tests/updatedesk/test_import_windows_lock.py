"""Races on PostgreSQL: the import file's windows are a rule change like staff's own, so an import
and a start decision take turns through the start lock (`models.start_lock`). The interleavings
are forced (each side seen waiting for the other in `pg_locks`), as for blackouts."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from models.enums import HostingModel, UpdateStatus
from models.requests.dispatch import dispatch
from models.tables import UpdateRequest
from tests.factories import make_district, make_request
from tests.models.scenario import IN_WINDOW
from tests.models.test_races_blackouts import after_rules_read, until_someone_waits
from tests.updatedesk.test_import_windows import document
from updatedesk import importer
from updatedesk.importer import ImportReport, import_document

S = UpdateStatus
CHICAGO = ZoneInfo("America/Chicago")

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
