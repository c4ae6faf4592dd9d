"""The hot statements' SQL helper: the text per dialect, and each kind of condition and change
against the real databases, read back through the ORM (what Tortoise wrote and what the helper
writes must be the same values: enums, JSON, datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import sql
from models.enums import EnvironmentKind, UpdateStatus
from models.tables import Environment, StatusChange, UpdateRequest
from tests import support
from tests.factories import make_district, make_request
from tests.support_sql import count_statements


def test_placeholders_are_rendered_per_dialect_once() -> None:
    statement = sql.Sql('UPDATE "t" SET "a"={} WHERE "b"={} AND "c" IN ({},{})')
    assert statement.render("postgres") == 'UPDATE "t" SET "a"=$1 WHERE "b"=$2 AND "c" IN ($3,$4)'
    assert statement.render("sqlite") == 'UPDATE "t" SET "a"=? WHERE "b"=? AND "c" IN (?,?)'
    assert statement.render("postgres") is statement.render("postgres")


async def test_update_conditions_and_changes_match_what_the_orm_reads(db: support.TestDatabase) -> None:
    district = await make_district(environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX])
    request = await make_request(district, status=UpdateStatus.IN_PROGRESS)
    later = datetime.now(UTC) + timedelta(minutes=5)
    # Equality on an enum, IS NULL, IN, and a JSON value; a computed change and a NULL change.
    where = {
        "id": request.id,
        "status": sql.OneOf((UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS)),
        "lease_token": None,
        "deleted_at__isnull": True,
        "completed_steps": request.completed_steps or [],
    }
    changed = await sql.update(
        UpdateRequest,
        where,
        attempts=sql.Add(2),
        lease_token="token-1",
        lease_expires_at=later,
        completed_steps=["backup"],
        progress_message=None,
    )
    assert changed == 1
    stored = await UpdateRequest.get(id=request.id)
    assert stored.attempts == request.attempts + 2
    assert stored.lease_token == "token-1"
    assert stored.lease_expires_at == later
    assert stored.completed_steps == ["backup"]
    assert stored.progress_message is None
    # The same conditions no longer hold (the lease is taken): nothing changes.
    assert await sql.update(UpdateRequest, where, attempts=sql.Add(1)) == 0
    assert await sql.update(UpdateRequest, {"id": request.id, "status": sql.OneOf(())}, attempts=1) == 0
    assert (await UpdateRequest.get(id=request.id)).attempts == request.attempts + 2
    # A JSON value compares as the ORM wrote it.
    assert await sql.update(UpdateRequest, {"id": request.id, "completed_steps": ["backup"]}, attempts=0) == 1


async def test_null_or_and_not_conditions(db: support.TestDatabase) -> None:
    district = await make_district(environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX])
    request = await make_request(district)
    production = await Environment.get(district_id=district.id, kind=EnvironmentKind.PRODUCTION)
    sandbox = await Environment.get(district_id=district.id, kind=EnvironmentKind.SANDBOX)
    free_or_mine = {"running_request_id": sql.NullOr(request.id)}
    assert (
        await sql.update(Environment, {**free_or_mine, "id": production.id}, running_request_id=request.id)
        == 1
    )
    assert (
        await sql.update(Environment, {**free_or_mine, "id": production.id}, running_request_id=request.id)
        == 1
    )
    assert (
        await sql.update(
            Environment, {"running_request_id": sql.NullOr(-1), "id": production.id}, online=False
        )
        == 0
    )
    await Environment.filter(id=sandbox.id).update(running_request_id=request.id)
    others = {"district_id": district.id, "running_request_id": request.id, "id": sql.Not(sandbox.id)}
    assert await sql.update(Environment, others, running_request_id=None) == 1
    assert (await Environment.get(id=production.id)).running_request_id is None
    assert (await Environment.get(id=sandbox.id)).running_request_id == request.id


async def test_select_and_insert(db: support.TestDatabase) -> None:
    district = await make_district(environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX])
    request = await make_request(district)
    rows = await sql.select(
        Environment,
        ("kind", "id"),
        {
            "district_id": district.id,
            "kind": sql.OneOf((EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX)),
        },
    )
    assert sorted(EnvironmentKind(kind) for kind, _ in rows) == [
        EnvironmentKind.PRODUCTION,
        EnvironmentKind.SANDBOX,
    ]
    at = datetime.now(UTC)
    with count_statements() as statements:
        await sql.insert(
            StatusChange,
            update_request_id=request.id,
            from_status=UpdateStatus.SCHEDULED,
            to_status=UpdateStatus.NOT_STARTED,
            at=at,
            by_id=None,
            actor="DISPATCHER",
            message=None,
            window_override=False,
        )
    assert statements.count == 1
    [move] = await StatusChange.filter(update_request_id=request.id, to_status=UpdateStatus.NOT_STARTED)
    assert (move.from_status, move.at, move.actor, move.by_id) == (
        UpdateStatus.SCHEDULED,
        at,
        "DISPATCHER",
        None,
    )


async def test_update_and_insert_writes_the_history_row_only_with_the_change(
    db: support.TestDatabase,
) -> None:
    """The compare-and-set and its history row: both or neither, one statement on PostgreSQL."""
    district = await make_district(environments=[EnvironmentKind.PRODUCTION])
    request = await make_request(district, status=UpdateStatus.SCHEDULED)
    at = datetime.now(UTC)

    async def move(source: UpdateStatus, target: UpdateStatus) -> int:
        return await sql.update_and_insert(
            UpdateRequest,
            {"id": request.id, "status": source},
            {"status": target, "updated_at": at},
            StatusChange,
            {
                "update_request_id": request.id,
                "from_status": source,
                "to_status": target,
                "at": at,
                "by_id": None,
                "actor": "DISPATCHER",
                "message": None,
                "window_override": False,
            },
        )

    with count_statements() as statements:
        assert await move(UpdateStatus.SCHEDULED, UpdateStatus.NOT_STARTED) == 1
    assert statements.count == (1 if db.is_postgres else 2)
    assert await move(UpdateStatus.SCHEDULED, UpdateStatus.NOT_STARTED) == 0  # no longer SCHEDULED
    moves = await StatusChange.filter(update_request_id=request.id).values_list("from_status", "to_status")
    assert moves == [(UpdateStatus.SCHEDULED, UpdateStatus.NOT_STARTED)]
    assert (await UpdateRequest.get(id=request.id)).status is UpdateStatus.NOT_STARTED
