"""Upgrading a database that holds data. For each migration that changes a table already there, a
database migrated up to the one before it and filled as a deployment of that version left it (every
table then, requests in many statuses with their history, mail, rollouts...) is migrated to the
head. Every row must still be there and unchanged, its foreign keys pointing at the same rows; the
data migrations must have done their part (and nothing more); and the schema must be the one a
fresh database gets, with every index the models declare. On both databases.

Migrating runs in this process, in a Tortoise context of its own, so the test database the session
holds is left alone."""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tortoise.context import TortoiseContext

import models.migrations
from infra.db import tortoise_config
from tests.support import TestDatabase
from tests.support_migrations import Scratch, migrate, scratch_database

MIGRATIONS = sorted(
    name
    for _, name, is_pkg in pkgutil.iter_modules(models.migrations.__path__)
    if not is_pkg and name[0] != "_"
)
#: From each migration from the seed of the window (0002) to the one before the head: every later
#: migration then runs on a database that has data.
STARTS = MIGRATIONS[1:-1]
#: Tortoise's own bookkeeping, which migrating is meant to change.
BOOKKEEPING = "tortoise_migrations"


def number(migration: str) -> int:
    return int(migration.split("_", 1)[0])


AT = "2026-10-{:02d} {}:00+00:00"


def at(day: int, time: str = "09:00") -> str:
    return AT.format(day, time)


def rows(columns: str, *values: tuple[Any, ...]) -> list[dict[str, Any]]:
    names = columns.split()
    return [dict(zip(names, row, strict=True)) for row in values]


# fmt: off
FIRST_REQUEST: dict[str, Any] = {
    "id": 1, "kind": "VERSION_UPDATE", "status": "COMPLETED", "district_id": 1, "environment_id": 1,
    "target_version": "Campus.2435.0", "preferred_start": None, "scheduled_start": at(3, "05:30"),
    "window_override": False, "started_at": at(3, "05:30"), "completed_at": at(3, "06:10"),
    "dispatched_at": at(3, "05:30"), "created_at": at(2), "updated_at": at(3, "06:10"), "requested_by_id": 2,
    "automatic": False, "notes": "Before the term starts.", "status_message": None, "superseded_by_id": None,
    "idempotency_key": "k-1", "deleted_at": None, "progress_percent": 100, "progress_step": "done",
    "progress_message": None, "progress_at": at(3, "06:10"), "completed_steps": '["backup","upgrade"]',
    "attempts": 1, "deleted_by_id": None, "internal_detail": None, "lease_expires_at": None,
    "lease_token": None, "reclaims": 0, "history_seq": 4, "rollout_id": None, "failure_accepted": False,
}
#: Request 1 done; 2 running on a staging site; 3 a refresh about to start; 4, 5 in a rollout (from
#: 0010); 6 failed; 7 replaced by 8, which waits for an answer; 9 withdrawn and deleted.
NOT_RUN = {"started_at": None, "completed_at": None, "dispatched_at": None, "progress_percent": None,
           "progress_step": None, "progress_at": None, "completed_steps": "[]", "attempts": 0}
