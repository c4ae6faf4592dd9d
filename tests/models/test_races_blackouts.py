"""Races on PostgreSQL for issue 13: a blackout created while a request is being dispatched or
begun never lets work start inside it once its creation has returned. Start decisions and rule
changes take turns through one advisory lock (`models.start_lock`): the interleavings are forced
one by one (each side seen waiting for the other in `pg_locks`), then left to chance many times."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from models import blackouts as blackouts_module
from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.requests import slots
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.tables import Blackout, District, UpdateRequest
from tests.factories import actor_of, make_account, make_district, make_request
from tests.models.scenario import IN_WINDOW
from tests.reliability.support import Row, count, illegal_moves, record

S = UpdateStatus
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

TRIALS = count(60, 1000)
#: Round trips a hook looks for the other side waiting before it gives up (each is one query).
MAX_POLLS = 2000
#: Round trips (a `SELECT 1` each, no clock) either side of a random trial may make before it
#: starts: dispatch and begin take about ten between them, the blackout's creation about three.
MAX_TURNS = 20
LENGTH = timedelta(hours=1)


async def lock_waiters() -> int:
    """Sessions waiting for an advisory lock right now."""
    rows = await Blackout._meta.db.execute_query_dict(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    )
    return int(rows[0]["n"])


async def take_turns(count: int) -> None:
    for _ in range(count):
        await Blackout._meta.db.execute_query("SELECT 1")


async def until_someone_waits() -> None:
    for _ in range(MAX_POLLS):
        if await lock_waiters():
            return
    raise AssertionError("the other side never waited for the lock")


async def refresh_due_at(at: datetime) -> tuple[District, UpdateRequest]:
    """A sandbox refresh (bound to no window) of a fresh ASP-hosted district, due at `at`."""
    district = await make_district(hosting_model=HostingModel.ASP_HOSTED)
    request = await make_request(
        district,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.SANDBOX,
        status=S.SCHEDULED,
        scheduled_start=at,
    )
    return district, request


async def staff() -> Any:
    return await actor_of(await make_account(Role.HOSTING_STAFF))


def black_out(actor: Any, district: District, at: datetime) -> Awaitable[Blackout]:
    return create_blackout(
        actor,
        start=at - timedelta(minutes=1),
        end=at + LENGTH,
        reason="State testing week",
        scope=BlackoutScope(district_id=district.id),
        now=at,
    )


def after_rules_read(monkeypatch: pytest.MonkeyPatch, then: Callable[[], Awaitable[None]]) -> None:
    """Run `then` inside the deciding transaction, right after it read the start rules (once)."""
    real = slots.start_rules
    fired: list[bool] = []

    async def hooked(*args: Any, **kwargs: Any) -> Any:
        rules = await real(*args, **kwargs)
        if not fired:
            fired.append(True)
            await then()
        return rules

    monkeypatch.setattr(slots, "start_rules", hooked)


async def test_a_blackout_created_while_dispatch_decides_waits_and_begin_then_moves_it(
    postgres_db, monkeypatch
):
    actor = await staff()
    district, request = await refresh_due_at(IN_WINDOW)
    rules_read = asyncio.Event()

    async def blackout_when_rules_are_read() -> UpdateRequest:
        await rules_read.wait()
        await black_out(actor, district, IN_WINDOW)
        return await UpdateRequest.get(id=request.id)

    async def signal_and_wait() -> None:
        rules_read.set()
        await until_someone_waits()  # the blackout's creation waits for this dispatch to commit

    after_rules_read(monkeypatch, signal_and_wait)
    creating = asyncio.create_task(blackout_when_rules_are_read())
    assert await dispatch(request.id, now=IN_WINDOW)  # decided before the blackout existed
    assert (await creating).status is S.NOT_STARTED
    monkeypatch.undo()
    assert await begin(request.id, now=IN_WINDOW) is None  # begin sees the blackout
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, IN_WINDOW + LENGTH)


async def test_a_blackout_created_while_begin_decides_returns_only_after_the_start(postgres_db, monkeypatch):
    actor = await staff()
    district, request = await refresh_due_at(IN_WINDOW)
    assert await dispatch(request.id, now=IN_WINDOW)
    rules_read = asyncio.Event()

    async def blackout_when_rules_are_read() -> UpdateRequest:
        await rules_read.wait()
        await black_out(actor, district, IN_WINDOW)
        return await UpdateRequest.get(id=request.id)

    async def signal_and_wait() -> None:
        rules_read.set()
        await until_someone_waits()

    after_rules_read(monkeypatch, signal_and_wait)
    creating = asyncio.create_task(blackout_when_rules_are_read())
    assert await begin(request.id, now=IN_WINDOW) is not None
    # When the blackout's creation returned, the work had already started: it began before the
    # blackout existed (a blackout never stops running work).
    assert (await creating).status is S.IN_PROGRESS


@pytest.mark.parametrize("decider", ["dispatch", "begin"])
async def test_a_start_decided_while_a_blackout_is_created_waits_and_sees_it(
    postgres_db, monkeypatch, decider
):
    actor = await staff()
    district, request = await refresh_due_at(IN_WINDOW)
    if decider == "begin":
        assert await dispatch(request.id, now=IN_WINDOW)
    real = blackouts_module.hold_for_rule_change
    locked = asyncio.Event()

    async def hold_then_let_the_decider_queue() -> None:
        await real()
        locked.set()
        await until_someone_waits()  # the start decision waits for this creation to commit

    monkeypatch.setattr(blackouts_module, "hold_for_rule_change", hold_then_let_the_decider_queue)

    async def decide() -> object:
        await locked.wait()
        if decider == "dispatch":
            return await dispatch(request.id, now=IN_WINDOW)
        return await begin(request.id, now=IN_WINDOW)

    deciding = asyncio.create_task(decide())
    await black_out(actor, district, IN_WINDOW)
    assert not await deciding
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, IN_WINDOW + LENGTH)


async def test_work_never_starts_inside_a_blackout_that_has_returned(postgres_db, request):
    """Many trials: a due refresh is dispatched and begun while a blackout over it is created,
    each side after a random number of turns. Whenever the request ends up running, it was
    already running when the blackout's creation returned; otherwise it moved past the blackout."""
    actor = await staff()
    outcomes = {"started before the blackout": 0, "moved past it": 0}
    broken = illegal = 0
    for trial in range(TRIALS):
        at = IN_WINDOW + timedelta(days=trial)
        district, due = await refresh_due_at(at)
        turns = random.Random(trial)
        start_turns, begin_turns, blackout_turns = (
            turns.randint(0, 3),
            turns.randint(0, 3),
            turns.randint(0, MAX_TURNS),
        )

        async def start_side(
            pk: int = due.id, at: datetime = at, first: int = start_turns, gap: int = begin_turns
        ) -> None:
            await take_turns(first)
            await dispatch(pk, now=at)
            await take_turns(gap)
            await begin(pk, now=at)

        async def blackout_side(
            pk: int = due.id, district: District = district, at: datetime = at, first: int = blackout_turns
        ) -> S:
            await take_turns(first)
            await black_out(actor, district, at)
            return (await UpdateRequest.get(id=pk)).status

        _, seen_when_created = await asyncio.gather(start_side(), blackout_side())
        final = await UpdateRequest.get(id=due.id)
        if final.status is S.IN_PROGRESS and seen_when_created is S.IN_PROGRESS:
            outcomes["started before the blackout"] += 1
        elif final.status is S.SCHEDULED and final.scheduled_start == at + LENGTH:
            outcomes["moved past it"] += 1
        else:
            broken += 1
    illegal = len(await illegal_moves())
    row = Row(
        "blackout created during dispatch and begin",
        "race",
        TRIALS,
        TRIALS,
        note=f"per trial: dispatch then begin against createBlackout over the due start; {outcomes}",
        test=request.node.nodeid,
    )
    row.duplicated, row.illegal = broken, illegal
    record(row)
    row.assert_clean()
