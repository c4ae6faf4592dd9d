"""Races on PostgreSQL between stopping a rollout and the moves around it, each interleaving forced
by holding a row lock:

- the error budget halts a rollout while the dispatcher re-slots one of its scheduled requests (its
  window ran out: a system move from SCHEDULED to SCHEDULED) and has not yet committed. The halt
  sets that request aside too, in the same pass: a halt leaves nothing of the rollout SCHEDULED but
  what staff schedule themselves afterwards (which later passes leave to run, `budget.hold_strays`);
- staff cancel a rollout while a newer one starts for the group: what the cancel returns to the
  queue is superseded by the newer rollout's request, as with a single cancel."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tortoise.transactions import in_transaction

from models.access import SYSTEM
from models.enums import Role, UpdateKind
from models.events import AfterCommit
from models.requests.completion import fail
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.moves import record_move
from models.requests.requesting import request_update
from models.rollouts.budget import halt_overspent
from models.rollouts.control import cancel_group_rollout
from models.rollouts.starting import start_group_rollout
from models.tables import District, UpdateRequest
from tests import support
from tests.factories import actor_of, make_account
from tests.models.rollouts.support import TARGET, E, S, make_state
from tests.models.scenario import T0

MINUTE = timedelta(minutes=1)
OLDER = "Campus.2435.3"
NEWER = "Campus.2435.9"


async def until_row_locks_are_awaited(sessions: int = 1, polls: int = 2000) -> None:
    """Until so many other sessions wait for a row lock (pg_locks: a tuple or transaction lock not
    granted)."""
    for _ in range(polls):
        rows = await UpdateRequest._meta.db.execute_query_dict(
            "SELECT count(DISTINCT pid) AS n FROM pg_locks "
            "WHERE NOT granted AND locktype IN ('tuple', 'transactionid')"
        )
        if rows[0]["n"] >= sessions:
            return
    raise AssertionError(f"fewer than {sessions} sessions ever waited for a row lock")


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
        await until_row_locks_are_awaited()
    assert await halting == 1
    assert (await UpdateRequest.get(id=queued.id)).status is S.PENDING_INPUT


async def test_a_rollout_started_while_another_is_cancelled_supersedes_what_the_cancel_returns(
    postgres_db: support.TestDatabase,
) -> None:
    """A district's own request waits under a rollout's (NEW_VERSION_REQUESTED). Staff cancel that
    rollout while a rollout of a newer version starts for the group: the cancel returns the
    district's request to the queue, and the new rollout's request for the district supersedes it
    (whichever commits first), as for a single cancel, which takes turns with new requests for the
    district. Not an older request left open beside the newer one."""
    state = await make_state(asp=2, campus_cloud=0)
    own_d = state.districts[1]  # the first district's rollout request runs
    await District.filter(id=own_d.id).update(update_group_id=None)
    technical = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [own_d]))
    own = await request_update(
        technical, district_id=own_d.id, kind=UpdateKind.VERSION_UPDATE, environment=E.STAGING,
        target_version=OLDER, now=T0,
    )  # fmt: skip
    await District.filter(id=own_d.id).update(update_group_id=state.group.id)
    first = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, now=T0 + MINUTE,
    )  # fmt: skip
    (running,) = await dispatch_due(now=T0 + MINUTE)  # the first district's: the cancel leaves it
    assert await begin(running, now=T0 + MINUTE) is not None
    assert (await UpdateRequest.get(id=own.id)).status is S.NEW_VERSION_REQUESTED

    held, cancel_waits = asyncio.Event(), asyncio.Event()

    async def cancel() -> None:  # tasks of their own, started outside the holding transaction
        await held.wait()
        await cancel_group_rollout(state.staff, first.id, now=T0 + 2 * MINUTE)

    async def newer_rollout() -> int:
        await cancel_waits.wait()
        rollout = await start_group_rollout(
            state.staff, group_id=state.group.id, environment=E.STAGING, target_version=NEWER,
            now=T0 + 2 * MINUTE,
        )  # fmt: skip
        return rollout.id

    cancelling, starting = asyncio.create_task(cancel()), asyncio.create_task(newer_rollout())
    # The running request's row held: the cancel waits there (announcing it) with the district's
    # request returned and not yet committed, and the new rollout starts meanwhile.
    async with in_transaction():
        await UpdateRequest.filter(id=running).select_for_update().first()
        held.set()
        await until_row_locks_are_awaited(1)
        cancel_waits.set()
        await until_row_locks_are_awaited(2)
    await cancelling
    second = await starting

    newest = await UpdateRequest.get(rollout_id=second, district_id=own_d.id)
    own = await UpdateRequest.get(id=own.id)
    assert (own.status, own.superseded_by_id) == (S.NEW_VERSION_REQUESTED, newest.id)
