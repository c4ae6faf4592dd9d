"""Races on PostgreSQL for issue 16: schedulers dispatching one rollout's due requests at the same
moment (each its own request, then whole passes) never start more than its wave, also while staff
pause it at that moment. Each
scheduler pass in its own transactions on pooled connections, many times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import cast

import pytest

from models.enums import EnvironmentKind, HostingModel, Role, RolloutStatus, UpdateStatus
from models.errors import DomainError
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.rollouts.budget import halt_overspent
from models.rollouts.control import pause_group_rollout, resume_group_rollout
from models.tables import District, Environment, GroupRollout, UpdateRequest
from tests.factories import (
    DEFAULT_VERSION,
    actor_of,
    make_account,
    make_catalog,
    make_district,
    make_group,
    make_request,
)
from tests.models.scenario import T0
from tests.reliability.support import Row, count, illegal_moves, record

S = UpdateStatus
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

TRIALS = count(60, 1000)
DISTRICTS = 6
WAVE = 2
SCHEDULERS = 3
IN_FLIGHT = (S.NOT_STARTED, S.IN_PROGRESS)


async def due_rollout(group_id: int, districts: list[District], at_trial: int) -> GroupRollout:
    """A running rollout whose requests (one per district, ASP-hosted: not bound to windows) are
    all due now. Written directly: the race is at dispatch, not at the start."""
    at = T0 + timedelta(minutes=at_trial)
    rollout = await GroupRollout.create(
        update_group_id=group_id,
        environment=EnvironmentKind.STAGING,
        target_version="Campus.2435.4",
        wave_size=WAVE,
        max_failures=1,
        created_at=at,
        updated_at=at,
    )
    for district in districts:
        request = await make_request(
            district, environment=EnvironmentKind.STAGING, status=S.SCHEDULED, scheduled_start=at
        )
        await UpdateRequest.filter(id=request.id).update(rollout_id=rollout.id)
    return rollout


async def in_flight(rollout_id: int) -> int:
    return await UpdateRequest.filter(rollout_id=rollout_id, status__in=list(IN_FLIGHT)).count()


async def test_several_schedulers_never_start_more_than_the_wave(postgres_db, request):
    await make_catalog()
    group = await make_group()
    districts = [
        await make_district(hosting_model=HostingModel.ASP_HOSTED, group=group) for _ in range(DISTRICTS)
    ]
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    over = stuck = submitted = 0
    for trial in range(TRIALS):
        rollout = await due_rollout(group.id, districts, trial)
        submitted += DISTRICTS
        now = T0 + timedelta(minutes=trial, seconds=1)
        # Schedulers that reached different requests of the rollout at the same moment.
        ids = cast(
            list[int],
            await UpdateRequest.filter(rollout_id=rollout.id).order_by("id").values_list("id", flat=True),
        )
        dispatched = await asyncio.gather(*(dispatch(pk, now=now) for pk in ids))
        won = [pk for pk, ok in zip(ids, dispatched, strict=True) if ok]
        if len(won) != WAVE or await in_flight(rollout.id) != WAVE:
            over += 1
        # One finishes; the schedulers race for its free place, every other trial against a pause.
        assert await begin(won[0], now=now) is not None
        await complete(won[0], now=now + timedelta(seconds=1))
        later = now + timedelta(seconds=2)
        racers: list[Awaitable[object]] = [dispatch_due(now=later) for _ in range(SCHEDULERS)]
        pausing = trial % 2 == 1
        if pausing:
            racers.append(pause_group_rollout(staff, rollout.id, now=later))
        results = await asyncio.gather(*racers, return_exceptions=True)
        for result in results:
            assert not isinstance(result, BaseException) or isinstance(result, DomainError), result
        more = [pk for result in results[:SCHEDULERS] if isinstance(result, list) for pk in result]
        paused = (await GroupRollout.get(id=rollout.id)).status is RolloutStatus.PAUSED
        if len(more) > 1 or await in_flight(rollout.id) > WAVE or (not pausing and len(more) != 1):
            over += 1
        if pausing and not paused:
            stuck += 1
        # Clear the trial away: its sites free again for the next one.
        await UpdateRequest.filter(rollout_id=rollout.id).update(status=S.COMPLETED)
        await Environment.filter(district_id__in=[d.id for d in districts]).update(
            running_request_id=None, online=True, current_version=DEFAULT_VERSION
        )
    illegal = len(await illegal_moves())
    note = (
        f"per trial: a rollout of {DISTRICTS} due districts, wave {WAVE}; each dispatched by its own "
        f"scheduler at once, then {SCHEDULERS} passes at once after one finished (every other trial "
        "racing a pause)"
    )
    row = Row(
        "rollout wave under racing schedulers", "race", TRIALS, submitted, note=note, test=request.node.nodeid
    )
    row.duplicated, row.stuck, row.illegal = over, stuck, illegal
    record(row)
    row.assert_clean()


async def test_a_halted_rollout_resumed_while_schedulers_pass_never_exceeds_its_wave(postgres_db, request):
    """Staff resume a halted rollout (its set-aside requests go back to their slot, due now) at the
    moment several schedulers pass: no deadlock, no illegal move, never more than the wave in
    flight, and one more pass fills the wave exactly."""
    await make_catalog()
    group = await make_group()
    districts = [
        await make_district(hosting_model=HostingModel.ASP_HOSTED, group=group) for _ in range(DISTRICTS)
    ]
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    over = stuck = submitted = 0
    trials = count(15, 300)
    for trial in range(trials):
        rollout = await due_rollout(group.id, districts, trial)
        await GroupRollout.filter(id=rollout.id).update(max_failures=0)
        submitted += DISTRICTS
        now = T0 + timedelta(minutes=trial, seconds=1)
        first, second = await dispatch_due(now=now)
        for pk in (first, second):
            assert await begin(pk, now=now) is not None
        await fail(first, "It broke.", now=now)
        assert [h.rollout_id for h in await halt_overspent(now=now)] == [rollout.id]
        later = now + timedelta(seconds=2)
        racers: list[Awaitable[object]] = [dispatch_due(now=later) for _ in range(SCHEDULERS)]
        racers.insert(trial % (SCHEDULERS + 1), resume_group_rollout(staff, rollout.id, now=later))
        results = await asyncio.gather(*racers, return_exceptions=True)
        for result in results:
            assert not isinstance(result, BaseException) or isinstance(result, DomainError), result
        if (await GroupRollout.get(id=rollout.id)).status is not RolloutStatus.RUNNING:
            stuck += 1
        if await in_flight(rollout.id) > WAVE:
            over += 1
        await dispatch_due(now=later + timedelta(seconds=1))
        if await in_flight(rollout.id) != WAVE:
            over += 1
        # Clear the trial away: its sites free again for the next one.
        await UpdateRequest.filter(rollout_id=rollout.id).update(status=S.COMPLETED)
        await Environment.filter(district_id__in=[d.id for d in districts]).update(
            running_request_id=None, online=True, current_version=DEFAULT_VERSION
        )
    illegal = len(await illegal_moves())
    note = (
        f"per trial: a rollout of {DISTRICTS} due districts, wave {WAVE}, budget 0, halted by one "
        f"failure, then resumed at the moment {SCHEDULERS} scheduler passes run"
    )
    row = Row("rollout resumed under racing schedulers", "race", trials, submitted, note=note,
              test=request.node.nodeid)  # fmt: skip
    row.duplicated, row.stuck, row.illegal = over, stuck, illegal
    record(row)
    row.assert_clean()
