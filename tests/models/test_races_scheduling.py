"""Races on PostgreSQL of staff scheduling on one site: two hosting staff schedule two requests
that hold a common site (a production update and a sandbox refresh, which copies production) into
overlapping slots at the same moment. ENVIRONMENT_BUSY must refuse one of them, as it does when the
two come one after the other: the pre-flight's reading of the site's slots and the write of the new
start take turns per district. The interleaving is forced (the second scheduling runs while the
first has read the slots and not yet committed), then left to chance many times."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, ErrorCode, RolloutStatus, UpdateStatus
from models.errors import DomainError
from models.requests import preflight, slots
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.staff import schedule_update_request, set_update_request_status
from models.rollouts import starting
from models.rollouts.control import resume_group_rollout
from models.tables import Blackout, GroupRollout, UpdateRequest
from tests.factories import make_group, make_request
from tests.models.scenario import IN_WINDOW, T0, World, make_world
from tests.reliability.support import Row, count, record

S = UpdateStatus
E = EnvironmentKind
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

TRIALS = count(30, 500)
#: Round trips the first scheduling waits for the second to finish or to wait for a lock.
MAX_POLLS = 2000
#: Round trips (a `SELECT 1` each) either side of a random trial may make before it starts.
MAX_TURNS = 12
HALF_HOUR = timedelta(minutes=30)


async def someone_waits_for_a_lock() -> bool:
    rows = await Blackout._meta.db.execute_query_dict("SELECT count(*) AS n FROM pg_locks WHERE NOT granted")
    return int(rows[0]["n"]) > 0


async def take_turns(turns: int) -> None:
    for _ in range(turns):
        await Blackout._meta.db.execute_query("SELECT 1")


def after_slots_read(
    monkeypatch: pytest.MonkeyPatch, then: Callable[[], Awaitable[None]], module: Any = preflight
) -> None:
    """Run `then` inside the first side's transaction, right after it read the site's slots
    (through `module`'s `busy_slots`: the pre-flight's, or the system re-slot's)."""
    real = module.busy_slots
    fired: list[bool] = []

    async def hooked(*args: Any, **kwargs: Any) -> Any:
        slots = await real(*args, **kwargs)
        if not fired:
            fired.append(True)
            await then()
        return slots

    monkeypatch.setattr(module, "busy_slots", hooked)


async def outcome(attempt: Awaitable[Any]) -> ErrorCode | None:
    """None when the start was taken, else the refusal's leading code."""
    try:
        await attempt
    except DomainError as error:
        return error.code
    return None


async def two_on_one_site(world: World) -> tuple[UpdateRequest, UpdateRequest]:
    return await world.request_version(), await world.request_refresh(E.SANDBOX)


async def forced(
    monkeypatch: pytest.MonkeyPatch,
    first: Callable[[], Awaitable[Any]],
    second: Callable[[], Awaitable[Any]],
    module: Any = preflight,
) -> tuple[ErrorCode | None, ErrorCode | None]:
    """Run `first`; once it has read the site's slots (its transaction still open), run `second`,
    and let `first` go on when `second` has finished or waits for a lock. Both outcomes."""
    slots_read = asyncio.Event()

    async def second_side() -> ErrorCode | None:
        await slots_read.wait()
        return await outcome(second())

    async def let_the_second_go() -> None:
        slots_read.set()
        for _ in range(MAX_POLLS):  # until it has finished, or waits for this transaction
            if other.done() or await someone_waits_for_a_lock():
                return
        raise AssertionError("the second side neither finished nor waited")

    # Made before the first side's transaction, so it runs on a connection of its own.
    other = asyncio.create_task(second_side())
    after_slots_read(monkeypatch, let_the_second_go, module)
    return await outcome(first()), await other


async def test_two_staff_scheduling_one_site_at_the_same_moment_never_double_book_it(
    postgres_db, monkeypatch
):
    world = await make_world()
    update, refresh = await two_on_one_site(world)
    results = await forced(
        monkeypatch,
        lambda: schedule_update_request(world.staff_actor, update.id, IN_WINDOW, now=T0),
        lambda: schedule_update_request(world.staff_actor, refresh.id, IN_WINDOW + HALF_HOUR, now=T0),
    )
    assert results == (None, ErrorCode.ENVIRONMENT_BUSY)
    assert (await UpdateRequest.get(id=refresh.id)).status is S.TO_BE_SCHEDULED
    assert await preflight.schedule_conflicts(world.staff_actor, now=T0) == []


async def test_a_rollout_resume_racing_a_schedule_into_its_slot_never_double_books_it(
    postgres_db, monkeypatch
):
    """Resuming a group rollout places its waiting requests in their first slot clear of the site's
    other work: a start decision as staff's is. Staff scheduling the sandbox refresh (which holds
    production) into that slot meanwhile must be refused, not booked beside it."""
    group = await make_group()
    world = await make_world(group=group)
    # A grouped district's version updates come only from its group's rollouts.
    update = await make_request(world.district, status=S.TO_BE_SCHEDULED)
    refresh = await world.request_refresh(E.SANDBOX)
    rollout = await GroupRollout.create(
        update_group_id=group.id,
        environment=E.PRODUCTION,
        target_version=update.target_version,
        wave_size=1,
        max_failures=0,
        status=RolloutStatus.PAUSED,
        created_at=T0,
        updated_at=T0,
    )
    await UpdateRequest.filter(id=update.id).update(rollout_id=rollout.id)
    results = await forced(
        monkeypatch,
        lambda: resume_group_rollout(world.staff_actor, rollout.id, now=T0),
        lambda: schedule_update_request(world.staff_actor, refresh.id, IN_WINDOW, now=T0),
        starting,
    )
    assert results == (None, ErrorCode.ENVIRONMENT_BUSY)
    placed = await UpdateRequest.get(id=update.id)
    assert placed.status is S.SCHEDULED and placed.scheduled_start is not None
    assert placed.scheduled_start <= IN_WINDOW < placed.scheduled_start + timedelta(hours=1)
    assert (await UpdateRequest.get(id=refresh.id)).status is S.TO_BE_SCHEDULED
    assert await preflight.schedule_conflicts(world.staff_actor, now=T0) == []


async def test_a_resume_racing_a_schedule_into_its_slot_never_double_books_it(postgres_db, monkeypatch):
    """The resume of a deferred request with its old start is a start decision too."""
    world = await make_world()
    update, refresh = await two_on_one_site(world)
    await world.schedule(update.id, IN_WINDOW)
    await world.set_status(update.id, S.DEFERRED, "Waiting for the SSO change.")
    results = await forced(
        monkeypatch,
        lambda: schedule_update_request(world.staff_actor, refresh.id, IN_WINDOW, now=T0),
        lambda: set_update_request_status(world.staff_actor, update.id, S.SCHEDULED, now=T0),
    )
    assert results == (None, ErrorCode.ENVIRONMENT_BUSY)
    assert (await UpdateRequest.get(id=update.id)).status is S.DEFERRED
    assert await preflight.schedule_conflicts(world.staff_actor, now=T0) == []


async def test_a_re_slot_racing_a_staff_schedule_into_the_same_slot_never_double_books_it(
    postgres_db, monkeypatch
):
    """A sandbox refresh due inside a blackout is moved by the dispatcher to the blackout's end;
    at that moment staff schedule the production update for the same time. The system's re-slot
    places work clear of other work on the site, so one of the two must see the other."""
    world = await make_world()
    update, refresh = await two_on_one_site(world)
    await world.schedule(refresh.id, IN_WINDOW)
    ends = IN_WINDOW + timedelta(hours=1)
    await create_blackout(
        world.staff_actor,
        start=IN_WINDOW - timedelta(minutes=1),
        end=ends,
        reason="Switch replacement",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    results = await forced(
        monkeypatch,
        lambda: dispatch(refresh.id, now=IN_WINDOW),
        lambda: schedule_update_request(world.staff_actor, update.id, ends, now=IN_WINDOW),
        module=slots,
    )
    assert results == (None, ErrorCode.ENVIRONMENT_BUSY)
    moved = await UpdateRequest.get(id=refresh.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, ends)
    assert (await UpdateRequest.get(id=update.id)).status is S.TO_BE_SCHEDULED
    assert await preflight.schedule_conflicts(world.staff_actor, now=IN_WINDOW) == []


async def test_the_automatic_sandbox_update_placed_as_staff_schedule_the_sandbox_never_double_books_it(
    postgres_db, monkeypatch
):
    """Production's update, begun as the window opened, overruns and completes at 01:45 CST; the
    automatic sandbox update it brings is placed at the first start clear of other work on the
    sandbox. At that moment staff schedule a refresh of the sandbox for 02:01 CST. Whichever goes
    first, the other sees it: the sandbox update is not placed over the refresh."""
    world = await make_world()
    update, refresh = await two_on_one_site(world)
    opens = IN_WINDOW - HALF_HOUR
    done_at = opens + timedelta(minutes=75)
    refresh_at = done_at + timedelta(minutes=16)
    await world.schedule(update.id, opens)
    assert await dispatch(update.id, now=opens)
    assert await begin(update.id, now=opens) is not None
    results = await forced(
        monkeypatch,
        lambda: schedule_update_request(world.staff_actor, refresh.id, refresh_at, now=done_at),
        lambda: complete(update.id, now=done_at),
    )
    assert results == (None, None)
    sandbox_update = await UpdateRequest.get(district_id=world.district.id, automatic=True)
    assert sandbox_update.status is S.SCHEDULED and sandbox_update.scheduled_start is not None
    assert sandbox_update.scheduled_start >= refresh_at + timedelta(hours=1)
    assert await preflight.schedule_conflicts(world.staff_actor, now=done_at) == []


async def test_staff_scheduling_one_site_at_random_moments_never_double_book_it(postgres_db):
    overlaps = 0
    taken = 0
    for trial in range(TRIALS):
        world = await make_world()
        update, refresh = await two_on_one_site(world)
        at = IN_WINDOW + timedelta(days=7 * (trial % 20))
        turns = random.Random(trial)

        async def one(
            pk: int, start: datetime, wait: int, staff: Any = world.staff_actor
        ) -> ErrorCode | None:
            await take_turns(wait)
            return await outcome(schedule_update_request(staff, pk, start, now=T0))

        results = await asyncio.gather(
            one(update.id, at, turns.randint(0, MAX_TURNS)),
            one(refresh.id, at + HALF_HOUR, turns.randint(0, MAX_TURNS)),
        )
        taken += results.count(None)
        if results.count(None) != 1:
            overlaps += 1
        assert sorted(str(code) for code in results) == sorted(["None", str(ErrorCode.ENVIRONMENT_BUSY)]), (
            f"trial {trial}: {results}"
        )
        for finding in await preflight.schedule_conflicts(world.staff_actor, now=T0):
            assert finding.code is not ErrorCode.ENVIRONMENT_BUSY, f"trial {trial}: {finding.message}"
    record(
        Row(
            "staff scheduling two requests on one site at once",
            "race",
            TRIALS,
            2 * TRIALS,
            duplicated=overlaps,
        )
    )
    assert taken == TRIALS
