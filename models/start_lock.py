"""Start decisions and changes of the rules they read take turns, so a blackout or window change
that has returned to staff holds for every start decided after it.

Without this, a dispatcher or worker could read the blackouts, a blackout be created and its
mutation return, and then the start commit inside that blackout. So every transaction that decides
a start (dispatch, the worker's begin, staff scheduling) first takes a *shared* transaction lock,
and every change of those rules (creating or deleting a blackout, creating, changing or deleting
a window, an import that has windows or moves a district to another update group or hosting
model) takes it *exclusively* for its own transaction:
- a rule change that comes first makes the start decision wait until it commits; the decision
  then reads the blackouts in a later statement, which (READ COMMITTED) sees the change;
- a start decision that comes first makes the rule change wait until the start has committed:
  the work began before the blackout existed, and shows in `scheduleConflicts` only if scheduled;
  a start placed by a blackout being deleted (moved past it, or onto a slot it made void) is in
  place before the deletion returns, so `scheduleConflicts` read then lists what it overlaps.
Start decisions do not wait for each other (shared). On PostgreSQL this is an advisory
transaction lock (no row is written); each deciding transaction takes it before any row lock,
so no transaction ever waits for it while holding rows another waits for. SQLite runs one write
transaction at a time in this process (Tortoise's connection lock), which gives the same order.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from models.tables import Blackout

#: The advisory lock's key: an arbitrary constant of this application ("UDSTART" in ASCII, folded).
START_RULES_LOCK_KEY = 0x5544_5354_4152_54


def _connection() -> BaseDBAsyncClient:
    # Inside `in_transaction()` this is the transaction's own connection (a context variable).
    return Blackout._meta.db


async def _take(function: str) -> None:
    connection = _connection()
    if connection.capabilities.dialect != "postgres":
        return
    await connection.execute_query(f"SELECT {function}($1)", [START_RULES_LOCK_KEY])


async def hold_for_start_decision() -> None:
    """Call first in a transaction that decides a start: rule changes wait until it commits."""
    await _take("pg_advisory_xact_lock_shared")


async def hold_for_rule_change() -> None:
    """Call first in a transaction that creates or deletes a blackout or changes a window."""
    await _take("pg_advisory_xact_lock")