REQUESTS = [
    FIRST_REQUEST,
    {**FIRST_REQUEST, "id": 2, "status": "IN_PROGRESS", "environment_id": 2, "completed_at": None,
     "scheduled_start": at(9, "05:30"), "started_at": at(9, "05:31"), "updated_at": at(9, "05:40"),
     "idempotency_key": "k-2", "progress_percent": 40, "progress_step": "upgrade",
     "completed_steps": '["backup"]', "internal_detail": "pod north1-staging",
     "lease_expires_at": at(9, "05:45"), "lease_token": "0f6a1d1e-4a39-4a57-9a37-3f1c2b3c4d5e", "reclaims": 1,
     "history_seq": 3},
    {**FIRST_REQUEST, **NOT_RUN, "id": 3, "kind": "DATABASE_REFRESH", "status": "NOT_STARTED",
     "district_id": 2, "environment_id": 6, "target_version": None, "requested_by_id": 3,
     "idempotency_key": None, "history_seq": 3},
    {**FIRST_REQUEST, **NOT_RUN, "id": 4, "status": "SCHEDULED", "district_id": 3, "environment_id": 4,
     "target_version": "Campus.2435.4", "scheduled_start": at(15, "05:30"), "requested_by_id": None,
     "automatic": True, "idempotency_key": None, "history_seq": 2, "rollout_id": 1},
    {**FIRST_REQUEST, **NOT_RUN, "id": 5, "status": "TO_BE_SCHEDULED", "district_id": 4, "environment_id": 5,
     "target_version": "Campus.2435.4", "preferred_start": at(20, "22:00"), "scheduled_start": None,
     "requested_by_id": 1, "window_override": True, "idempotency_key": None, "history_seq": 1,
     "rollout_id": 1},
    {**FIRST_REQUEST, "id": 6, "status": "UNABLE_TO_COMPLETE", "district_id": 4, "environment_id": 5,
     "status_message": "The upgrade failed: disk full.", "completed_at": None, "requested_by_id": 4,
     "idempotency_key": None, "progress_percent": 60, "progress_message": "No space left on device",
     "attempts": 3, "history_seq": 3},
    {**FIRST_REQUEST, **NOT_RUN, "id": 8, "status": "PENDING_INPUT", "target_version": "Campus.2435.4",
     "scheduled_start": None, "idempotency_key": "k-8", "history_seq": 2},
    {**FIRST_REQUEST, **NOT_RUN, "id": 7, "status": "NEW_VERSION_REQUESTED",
     "target_version": "Campus.2435.2", "scheduled_start": None, "superseded_by_id": 8,
     "idempotency_key": "k-7", "history_seq": 2},
    {**FIRST_REQUEST, **NOT_RUN, "id": 9, "status": "CANCELLED", "district_id": 4, "environment_id": 5,
     "target_version": "Campus.2435.4", "idempotency_key": None, "deleted_at": at(6), "deleted_by_id": 1,
     "history_seq": 2},
]
HISTORY = [  # request, from, to, day, time, by, actor, message
    (1, None, "TO_BE_SCHEDULED", 2, "09:00", 2, "USER", None),
    (1, "TO_BE_SCHEDULED", "SCHEDULED", 2, "10:00", 1, "USER", "Thursday night."),
    (1, "SCHEDULED", "IN_PROGRESS", 3, "05:30", None, "WORKER", None),
    (1, "IN_PROGRESS", "COMPLETED", 3, "06:10", None, "WORKER", None),
    (2, None, "TO_BE_SCHEDULED", 2, "09:00", 2, "USER", None),
    (2, "TO_BE_SCHEDULED", "SCHEDULED", 2, "10:00", 1, "USER", None),
    (2, "SCHEDULED", "IN_PROGRESS", 9, "05:31", None, "WORKER", None),
    (3, None, "TO_BE_SCHEDULED", 2, "09:00", 3, "USER", None),
    (3, "TO_BE_SCHEDULED", "SCHEDULED", 2, "09:30", 1, "USER", None),
    (3, "SCHEDULED", "NOT_STARTED", 9, "05:30", None, "SCHEDULER", None),
    (4, None, "TO_BE_SCHEDULED", 8, "09:00", None, "SYSTEM", None),
    (4, "TO_BE_SCHEDULED", "SCHEDULED", 8, "09:05", 1, "USER", None),
    (5, None, "TO_BE_SCHEDULED", 8, "09:00", 1, "USER", None),
    (6, None, "TO_BE_SCHEDULED", 2, "09:00", 4, "USER", None),
    (6, "TO_BE_SCHEDULED", "IN_PROGRESS", 3, "05:30", None, "WORKER", None),
    (6, "IN_PROGRESS", "UNABLE_TO_COMPLETE", 3, "05:50", None, "WORKER", "disk full"),
    (7, None, "TO_BE_SCHEDULED", 2, "09:00", 2, "USER", None),
    (7, "TO_BE_SCHEDULED", "NEW_VERSION_REQUESTED", 4, "09:00", 2, "USER", None),
    (8, None, "TO_BE_SCHEDULED", 4, "09:00", 2, "USER", None),
    (8, "TO_BE_SCHEDULED", "PENDING_INPUT", 4, "10:00", 1, "USER", "Which term?"),
    (9, None, "TO_BE_SCHEDULED", 4, "09:00", 4, "USER", None),
    (9, "TO_BE_SCHEDULED", "CANCELLED", 6, "09:00", 1, "USER", None),
]

