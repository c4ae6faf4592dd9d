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
from models.blackouts import BlackoutScope, create_blackout, delete_blackout
from models.enums import EnvironmentKind, ErrorCode, HostingModel, Role, UpdateKind, UpdateStatus
from models.errors import DomainErrors
from models.requests import slots
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.preflight import schedule_conflicts
from models.requests.staff import schedule_update_request
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


# Deleting a blackout is a rule change too: work the blackout kept from its slot may start again,
# and a slot it made void (a request scheduled inside it holds nothing) holds again.

#: The deleted blackout: over the update due at IN_WINDOW and over the start of the refresh.
DELETED_ENDS = IN_WINDOW + timedelta(minutes=45)
REFRESH_AT = IN_WINDOW + timedelta(minutes=30)


async def update_and_refresh_under_a_blackout(
    update_status: S,
) -> tuple[UpdateRequest, UpdateRequest, Blackout]:
    """An ASP-hosted district (no windows) with a production update (SCHEDULED due at IN_WINDOW,
    or TO_BE_SCHEDULED) and a sandbox refresh at IN_WINDOW + 30 min (it copies production: one
    site), and a blackout from just before IN_WINDOW to IN_WINDOW + 45 min over both starts, which
    makes the refresh's slot void: the update may be placed at the blackout's end, over it."""
    district = await make_district(hosting_model=HostingModel.ASP_HOSTED)
    update = await make_request(
        district,
        status=update_status,
        scheduled_start=IN_WINDOW if update_status is S.SCHEDULED else None,
    )
    refresh = await make_request(
        district,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.SANDBOX,
        status=S.SCHEDULED,
        scheduled_start=REFRESH_AT,
    )
    blackout = await create_blackout(
        await staff(),
        start=IN_WINDOW - timedelta(minutes=1),
        end=DELETED_ENDS,
        reason="Network maintenance",
        scope=BlackoutScope(district_id=district.id),
        now=IN_WINDOW,
    )
    return update, refresh, blackout


async def until_done_or_waiting(task: asyncio.Task[Any]) -> None:
    """Until `task` has finished or someone waits for the advisory lock (each poll one query)."""
    for _ in range(MAX_POLLS):
        if task.done() or await lock_waiters():
            return
    raise AssertionError("the other side neither finished nor waited for the lock")


async def conflicts_of(*requests: UpdateRequest) -> set[tuple[int, ErrorCode, int | None]]:
    ids = {r.id for r in requests}
    found = await schedule_conflicts(await staff(), now=IN_WINDOW)
    return {
        (f.update_request_id, f.code, f.conflicting_request_id) for f in found if f.update_request_id in ids
    }


@pytest.mark.parametrize("decider", ["dispatch", "staff scheduling"])
async def test_a_start_decided_on_a_blackout_deleted_meanwhile_is_in_place_before_the_delete_returns(
    postgres_db, monkeypatch, decider
):
    """The decider has read the blackout (the update cannot start now: the dispatcher moves it to
    the blackout's end; staff may schedule it there) and counts the refresh's slot void; staff
    then delete the blackout, which makes that slot hold again. The start decided on the old rules
    must be committed before the deletion returns, so that `scheduleConflicts` read right after it
    lists the overlap it leaves (a blackout's change never moves work silently), never a list
    that misses it while the decision commits after."""
    actor = await staff()
    status = S.SCHEDULED if decider == "dispatch" else S.TO_BE_SCHEDULED
    update, refresh, blackout = await update_and_refresh_under_a_blackout(status)
    rules_read = asyncio.Event()

    async def delete_and_look() -> tuple[datetime | None, set[tuple[int, ErrorCode, int | None]]]:
        # Made outside the deciding transaction (a task made inside would share its connection).
        await rules_read.wait()
        await delete_blackout(actor, blackout.id)
        return (await UpdateRequest.get(id=update.id)).scheduled_start, await conflicts_of(update, refresh)

    deleting = asyncio.create_task(delete_and_look())

    async def delete_now() -> None:
        rules_read.set()
        await until_done_or_waiting(deleting)

    after_rules_read(monkeypatch, delete_now)
    if decider == "dispatch":
        assert not await dispatch(update.id, now=IN_WINDOW)
    else:
        await schedule_update_request(actor, update.id, DELETED_ENDS, now=IN_WINDOW)
    start_seen, conflicts_seen = await deleting
    final = await UpdateRequest.get(id=update.id)
    assert (final.status, final.scheduled_start) == (S.SCHEDULED, DELETED_ENDS)
    overlap = {
        (update.id, ErrorCode.ENVIRONMENT_BUSY, refresh.id),
        (refresh.id, ErrorCode.ENVIRONMENT_BUSY, update.id),
    }
    assert await conflicts_of(update, refresh) == overlap
    # What staff saw when the deletion returned is what there is.
    assert (start_seen, conflicts_seen) == (DELETED_ENDS, overlap)


@pytest.mark.parametrize("decider", ["dispatch", "staff scheduling"])
async def test_a_start_decided_while_a_blackout_is_deleted_waits_and_sees_it_gone(
    postgres_db, monkeypatch, decider
):
    """The deletion holds the lock first: the decider waits for it, then reads the rules without
    the blackout. The dispatcher starts the update now rather than move it past a blackout that is
    gone; staff scheduling at the blackout's end is refused, the refresh's slot holding again."""
    actor = await staff()
    status = S.SCHEDULED if decider == "dispatch" else S.TO_BE_SCHEDULED
    update, _, blackout = await update_and_refresh_under_a_blackout(status)
    real = blackouts_module.hold_for_rule_change
    locked = asyncio.Event()

    async def hold_then_let_the_decider_queue() -> None:
        await real()
        locked.set()
        await until_someone_waits()

    monkeypatch.setattr(blackouts_module, "hold_for_rule_change", hold_then_let_the_decider_queue)

    async def decide() -> object:
        await locked.wait()
        if decider == "dispatch":
            return await dispatch(update.id, now=IN_WINDOW)
        try:
            await schedule_update_request(actor, update.id, DELETED_ENDS, now=IN_WINDOW)
        except DomainErrors as refused:
            return [e.code for e in refused.errors]
        return None

    deciding = asyncio.create_task(decide())
    await delete_blackout(actor, blackout.id)
    if decider == "dispatch":
        assert await deciding is True
        assert (await UpdateRequest.get(id=update.id)).status is S.NOT_STARTED
    else:
        assert await deciding == [ErrorCode.ENVIRONMENT_BUSY]
        assert (await UpdateRequest.get(id=update.id)).status is S.TO_BE_SCHEDULED
