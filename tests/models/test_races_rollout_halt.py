"""A race on PostgreSQL: the error budget halts a rollout while the dispatcher re-slots one of its
scheduled requests (its window ran out: a system move from SCHEDULED to SCHEDULED) and has not yet
committed. The halt sets that request aside too, in the same pass: a halt leaves nothing of the
rollout SCHEDULED but what staff schedule themselves afterwards (which the scheduler's later passes
leave to run, `budget.hold_strays`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tortoise.transactions import in_transaction

from models.access import SYSTEM
from models.events import AfterCommit
from models.requests.completion import fail
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.moves import record_move
from models.rollouts.budget import halt_overspent
from models.rollouts.starting import start_group_rollout
from models.tables import UpdateRequest
from tests import support
from tests.models.rollouts.support import TARGET, E, S, make_state
from tests.models.scenario import T0

MINUTE = timedelta(minutes=1)


async def until_a_row_lock_is_awaited(polls: int = 2000) -> None:
    """Until another session waits for a row lock (pg_locks: a tuple or transaction lock not granted)."""
    for _ in range(polls):
        rows = await UpdateRequest._meta.db.execute_query_dict(
            "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype IN ('tuple', 'transactionid')"
        )
        if rows[0]["n"]:
            return
    raise AssertionError("the halt never waited for the re-slot")


async def test_a_halt_sets_aside_a_request_re_slotted_at_that_moment(
    postgres_db: support.TestDatabase,
) -> None:
    state = await make_state(asp=2, campus_cloud=0)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, max_failures=0, now=T0,
    )  # fmt: skip
    (first,) = await dispatch_due(now=T0)
    assert await begin(first, now=T0) is not None
    await fail(first, "The site did not start again.", now=T0 + MINUTE)
    (queued,) = await UpdateRequest.filter(rollout_id=rollout.id, status=S.SCHEDULED)

    re_slotted = asyncio.Event()

    async def scheduler_pass() -> int:  # a task of its own, started outside the re-slot
        await re_slotted.wait()
        (halted,) = await halt_overspent(now=T0 + 2 * MINUTE)
        return halted.held

    halting = asyncio.create_task(scheduler_pass())
    async with in_transaction():
        await record_move(
            queued, S.SCHEDULED, SYSTEM, AfterCommit(), message="Moved to its next slot.",
            now=T0 + 2 * MINUTE, scheduled_start=T0 + 60 * MINUTE,
        )  # fmt: skip
        re_slotted.set()
        await until_a_row_lock_is_awaited()
    assert await halting == 1
    assert (await UpdateRequest.get(id=queued.id)).status is S.PENDING_INPUT