#: What a deployment has: every column any version had. Columns a version did not have yet (or no
#: longer has) are left out when that version's database is filled; tables it did not have are
#: skipped. Parents come before the rows that point at them.
DATA: list[tuple[str, list[dict[str, Any]]]] = [
    # 0002 seeded Campus Cloud's window (id 1); weekdays count from 0 = Monday before 0004.
    ("maintenance_window", rows(
        "id hosting_model weekday start_time end_time time_zone",
        (2, "ASP_HOSTED", 5, "22:00:00", "23:30:00", "America/New_York"))),
    ("release", rows(
        "id version released_at",
        (1, "Campus.2435.0", at(1)),
        (2, "Campus.2435.4", at(8)))),
    ("update_group", rows(
        "id name kind created_at",
        (1, "North", "STATE", at(1)),
        (2, "Lakes", "CONSORTIUM", at(1)))),
    ("district", rows(
        "id name hosting_model update_group_id time_zone created_at",
        (1, "North 1", "ASP_HOSTED", 1, "America/Chicago", at(1)),
        (2, "North 2", "ASP_HOSTED", 1, "America/Chicago", at(1)),
        (3, "Lakes 1", "CAMPUS_CLOUD", 2, "America/Detroit", at(2)),
        (4, "Alone", "CAMPUS_CLOUD", None, "America/Denver", at(2)))),
    ("account", rows(
        "id email name role active hide_completed created_at notify",
        (1, "staff@example.org", "Staff", "HOSTING_STAFF", True, False, at(1), None),
        (2, "tech@north1.example.org", "Tech", "TECHNICAL_CONTACT", True, True, at(1), "MY_REQUESTS"),
        (3, "state@north.example.org", "State", "STATE_CONTACT", True, False, at(2), "ALL_MY_DISTRICTS"),
        (4, "gone@example.org", "Gone", "VIEWER", False, False, at(2), "NONE"))),
    ("account_district", rows(
        "account_id district_id",
        (2, 1), (3, 1), (3, 2))),
    ("api_token", rows(
        "id account_id token_hash created_at expires_at revoked_at last_used_at",
        (1, 1, "a" * 64, at(1), None, None, at(9)),
        (2, 2, "b" * 64, at(1), at(30), at(5), None))),
    # running_request_id (from 0003): the claims of requests 2 and 3 (a refresh claims production too).
    ("environment", rows(
        "id district_id kind url current_version version_updated_at last_refreshed_at online database_url "
        "running_request_id",
        (1, 1, "PRODUCTION", "https://north1.example.org", "Campus.2435.0", at(3), None, True, None, None),
        (2, 1, "STAGING", None, "Campus.2435.0", None, at(4), True, "postgres://staging", 2),
        (3, 2, "PRODUCTION", None, "Campus.2435.0", None, None, True, None, 3),
        (4, 3, "PRODUCTION", None, "Campus.2430.2", None, None, False, None, None),
        (5, 4, "SANDBOX", None, "Campus.2435.0", None, None, True, None, None),
        (6, 2, "STAGING", None, "Campus.2435.0", None, None, True, None, 3))),
    ("group_rollout", rows(
        "id update_group_id environment target_version wave_size max_failures accepted_failures status "
        "status_message notes created_at updated_at created_by_id",
        (1, 2, "PRODUCTION", "Campus.2435.4", 2, 1, 0, "RUNNING", None, "Lakes first", at(8), at(9), 1),
        (2, 1, "STAGING", "Campus.2435.4", 1, 0, 0, "CANCELLED", "Withdrawn.", None, at(8), at(8), 4))),
    ("rollout_skip", rows(
        "id rollout_id district_id code message",
        (1, 1, 3, "ENVIRONMENT_UNAVAILABLE", "Lakes 1 production is offline."),
        (2, 2, 2, "ENVIRONMENT_BUSY", "Busy."))),
    ("update_request", REQUESTS),
    ("status_change", rows(
        "id update_request_id from_status to_status at by_id actor message window_override",
        *((pk, request, source, target, at(day, time), by, actor, message, False)
          for pk, (request, source, target, day, time, by, actor, message) in enumerate(HISTORY, start=1)))),
    ("notification", rows(
        "id update_request_id kind recipient subject body calendar state attempts last_error created_at "
        "sent_at claimed_at",
        (1, 1, "SCHEDULED", "tech@north1.example.org", "Scheduled", "Thursday 05:30.",
         "BEGIN:VCALENDAR\r\nEND:VCALENDAR", "SENT", 1, None, at(2, "10:00"), at(2, "10:01"), None),
        (2, 1, "COMPLETED", "tech@north1.example.org", "Completed", "Done.", None, "LOGGED", 0, None,
         at(3, "06:10"), None, None),
        (3, 6, "UNABLE_TO_COMPLETE", "gone@example.org", "Failed", "disk full", None, "FAILED", 5,
         "550 mailbox unavailable", at(3, "05:50"), None, None),
        (4, None, "PENDING_INPUT", "state@north.example.org", "Input needed", "Which term?", None, "PENDING",
         0, None, at(4, "10:00"), None, None))),
    ("blackout", rows(
        "id start end reason hosting_model update_group_id district_id created_at created_by_id",
        (1, at(24), at(26), "Testing week", None, 1, None, at(5), 1),
        (2, at(28), at(29), "Board meeting", "ASP_HOSTED", None, 2, at(5), 3))),
    ("calendar_feed", rows(
        "id account_id nonce secret_hash rotated_at",
        (1, 2, "n" * 32, "c" * 64, at(5)))),
    ("service_key", rows(
        "name value created_at",
        ("calendar-feed", "k" * 64, at(1)))),
    ("webhook", rows(
        "id owner_id district_id url secret active created_at failing_since last_delivered_at deactivated_at",
        (1, 2, 1, "https://north1.example.org/hook", "s" * 40, True, at(6), None, at(9, "05:31"), None),
        (2, 3, None, "https://state.example.org/hook", "t" * 40, False, at(6), at(7), None, at(8)))),
    ("webhook_delivery", rows(
        "id webhook_id uid event_cursor event_type update_request_id district_id body state attempts "
        "in_flight created_at first_attempt_at next_attempt_at delivered_at last_status_code last_error",
        (1, 1, "8d1e6f0a-2b4c-4d5e-8f90-a1b2c3d4e5f6", "1-0", "STATUS_CHANGED", 2, 1, '{"id":2}', "DELIVERED",
         1, False, at(9, "05:31"), at(9, "05:31"), at(9, "05:31"), at(9, "05:31"), 204, None),
        (2, 2, "9e2f7a1b-3c5d-4e6f-9a01-b2c3d4e5f6a7", "1-0", "STATUS_CHANGED", 2, 1, '{"id":2}', "FAILED",
         8, False, at(7), at(7), at(8), None, 500, "Internal Server Error"))),
    ("webhook_attempt", rows(
        "id delivery_id webhook_id attempt at status_code error delivered duration_ms",
        (1, 1, 1, 1, at(9, "05:31"), 204, None, True, 85),
        (2, 2, 2, 8, at(8), 500, "Internal Server Error", False, 1200))),
    ("webhook_stream_position", rows(
        "id name cursor updated_at",
        (1, "webhooks", "1-0", at(9, "05:31")))),
]
# fmt: on


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("'", "''")
    return f"'{text}'"


