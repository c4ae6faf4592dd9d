"""Migration 0015 turns each rollout's number of accepted failures into marks on its failed
requests, oldest failure first, and back; it keeps every other row (rollout skips, the requests'
links to their rollouts, their history) and the tables' indexes. On both databases, each on a
database of its own migrated up to 0014 and filled as a deployment of that version left it."""

from __future__ import annotations

from tests.support import TestDatabase
from tests.support_migrations import Query, migrate, scratch_database

BEFORE = "0014_deleted_at_index"
AT = "2026-11-02 {}:00+00:00"
EARLY, CREATED, LATER = AT.format("08:00"), AT.format("09:00"), AT.format("11:00")
#: Rollout 1 accepted 2 of its failures; rollout 2 none; rollout 3 accepted 5 and has 1 left.
SEED = [
    f"INSERT INTO update_group (id, name, kind, created_at) VALUES (1, 'North', 'STATE', '{EARLY}')",
    "INSERT INTO district (id, name, hosting_model, time_zone, created_at, update_group_id) VALUES "
    f"(1, 'North 1', 'ASP_HOSTED', 'America/Chicago', '{EARLY}', 1), "
    f"(2, 'North 2', 'ASP_HOSTED', 'America/Chicago', '{EARLY}', 1)",
    "INSERT INTO environment (id, kind, current_version, online, district_id) VALUES "
    "(1, 'STAGING', 'Campus.2435.0', TRUE, 1)",
    "INSERT INTO group_rollout (id, environment, target_version, wave_size, max_failures, accepted_failures, "
    "status, created_at, updated_at, update_group_id) VALUES "
    + ", ".join(
        f"({pk}, 'STAGING', 'Campus.2435.4', 2, 1, {accepted}, '{status}', '{CREATED}', '{CREATED}', 1)"
        for pk, accepted, status in ((1, 2, "RUNNING"), (2, 0, "RUNNING"), (3, 5, "HALTED"))
    ),
    "INSERT INTO rollout_skip (id, code, message, district_id, rollout_id) VALUES "
    "(1, 'ENVIRONMENT_UNAVAILABLE', 'No staging.', 2, 1)",
    "INSERT INTO update_request (id, kind, status, window_override, created_at, updated_at, automatic, "
    "completed_steps, attempts, district_id, environment_id, reclaims, history_seq, rollout_id) VALUES "
    + ", ".join(
        f"({pk}, 'VERSION_UPDATE', '{status}', FALSE, '{CREATED}', '{LATER}', FALSE, "
        f"'[]', 1, 1, 1, 0, 1, {rollout})"
        for pk, status, rollout in (
            (1, "UNABLE_TO_COMPLETE", 1),
            (2, "UNABLE_TO_COMPLETE", 1),
            (3, "UNABLE_TO_COMPLETE", 1),
            (4, "COMPLETED", 1),
            (5, "UNABLE_TO_COMPLETE", 1),
            (6, "UNABLE_TO_COMPLETE", 2),
            (7, "UNABLE_TO_COMPLETE", 3),
            (8, "UNABLE_TO_COMPLETE", "NULL"),
        )
    ),
    # When each failed: 2 first, then 1, then 3; 5 failed first of all, was retried and failed
    # again last (its failure is the latest one).
    "INSERT INTO status_change (update_request_id, from_status, to_status, at, actor, window_override) "
    "VALUES "
    + ", ".join(
        f"({pk}, '{source}', '{target}', '{AT.format(at)}', 'WORKER', FALSE)"
        for pk, source, target, at in (
            (1, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "10:05"),
            (2, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "10:01"),
            (3, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "10:20"),
            (5, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "09:30"),
            (5, "UNABLE_TO_COMPLETE", "TO_BE_SCHEDULED", "10:00"),
            (5, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "10:30"),
            (6, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "10:05"),
            (7, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "10:05"),
            (8, "IN_PROGRESS", "UNABLE_TO_COMPLETE", "10:05"),
        )
    ),
]


async def test_accepted_failures_become_marks_oldest_first_and_back(db, tmp_path):
    async with scratch_database(db, tmp_path) as scratch:
        url, query = scratch.url, scratch.query
        await migrate(url, BEFORE)
        for statement in SEED:
            await query(statement)
        indexes = await _index_count(db, query)

        await migrate(url)
        marks = dict(await query("SELECT id, failure_accepted FROM update_request ORDER BY id"))
        # Rollout 1: its two oldest failures (2, then 1); 3 failed later, and so did 5 when it
        # failed again. Rollout 2 accepted none; rollout 3 more than it has left: all of those.
        assert {pk for pk, accepted in marks.items() if accepted} == {1, 2, 7}
        assert "accepted_failures" not in await _columns(db, query, "group_rollout")
        # Nothing else lost: the skip, the links to the rollouts, the history, the indexes.
        assert await query("SELECT id, rollout_id FROM rollout_skip") == [(1, 1)]
        links = await query("SELECT id, rollout_id FROM update_request ORDER BY id")
        assert links == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 2), (7, 3), (8, None)]
        assert await query("SELECT COUNT(*) FROM status_change") == [(9,)]
        assert await _index_count(db, query) == indexes

        await migrate(url, BEFORE)
        assert await query("SELECT id, accepted_failures FROM group_rollout ORDER BY id") == [
            (1, 2),
            (2, 0),
            (3, 1),  # the failures it has: the budget stays as the marks had it
        ]
        assert "failure_accepted" not in await _columns(db, query, "update_request")
        assert await query("SELECT COUNT(*) FROM rollout_skip") == [(1,)]
        assert await query("SELECT COUNT(*) FROM status_change") == [(9,)]
        assert len(await query("SELECT id FROM update_request WHERE rollout_id IS NOT NULL")) == 7
        assert await _index_count(db, query) == indexes


async def _columns(db: TestDatabase, query: Query, table: str) -> set[str]:
    if db.is_postgres:
        rows = await query(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'")
    else:
        rows = await query(f"SELECT name FROM pragma_table_info('{table}')")
    return {row[0] for row in rows}


async def _index_count(db: TestDatabase, query: Query) -> int:
    tables = "('update_request', 'group_rollout', 'status_change', 'rollout_skip')"
    if db.is_postgres:
        rows = await query(f"SELECT COUNT(*) FROM pg_indexes WHERE tablename IN {tables}")
    else:
        rows = await query(f"SELECT COUNT(*) FROM sqlite_master WHERE type='index' AND tbl_name IN {tables}")
    count = int(rows[0][0])
    assert count > 0
    return count
