"""A state's rollout from start to end through the scheduler's and workers' domain calls, on an
injected clock: the district without the environment is skipped with its code, every other one
completes, and the history shows never more than `waveSize` running at once. On both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

from models.enums import ErrorCode, RolloutStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.rollouts.counts import counts_of
from models.rollouts.rules import rolled_up_status
from models.rollouts.starting import start_group_rollout
from models.tables import Environment, GroupRollout, RolloutSkip, UpdateRequest
from tests.models.rollouts.support import (
    RUNNING,
    TARGET,
    E,
    S,
    make_state,
    most_at_once,
    requests_of,
    run_spans,
)
from tests.models.scenario import IN_WINDOW, T0

#: One scheduler pass, and one running district finishing, per step.
STEP = timedelta(minutes=5)
#: Bounds a drive; a rollout of these sizes ends long before.
MAX_STEPS = 200


async def drive(rollout_id: int, start: datetime) -> datetime:
    """Run the rollout as scheduler and workers would: each step dispatches what is due, workers
    begin what was dispatched at once, and the longest-running district finishes. When nothing runs
    and nothing is due, the clock jumps to the next scheduled start (a Thursday window)."""
    now = start
    for _ in range(MAX_STEPS):
        for request_id in await dispatch_due(now=now):
            assert await begin(request_id, now=now, token=f"job-{request_id}") is not None
        running = (
            await UpdateRequest.filter(rollout_id=rollout_id, status__in=list(RUNNING))
            .order_by("started_at", "id")
            .first()
        )
        if running is not None:
            now += STEP
            await complete(running.id, now=now)
            continue
        waiting = (
            await UpdateRequest.filter(rollout_id=rollout_id, status=S.SCHEDULED)
            .order_by("scheduled_start")
            .first()
        )
        if waiting is None or waiting.scheduled_start is None:
            return now
        now = max(now + STEP, waiting.scheduled_start)
    raise AssertionError("the rollout did not end")


async def test_a_state_rolls_out_in_waves_and_skips_the_district_without_the_environment(db):
    state = await make_state(asp=5, campus_cloud=1)  # seven districts, one without staging
    rollout = await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=TARGET,
        wave_size=2,
        max_failures=1,
        now=T0,
    )
    skip = await RolloutSkip.get(rollout_id=rollout.id)
    assert (skip.district_id, skip.code) == (state.lacking.id, ErrorCode.ENVIRONMENT_UNAVAILABLE)

    ended = await drive(rollout.id, T0)

    requests = await requests_of(rollout.id)
    assert [r.district_id for r in requests] == [d.id for d in state.districts]
    assert {r.status for r in requests} == {S.COMPLETED}
    staging = await Environment.filter(kind=E.STAGING, district__update_group_id=state.group.id)
    assert {e.current_version for e in staging} == {TARGET}
    lacking = await Environment.filter(district_id=state.lacking.id)
    assert TARGET not in {e.current_version for e in lacking}
    # Never more than the wave in flight, and the wave was used: read from the history alone.
    spans = await run_spans(r.id for r in requests)
    assert len(spans) == 6 and all(end is not None for _, end in spans)
    assert most_at_once(spans) == 2
    # The Campus Cloud district waited for its window (Thursday 00:30 CST = 06:30 UTC).
    assert requests[-1].started_at == IN_WINDOW - timedelta(minutes=30)
    assert ended == requests[-1].completed_at
    counts = (await counts_of([rollout.id]))[rollout.id].total()
    stored = (await GroupRollout.get(id=rollout.id)).status
    assert dict(counts) == {S.COMPLETED: 6}
    assert (stored, rolled_up_status(stored, counts)) == (RolloutStatus.RUNNING, RolloutStatus.COMPLETED)


async def test_the_next_district_starts_when_one_finishes(db):
    state = await make_state(asp=4, campus_cloud=0)
    rollout = await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=TARGET,
        wave_size=3,
        now=T0,
    )
    first = await dispatch_due(now=T0)
    assert len(first) == 3
    assert await dispatch_due(now=T0 + STEP) == []  # the wave is full: the fourth waits
    for request_id in first:
        await begin(request_id, now=T0 + STEP)
    await complete(first[0], now=T0 + 2 * STEP)
    (fourth,) = await dispatch_due(now=T0 + 2 * STEP)
    assert fourth not in first
    assert (await UpdateRequest.get(id=fourth)).rollout_id == rollout.id