async def generate_from_models(url: str) -> None:
    """The schema the models declare, without migrations."""
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(url))
        await context.generate_schemas(safe=False)


# --- reading the schema ------------------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    columns: dict[str, list[tuple[Any, ...]]]
    indexes: set[tuple[Any, ...]]
    constraints: set[tuple[Any, ...]]
    #: Indexes by what they are (table, unique, columns), whatever their names.
    shapes: set[tuple[Any, ...]]
    #: SQLite: each table's and index's CREATE statement, as the database keeps it.
    definitions: set[tuple[Any, ...]]


async def tables(scratch: Scratch) -> list[str]:
    if scratch.is_postgres:
        rows = await scratch.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    else:
        rows = await scratch.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    return sorted(row[0] for row in rows if row[0] != BOOKKEEPING)


async def columns(scratch: Scratch, table: str) -> list[tuple[Any, ...]]:
    """(name, type, nullable, default) of each column."""
    if scratch.is_postgres:
        rows = await scratch.query(
            "SELECT column_name, data_type, is_nullable = 'YES', column_default "
            f"FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}'"
        )
    else:
        rows = await scratch.query(
            f"SELECT name, type, NOT \"notnull\", dflt_value FROM pragma_table_info('{table}')"
        )
    return sorted(rows)


async def read_schema(scratch: Scratch) -> Schema:
    names = await tables(scratch)
    if scratch.is_postgres:
        indexes = {
            tuple(row)
            for row in await scratch.query(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            )
        }
        constraints = {
            tuple(row)
            for row in await scratch.query(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE connamespace = 'public'::regnamespace"
            )
        }
        shapes = {
            (table, unique, tuple(names_))
            for table, unique, names_ in await scratch.query(
                "SELECT t.relname, ix.indisunique, array_agg(a.attname ORDER BY k.n) FROM pg_index ix "
                "JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace "
                "CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
                "WHERE ns.nspname = 'public' GROUP BY t.relname, ix.indexrelid, ix.indisunique"
            )
        }
    else:
        indexes, constraints, shapes = set(), set(), set()
        for table in names:
            for name, unique, origin in await scratch.query(
                f"SELECT name, \"unique\", origin FROM pragma_index_list('{table}')"
            ):
                indexed = tuple(
                    row[0]
                    for row in await scratch.query(
                        f"SELECT name FROM pragma_index_info('{name}') ORDER BY seqno"
                    )
                )
                indexes.add((table, name, unique, origin, indexed))
                shapes.add((table, bool(unique), indexed))
            for row in await scratch.query(
                'SELECT "from", "table", "to", on_update, on_delete '
                f"FROM pragma_foreign_key_list('{table}')"
            ):
                constraints.add((table, *row))
    return Schema(
        columns={table: await columns(scratch, table) for table in names},
        indexes=indexes,
        constraints=constraints,
        shapes={shape for shape in shapes if shape[0] != BOOKKEEPING},
        definitions=set()
        if scratch.is_postgres
        else set(
            await scratch.query(f"SELECT name, sql FROM sqlite_master WHERE tbl_name != '{BOOKKEEPING}'")
        ),
    )


