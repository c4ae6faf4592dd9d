"""A rollout whose requests are superseded by newer ones (a second rollout of a newer version, or
a district asking for one itself) has not completed: its districts are not on its version until
the newer requests complete, and a cancelled newer request puts its request back in the queue
(DESIGN "Supersession"). Its status says so throughout, and never turns COMPLETED and back. On
both databases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from models.enums import RolloutStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.rollouts.control import cancel_group_rollout, pause_group_rollout, resume_group_rollout
from models.rollouts.counts import counts_of
from models.rollouts.rules import rolled_up_status
from models.rollouts.starting import start_group_rollout
from models.tables import GroupRollout
from tests.models.rollouts.support import TARGET, E, S, State, make_state, requests_of
from tests.models.scenario import T0

R = RolloutStatus
MINUTE = timedelta(minutes=1)
NEWER = "Campus.2435.9"


async def shown(rollout_id: int) -> RolloutStatus:
    """The rollout's status as the API shows it (rolled up from every request)."""
    stored = (await GroupRollout.get(id=rollout_id)).status
    return rolled_up_status(stored, (await counts_of([rollout_id]))[rollout_id].total())


async def rollout(state: State, version: str, minutes: int) -> GroupRollout:
    return await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=version,
        wave_size=1,
        max_failures=0,
        now=T0 + minutes * MINUTE,
    )


async def test_a_rollout_superseded_by_a_newer_one_runs_until_that_one_completes(db):
    """Two rollouts of one group: the first's queued requests wait under the second's
    (NEW_VERSION_REQUESTED). The first shows RUNNING (not COMPLETED) until the newer updates
    complete, then COMPLETED; staff may pause it meanwhile, and resuming it brings nothing of it
    to start (its requests wait for the newer ones)."""
    state = await make_state(asp=2, campus_cloud=0)
    first = await rollout(state, TARGET, 0)
    second = await rollout(state, NEWER, 1)
    assert Counter(r.status for r in await requests_of(first.id)) == Counter({S.NEW_VERSION_REQUESTED: 2})
    assert await shown(first.id) is R.RUNNING, "its districts are not on its version yet"

    paused = await pause_group_rollout(state.staff, first.id, now=T0 + 2 * MINUTE)
    assert (paused.status, await shown(first.id)) == (R.PAUSED, R.PAUSED)
    await resume_group_rollout(state.staff, first.id, now=T0 + 3 * MINUTE)
    for minute in (4, 6):
        (begun,) = await dispatch_due(now=T0 + minute * MINUTE)
        assert begun in {r.id for r in await requests_of(second.id)}
        assert await begin(begun, now=T0 + minute * MINUTE) is not None
        assert await shown(first.id) is R.RUNNING
        await complete(begun, now=T0 + (minute + 1) * MINUTE)
    assert Counter(r.status for r in await requests_of(first.id)) == Counter({S.COMPLETED: 2})
    assert (await shown(first.id), await shown(second.id)) == (R.COMPLETED, R.COMPLETED)


async def test_cancelling_the_newer_rollout_never_flips_the_older_one_back_from_completed(db):
    """The second rollout is cancelled before any of it ran: the first's requests return to the
    queue (TO_BE_SCHEDULED). The first rollout was RUNNING before and is RUNNING after; it never
    showed COMPLETED in between, and staff can still cancel it."""
    state = await make_state(asp=2, campus_cloud=0)
    first = await rollout(state, TARGET, 0)
    second = await rollout(state, NEWER, 1)
    assert await shown(first.id) is R.RUNNING

    await cancel_group_rollout(state.staff, second.id, now=T0 + 2 * MINUTE)
    assert Counter(r.status for r in await requests_of(first.id)) == Counter({S.TO_BE_SCHEDULED: 2})
    assert await shown(first.id) is R.RUNNING
    cancelled = await cancel_group_rollout(state.staff, first.id, now=T0 + 3 * MINUTE)
    assert cancelled.status is R.CANCELLED
    assert Counter(r.status for r in await requests_of(first.id)) == Counter({S.CANCELLED: 2})
