"""A staff calendar feed with more scheduled work than one SQL statement may carry bind parameters
(PostgreSQL 32,767; SQLite 32,766 unless built with more): it is read in full, each event with the
SEQUENCE of its own latest invitation (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from tortoise import connections

from models import calendar_feed
from models.calendars import CalendarEntry
from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.notices import invitation_uid
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.tables import StatusChange, UpdateRequest
from tests import support
from tests.factories import actor_of, make_account, make_district

#: Over both databases' limits on bind parameters in one statement.
SCHEDULED = 32_800
#: SQLite's own default limit; some builds (Debian's) raise it, so a test sets it back.
SQLITE_DEFAULT_VARIABLES = 32_766
T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
REFRESH_AT = datetime(2026, 11, 7, 14, 0, tzinfo=UTC)


@asynccontextmanager
async def sqlite_variable_limit(database: support.TestDatabase, limit: int) -> AsyncIterator[None]:
    """On SQLite, the limit of bind parameters per statement set to `limit` while inside."""
    if database.is_postgres:
        yield
        return
    # The ORM's one SQLite connection lives in aiosqlite's thread: change it there.
    client: Any = connections.get("default")
    await client.create_connection(with_db=True)
    link = client._connection
    before = await link._execute(link._conn.getlimit, sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    await link._execute(link._conn.setlimit, sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    try:
        yield
    finally:
        await link._execute(link._conn.setlimit, sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


async def copies_of(template: UpdateRequest, count: int) -> list[int]:
    """`count` - 1 more requests exactly like `template` (a request made and scheduled by the rules),
    with its history, written by two INSERT ... SELECT statements (ORM objects would take seconds
    per ten thousand). Every id, the template's first."""
    columns = ", ".join(f'"{c}"' for c in UpdateRequest._meta.db_fields if c != "id")
    numbers = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count - 1}) "
    client = connections.get("default")
    await client.execute_script(
        f'{numbers}INSERT INTO "update_request" ({columns}) '
        f'SELECT {columns} FROM "update_request", n WHERE "id" = {template.id}'
    )
    history = [c for c in StatusChange._meta.db_fields if c not in ("id", "update_request_id")]
    copied = ", ".join(f'"{c}"' for c in history)
    source = ", ".join(f'"h"."{c}"' for c in history)
    await client.execute_script(
        f'INSERT INTO "status_change" ("update_request_id", {copied}) '
        f'SELECT "r"."id", {source} FROM "update_request" "r" '
        f'JOIN "status_change" "h" ON "h"."update_request_id" = {template.id} WHERE "r"."id" <> {template.id}'
    )
    return cast(list[int], await UpdateRequest.all().order_by("id").values_list("id", flat=True))


async def test_a_staff_feed_with_more_scheduled_work_than_bind_parameters(
    db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    district = await make_district(hosting_model=HostingModel.ASP_HOSTED)
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    staff = await make_account(Role.HOSTING_STAFF)
    template = await request_update(
        await actor_of(contact), district_id=district.id, kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.SANDBOX, now=T0,
    )  # fmt: skip
    await schedule_update_request(await actor_of(staff), template.id, REFRESH_AT, now=T0)
    ids = await copies_of(template, SCHEDULED)
    assert len(ids) == SCHEDULED
    # The last one was rescheduled since: its calendar event is at SEQUENCE 1, the others at 0.
    moved = T0 + timedelta(hours=1)
    await StatusChange.create(
        update_request_id=ids[-1], from_status=UpdateStatus.SCHEDULED, to_status=UpdateStatus.SCHEDULED,
        at=moved, actor="STAFF",
    )  # fmt: skip
    rendered: list[list[CalendarEntry]] = []

    def compose(name: str, entries: list[CalendarEntry]) -> bytes:
        # Rendering tens of thousands of events is icalendar's CPU time, not what is tested here.
        rendered.append(entries)
        return b""

    monkeypatch.setattr(calendar_feed, "compose_feed", compose)
    async with sqlite_variable_limit(db, SQLITE_DEFAULT_VARIABLES):
        await calendar_feed.feed_of(staff, T0)

    [entries] = rendered
    by_uid = {entry.uid: entry for entry in entries}
    assert len(by_uid) == SCHEDULED
    assert [by_uid[invitation_uid(pk)].sequence for pk in (ids[0], ids[-2], ids[-1])] == [0, 0, 1]
    assert by_uid[invitation_uid(ids[-1])].stamped_at == moved
