"""Leases are judged by one clock: the database's.

A lease is written by one machine (a worker taking and renewing it, the scheduler dispatching or
enqueueing again) and judged by another (the scheduler's sweep, staff giving work up). Were each
to use its own clock, a worker whose clock runs behind the scheduler's by most of a lease (or a
scheduler ahead) would look dead while it works: the scheduler would enqueue its request again,
a second job would begin on the site beside the first, and a worker always behind would see its
healthy requests given up. A worker ahead would keep a dead job's request stranded for as long.

So every lease instant, the expiry written and the instant it is compared with, is the database's:
on PostgreSQL `statement_timestamp()` inside the very statement that writes or compares it (no
round trip more); on SQLite this process's clock, which is the database's (one process per SQLite
file, on the machine that has the file). The machines' own clocks then play no part; a worker
judges on its own only how long ago it renewed, on its monotonic clock (`workers.job_lease`).

A caller that pins `at` (a test's clock, as everywhere in the domain) gets that instant instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from tortoise.expressions import RawSQL

from models import sql
from models.clock import utcnow
from models.tables import UpdateRequest


def on_database_clock(at: datetime | None) -> bool:
    """Whether lease instants come from the database's clock (PostgreSQL, nothing pinned)."""
    return at is None and UpdateRequest._meta.db.capabilities.dialect == "postgres"


def expiry(after: timedelta, at: datetime | None = None) -> datetime | sql.DatabaseClockPlus:
    """A lease expiry to write (`models.sql.update`): `after` from now by the database's clock."""
    if on_database_clock(at):
        return sql.DatabaseClockPlus(after)
    return (at or utcnow()) + after


def instant(at: datetime | None = None) -> datetime | RawSQL:
    """The instant to compare lease expiries with in an ORM filter: the database's clock."""
    if on_database_clock(at):
        return RawSQL(sql.DATABASE_CLOCK)
    return at or utcnow()


async def now(at: datetime | None = None) -> datetime:
    """The database's clock, read (one statement on PostgreSQL): for a lease judged in Python."""
    if not on_database_clock(at):
        return at or utcnow()
    _, rows = await sql.run(UpdateRequest, _READ_CLOCK, ())
    return cast(datetime, rows[0][0])


_READ_CLOCK = sql.Sql(f"SELECT {sql.DATABASE_CLOCK}")
