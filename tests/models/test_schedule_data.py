"""Windows and blackouts as stored data: staff change them, slots follow at once, and everyone
sees the blackouts over their districts (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from models.access import Actor
from models.blackouts import BlackoutScope, blackouts_over, create_blackout, delete_blackout, facts_of
from models.blackouts import visible_blackouts as visible
from models.enums import ErrorCode, HostingModel, Role
from models.maintenance import (
    all_rules,
    check_rule,
    create_rule,
    delete_rule,
    replace_rules,
    upcoming_slots,
    update_rule,
    weekly_window,
)
from models.tables import Blackout, MaintenanceWindow
from tests.factories import actor_of, make_account, make_district, make_group
from tests.models.scenario import refused
from tests.support import create_postgres_database, drop_postgres_database

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Monday 09:00 CST
CLOUD = HostingModel.CAMPUS_CLOUD
ASP = HostingModel.ASP_HOSTED


async def staff() -> Actor:
    return await actor_of(await make_account(Role.HOSTING_STAFF))


# --------------------------------------------------------------------- windows


async def test_the_seeded_window_is_thursday_in_iso_numbers(db):
    (row,) = await all_rules()
    assert (row.hosting_model, row.weekday, row.time_zone) == (CLOUD, 4, "America/Chicago")
    slots = await upcoming_slots(CLOUD, 1, now=NOW)
    assert slots[0].start == datetime(2026, 11, 5, 6, 30, tzinfo=UTC)  # Thursday 00:30 CST


async def test_staff_create_change_and_delete_windows_and_slots_follow_at_once(db):
    actor = await staff()
    (seeded,) = await all_rules()
    # Move Thursday's window to Wednesday 22:00 - Thursday 01:00 (past midnight).
    moved = await update_rule(actor, seeded.id, check_rule(CLOUD, 3, "22:00", "01:00", "America/Chicago"))
    assert moved.id == seeded.id
    reread = await MaintenanceWindow.get(id=seeded.id)
    assert (reread.weekday, weekly_window(reread).start.hour, weekly_window(reread).end.hour) == (3, 22, 1)
    slots = await upcoming_slots(CLOUD, 1, now=NOW)
    assert (slots[0].start, slots[0].end) == (
        datetime(2026, 11, 5, 4, 0, tzinfo=UTC),
        datetime(2026, 11, 5, 7, 0, tzinfo=UTC),
    )
    # A second window for ASP-hosted districts, then gone again.
    asp = await create_rule(actor, check_rule(ASP, 7, "06:00", "08:00", "America/New_York"))
    assert [s.start for s in await upcoming_slots(ASP, 1, now=NOW)] == [
        datetime(2026, 11, 8, 11, 0, tzinfo=UTC)
    ]
    await delete_rule(actor, asp.id)
    assert await upcoming_slots(ASP, 1, now=NOW) == []
    await delete_rule(actor, seeded.id)
    assert await upcoming_slots(CLOUD, 4, now=NOW) == []


async def test_window_changes_are_for_staff_only_and_missing_ones_are_not_found(db):
    district = await make_district()
    rule = check_rule(CLOUD, 2, "01:00", "02:00", "America/Chicago")
    (seeded,) = await all_rules()
    for role in (Role.TECHNICAL_CONTACT, Role.STATE_CONTACT, Role.VIEWER):
        actor = await actor_of(await make_account(role, [district]))
        for attempt in (
            create_rule(actor, rule),
            update_rule(actor, seeded.id, rule),
            delete_rule(actor, seeded.id),
        ):
            assert (await refused(attempt)).code is ErrorCode.FORBIDDEN
    actor = await staff()
    assert (await refused(update_rule(actor, seeded.id + 999, rule))).code is ErrorCode.NOT_FOUND
    assert (await refused(delete_rule(actor, seeded.id + 999))).code is ErrorCode.NOT_FOUND
    duplicate = check_rule(CLOUD, 4, "00:30", "03:30", "America/Chicago")
    assert (await refused(create_rule(actor, duplicate))).code is ErrorCode.VALIDATION
    assert await MaintenanceWindow.all().count() == 1


async def test_replacing_a_models_windows_twice_changes_nothing(db):
    rules = [
        check_rule(CLOUD, 4, "00:30", "03:30", "America/Chicago"),
        check_rule(CLOUD, 2, "22:00", "01:00", "America/Chicago"),
    ]
    assert await replace_rules(CLOUD, rules) == {"created": 1, "unchanged": 1, "removed": 0}
    ids = sorted(await MaintenanceWindow.all().values_list("id", flat=True))
    assert await replace_rules(CLOUD, rules) == {"created": 0, "unchanged": 2, "removed": 0}
    assert sorted(await MaintenanceWindow.all().values_list("id", flat=True)) == ids
    assert await replace_rules(CLOUD, rules[1:]) == {"created": 0, "unchanged": 1, "removed": 1}
    assert [(r.weekday, r.hosting_model) for r in await all_rules()] == [(2, CLOUD)]


def _migrate(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "updatedesk.cli", "migrate"],
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr


async def test_the_migration_turns_stored_weekdays_into_iso_numbers(db, tmp_path):
    """A fresh database: 0002 seeds Thursday as 3 (the old numbering), 0004 makes it 4."""
    if db.is_postgres:
        url = await create_postgres_database("updatedesk_migrate")
        try:
            _migrate(url)
            connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
            try:
                weekdays = [
                    r["weekday"] for r in await connection.fetch("SELECT weekday FROM maintenance_window")
                ]
            finally:
                await connection.close()
        finally:
            await drop_postgres_database(url)
    else:
        path = tmp_path / "fresh.sqlite3"
        _migrate(f"sqlite://{path}")
        with sqlite3.connect(path) as connection:
            weekdays = [row[0] for row in connection.execute("SELECT weekday FROM maintenance_window")]
    assert weekdays == [4]


# --------------------------------------------------------------------- blackouts


async def test_blackout_create_and_delete_by_staff_only(db):
    group = await make_group()
    district = await make_district(group=group)
    actor = await staff()
    start, end = datetime(2027, 4, 12, 5, tzinfo=UTC), datetime(2027, 4, 17, 5, tzinfo=UTC)
    row = await create_blackout(
        actor,
        start=start,
        end=end,
        reason="State testing",
        scope=BlackoutScope(update_group_id=group.id),
        now=NOW,
    )
    assert (row.start, row.end, row.reason, row.update_group_id, row.created_by_id) == (
        start,
        end,
        "State testing",
        group.id,
        actor.account_id,
    )
    contact = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    forbidden = create_blackout(contact, start=start, end=end, reason="Mine", now=NOW)
    assert (await refused(forbidden)).code is ErrorCode.FORBIDDEN
    assert (await refused(delete_blackout(contact, row.id))).code is ErrorCode.FORBIDDEN
    missing = create_blackout(
        actor, start=start, end=end, reason="x", scope=BlackoutScope(district_id=district.id + 999), now=NOW
    )
    assert ((error := await refused(missing)).code, error.field) == (ErrorCode.NOT_FOUND, "districtId")
    await delete_blackout(actor, row.id)
    assert not await Blackout.exists(id=row.id)
    assert (await refused(delete_blackout(actor, row.id))).code is ErrorCode.NOT_FOUND


async def test_everyone_sees_the_blackouts_over_their_districts(db):
    group = await make_group()
    lakeside = await make_district(group=group)  # Campus Cloud, in the group
    hilltop = await make_district(hosting_model=ASP)  # ASP-hosted, no group
    elsewhere = await make_district(hosting_model=ASP)
    actor = await staff()
    span: dict[str, Any] = {
        "start": datetime(2027, 1, 4, tzinfo=UTC),
        "end": datetime(2027, 1, 8, tzinfo=UTC),
        "now": NOW,
    }
    made = {
        "all": await create_blackout(actor, reason="Winter break", **span),
        "cloud": await create_blackout(
            actor, reason="Cloud move", scope=BlackoutScope(hosting_model=CLOUD), **span
        ),
        "group": await create_blackout(
            actor, reason="Testing", scope=BlackoutScope(update_group_id=group.id), **span
        ),
        "hilltop": await create_blackout(
            actor, reason="Hilltop exams", scope=BlackoutScope(district_id=hilltop.id), **span
        ),
        "elsewhere": await create_blackout(
            actor, reason="Elsewhere", scope=BlackoutScope(district_id=elsewhere.id), **span
        ),
    }
    names = {row.id: name for name, row in made.items()}

    async def seen(actor: Actor) -> set[str]:
        return {names[row.id] for row in await (await visible(actor))}

    accounts = {
        "lakeside contact": await make_account(Role.TECHNICAL_CONTACT, [lakeside]),
        "hilltop viewer": await make_account(Role.VIEWER, [hilltop]),
        "state contact over both": await make_account(Role.STATE_CONTACT, [lakeside, hilltop]),
        "no districts": await make_account(Role.PARTNER, []),
    }
    expected = {
        "lakeside contact": {"all", "cloud", "group"},
        "hilltop viewer": {"all", "hilltop"},
        "state contact over both": {"all", "cloud", "group", "hilltop"},
        "no districts": set(),
    }
    assert {name: await seen(await actor_of(account)) for name, account in accounts.items()} == expected
    assert await seen(actor) == set(made)
    over_lakeside = await blackouts_over(facts_of(lakeside), span["start"], span["end"])
    assert {names[row.id] for row in over_lakeside} == {"all", "cloud", "group"}
    assert await blackouts_over(facts_of(lakeside), span["end"], span["end"] + timedelta(days=1)) == []