@dataclass(frozen=True)
class Head:
    migrated: Schema
    declared: Schema


@pytest_asyncio.fixture(scope="module")
async def head(database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Head:
    """The schema of a database migrated from nothing, and of one the models made."""
    async with scratch_database(database, tmp_path_factory.mktemp("fresh")) as scratch:
        await migrate(scratch.url)
        migrated = await read_schema(scratch)
    async with scratch_database(database, tmp_path_factory.mktemp("declared")) as scratch:
        await generate_from_models(scratch.url)
        declared = await read_schema(scratch)
    return Head(migrated, declared)


# --- the rows ------------------------------------------------------------------------------------


async def fill(scratch: Scratch) -> None:
    present = set(await tables(scratch))
    for table, rows in DATA:
        if table not in present:
            continue
        names = {column[0] for column in await columns(scratch, table)}
        for row in rows:
            kept = {name: value for name, value in row.items() if name in names}
            missing = names - kept.keys() - {"id"}
            assert not missing, f"DATA has no value for {table}.{sorted(missing)}: add one"
            listed = ", ".join(f'"{name}"' for name in kept)
            values = ", ".join(literal(value) for value in kept.values())
            await scratch.query(f'INSERT INTO "{table}" ({listed}) VALUES ({values})')


async def snapshot(scratch: Scratch) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every row of every table, by its key (the whole row for a table without one), as columns."""
    rows: dict[str, dict[Any, dict[str, Any]]] = {}
    for table in await tables(scratch):
        names = [column[0] for column in await columns(scratch, table)]
        listed = ", ".join(f'"{name}"' for name in names)
        by_key: dict[Any, dict[str, Any]] = {}
        for values in await scratch.query(f'SELECT {listed} FROM "{table}"'):
            row = dict(zip(names, values, strict=True))
            key = row.get("id", row.get("name", tuple(sorted(row.items()))))
            assert key not in by_key
            by_key[key] = row
        rows[table] = by_key
    return rows


def expected_after(
    start: str, before: dict[str, dict[Any, dict[str, Any]]]
) -> dict[str, dict[Any, dict[str, Any]]]:
    """The rows as they were, with what the data migrations between `start` and the head mean to
    change in them."""
    expected = {table: {key: dict(row) for key, row in rows.items()} for table, rows in before.items()}
    if number(start) < 4:  # 0004: weekdays become ISO numbers
        for row in expected["maintenance_window"].values():
            row["weekday"] += 1
    if number(start) < 15:  # 0015: the number of accepted failures becomes marks (its own test)
        for row in expected.get("group_rollout", {}).values():
            del row["accepted_failures"]
    return expected


@pytest.mark.parametrize("start", STARTS)
async def test_upgrading_a_database_with_data_keeps_every_row(
    database: TestDatabase, head: Head, start: str, tmp_path: Path
) -> None:
    async with scratch_database(database, tmp_path) as scratch:
        await migrate(scratch.url, start)
        await fill(scratch)
        before = await snapshot(scratch)
        assert len(before["update_request"]) == 9

        await migrate(scratch.url)
        after = await snapshot(scratch)
        schema = await read_schema(scratch)

        # Every row there, none more, each with the values it had (foreign keys included).
        assert {table: len(rows) for table, rows in after.items()} == {
            table: len(before.get(table, {})) for table in after
        }
        expected = expected_after(start, before)
        for table, rows in expected.items():
            for key, row in rows.items():
                kept = {name: after[table][key].get(name, "(dropped)") for name in row}
                assert kept == row, f"{table} {key} changed"

        # What the data migrations add: the running claims (0003), the history counts (0005).
        requests = after["update_request"]
        if number(start) < 3:
            running = {pk: row["running_request_id"] for pk, row in after["environment"].items()}
            assert running == {1: None, 2: 2, 3: 3, 4: None, 5: None, 6: 3}
            assert {row["reclaims"] for row in requests.values()} == {0}
        if number(start) < 5:
            counts: dict[int, int] = {}
            for change in after["status_change"].values():
                counts[change["update_request_id"]] = counts.get(change["update_request_id"], 0) + 1
            assert {pk: row["history_seq"] for pk, row in requests.items()} == counts
        # No NOT NULL column reads NULL in any row (a column added with a default it then lost).
        for table, rows in after.items():
            required = [name for name, _, nullable, _ in schema.columns[table] if not nullable]
            for row in rows.values():
                assert all(row[name] is not None for name in required), f"{table} {row}"

        # The schema a fresh database gets, with every index the models declare.
        assert schema.columns == head.migrated.columns
        assert schema.constraints == head.migrated.constraints
        assert schema.indexes == head.migrated.indexes
        assert schema.definitions == head.migrated.definitions
        assert head.declared.shapes - schema.shapes == set()
        if not scratch.is_postgres:
            assert await scratch.query("PRAGMA integrity_check") == [("ok",)]
            assert await scratch.query("PRAGMA foreign_key_check") == []


async def test_a_fresh_database_has_every_index_the_models_declare(head: Head) -> None:
    assert head.declared.shapes - head.migrated.shapes == set()
