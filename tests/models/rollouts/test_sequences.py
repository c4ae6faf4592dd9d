"""Ordinary sequences around a running rollout that its own tests do not walk through: staff retry
a failure they accepted, work begun before a cancel misses its window, a district leaves the group
and asks for a newer version itself, staff give a request up and take it back, a blackout over a
district's first slot. Each checks the rollout's rules (budget, waves, cancel, counts, placing)
still hold afterwards. On an injected clock, on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from models.blackouts import BlackoutScope, create_blackout
from models.enums import ErrorCode, HostingModel, Role, RolloutStatus, UpdateKind
from models.errors import DomainError
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request
from models.rollouts.budget import halt_overspent
from models.rollouts.control import cancel_group_rollout, pause_group_rollout, resume_group_rollout
from models.rollouts.counts import counts_of
from models.rollouts.rules import rolled_up_status
from models.rollouts.starting import start_group_rollout
from models.tables import District, GroupRollout, RolloutSkip, UpdateRequest
from tests.factories import actor_of, make_account, make_district
from tests.models.rollouts.support import TARGET, E, S, State, make_state, requests_of
from tests.models.scenario import IN_WINDOW, T0

R = RolloutStatus
MINUTE = timedelta(minutes=1)
WEEK = timedelta(days=7)
#: The seeded window opens Thursday 00:30 CST (06:30 UTC) and closes at 03:30 CST (09:30 UTC).
FIRST_SLOT = IN_WINDOW - timedelta(minutes=30)
WINDOW_END = FIRST_SLOT + timedelta(hours=3)
NEWER = "Campus.2435.9"


async def rollout_of(state: State, *, wave_size: int, max_failures: int) -> GroupRollout:
    return await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=TARGET,
        wave_size=wave_size,
        max_failures=max_failures,
        now=T0,
    )


async def run_wave(at: timedelta) -> list[int]:
    """Dispatch what is due `at` after T0 and begin it; the ids begun."""
    begun = await dispatch_due(now=T0 + at)
    for request_id in begun:
        assert await begin(request_id, now=T0 + at) is not None
    return begun


async def counts_match_statuses(rollout_id: int) -> Counter[S]:
    """The rollout's counts, checked against its requests' statuses read one by one."""
    counts = (await counts_of([rollout_id]))[rollout_id].total()
    assert counts == Counter(r.status for r in await requests_of(rollout_id))
    return counts


async def test_retrying_an_accepted_failure_does_not_widen_the_budget(db):
    """Halted at 2 failures (budget 1), resumed (both accepted), then staff retry one of the two
    accepted failures. The budget counts failures after the resume: one new failure is within it,
    a second one more than it allows, whatever staff did with the accepted ones."""
    state = await make_state(asp=6, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=2, max_failures=1)
    accepted = await run_wave(MINUTE)
    for request_id in accepted:
        await fail(request_id, "It broke.", now=T0 + 2 * MINUTE)
    assert len(await halt_overspent(now=T0 + 3 * MINUTE)) == 1
    resumed = await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    assert resumed.status is R.RUNNING
    # After the resume, staff put one accepted failure back in the queue to try it again.
    await set_update_request_status(
        state.staff, accepted[0], S.TO_BE_SCHEDULED, "Fixed the site; try again.", now=T0 + 5 * MINUTE
    )

    fresh = await run_wave(6 * MINUTE)
    assert len(fresh) == 2
    await fail(fresh[0], "It broke.", now=T0 + 7 * MINUTE)
    assert await halt_overspent(now=T0 + 7 * MINUTE) == []  # one new failure: within the budget
    await fail(fresh[1], "It broke.", now=T0 + 8 * MINUTE)
    halted = await halt_overspent(now=T0 + 8 * MINUTE)
    assert [h.rollout_id for h in halted] == [rollout.id], "two new failures, budget 1: must halt"
    assert await dispatch_due(now=T0 + 9 * MINUTE) == []
    # The reason counts what halted it: the two new failures, not the accepted one still standing.
    reason = (await GroupRollout.get(id=rollout.id)).status_message or ""
    assert "2 more districts could not be updated since it was resumed" in reason, reason
    assert "1 it allows" in reason and "3 districts" not in reason


async def test_retrying_a_failure_after_the_resume_keeps_the_accepted_ones_accepted(db):
    """The other way round: after the resume a new district fails and staff retry that one. The
    two accepted failures still stand and stay accepted: the budget is back to one new failure."""
    state = await make_state(asp=7, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=1, max_failures=1)
    for minute in (1, 2):
        (failed,) = await run_wave(minute * MINUTE)
        await fail(failed, "It broke.", now=T0 + (minute + 0.5) * MINUTE)
    assert len(await halt_overspent(now=T0 + 3 * MINUTE)) == 1
    await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    (new,) = await run_wave(5 * MINUTE)
    await fail(new, "It broke.", now=T0 + 6 * MINUTE)
    await set_update_request_status(state.staff, new, S.TO_BE_SCHEDULED, "Try again.", now=T0 + 7 * MINUTE)
    marks = await UpdateRequest.filter(rollout_id=rollout.id, failure_accepted=True).count()
    assert marks == 2  # the two failures before the resume, still accepted

    (next_one,) = await run_wave(8 * MINUTE)
    await fail(next_one, "It broke.", now=T0 + 9 * MINUTE)
    assert await halt_overspent(now=T0 + 9 * MINUTE) == []  # one new failure: within the budget
    (last,) = await run_wave(10 * MINUTE)
    await fail(last, "It broke.", now=T0 + 11 * MINUTE)
    assert [h.rollout_id for h in await halt_overspent(now=T0 + 11 * MINUTE)] == [rollout.id]


async def test_a_failure_after_the_resume_still_counts_once_an_accepted_one_is_retried(db):
    """Budget 1. A and B fail and the rollout halts; staff resume it (A and B accepted). C fails:
    one new failure, within the budget. Staff retry A: B alone is still accepted, C still counts,
    so D failing makes two new failures, more than the budget allows."""
    state = await make_state(asp=6, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=2, max_failures=1)
    a, b = await run_wave(MINUTE)
    for request_id in (a, b):
        await fail(request_id, "It broke.", now=T0 + 2 * MINUTE)
    assert len(await halt_overspent(now=T0 + 3 * MINUTE)) == 1
    await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    c, d = await run_wave(5 * MINUTE)
    await fail(c, "It broke.", now=T0 + 6 * MINUTE)
    assert await halt_overspent(now=T0 + 6 * MINUTE) == []  # C: one new failure, within the budget
    await set_update_request_status(state.staff, a, S.TO_BE_SCHEDULED, "Try again.", now=T0 + 7 * MINUTE)

    await fail(d, "It broke.", now=T0 + 8 * MINUTE)
    # Before the scheduler's pass, the wave check already counts C and D: nothing more starts.
    assert await dispatch_due(now=T0 + 8 * MINUTE) == []
    halted = await halt_overspent(now=T0 + 9 * MINUTE)
    assert [h.rollout_id for h in halted] == [rollout.id], "C and D: two new failures, budget 1"


async def test_retrying_a_failure_accepted_at_the_first_resume_after_a_second_resume(db):
    """Budget 1, halted and resumed twice: A and B accepted at the first resume, C and D at the
    second. E fails (one new failure), then staff retry A, accepted long before: B, C and D stay
    accepted, E still counts, and F failing halts the rollout again."""
    state = await make_state(asp=8, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=2, max_failures=1)
    a, b = await run_wave(MINUTE)
    for request_id in (a, b):
        await fail(request_id, "It broke.", now=T0 + 2 * MINUTE)
    assert len(await halt_overspent(now=T0 + 3 * MINUTE)) == 1
    await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    c, d = await run_wave(5 * MINUTE)
    await fail(c, "It broke.", now=T0 + 6 * MINUTE)
    assert await halt_overspent(now=T0 + 6 * MINUTE) == []
    await fail(d, "It broke.", now=T0 + 7 * MINUTE)
    assert len(await halt_overspent(now=T0 + 8 * MINUTE)) == 1  # C and D: two new failures
    await resume_group_rollout(state.staff, rollout.id, now=T0 + 9 * MINUTE)

    e, f = await run_wave(10 * MINUTE)
    await fail(e, "It broke.", now=T0 + 11 * MINUTE)
    assert await halt_overspent(now=T0 + 11 * MINUTE) == []  # E: one new failure, within the budget
    await set_update_request_status(state.staff, a, S.TO_BE_SCHEDULED, "Try again.", now=T0 + 12 * MINUTE)
    await fail(f, "It broke.", now=T0 + 13 * MINUTE)
    halted = await halt_overspent(now=T0 + 14 * MINUTE)
    assert [h.rollout_id for h in halted] == [rollout.id], "E and F: two new failures, budget 1"


async def test_a_retried_accepted_failure_that_fails_again_is_a_new_failure(db):
    """Budget 1. A and B fail, the rollout halts and staff resume it (both accepted). Staff retry
    A and it fails again: that is a new failure (within the budget), and one more halts."""
    state = await make_state(asp=3, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=2, max_failures=1)
    a, b = await run_wave(MINUTE)
    for request_id in (a, b):
        await fail(request_id, "It broke.", now=T0 + 2 * MINUTE)
    assert len(await halt_overspent(now=T0 + 3 * MINUTE)) == 1
    await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    await set_update_request_status(state.staff, a, S.TO_BE_SCHEDULED, "Try again.", now=T0 + 5 * MINUTE)
    await schedule_update_request(state.staff, a, T0 + 6 * MINUTE, now=T0 + 5 * MINUTE)

    begun = await run_wave(6 * MINUTE)
    assert a in begun and len(begun) == 2  # A again, and the district the halt had set aside
    (last,) = [pk for pk in begun if pk != a]
    await fail(a, "It broke again.", now=T0 + 7 * MINUTE)
    assert await halt_overspent(now=T0 + 7 * MINUTE) == []  # A again: one new failure
    await fail(last, "It broke.", now=T0 + 8 * MINUTE)
    halted = await halt_overspent(now=T0 + 9 * MINUTE)
    assert [h.rollout_id for h in halted] == [rollout.id], "A again and the last: two new failures"


async def test_resuming_a_paused_rollout_accepts_no_failure(db):
    """Budget 1: a failure within it, then staff pause and resume. Only a halted rollout's resume
    accepts failures: the next failure is the second one and halts the rollout."""
    state = await make_state(asp=4, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=2, max_failures=1)
    a, b = await run_wave(MINUTE)
    await fail(a, "It broke.", now=T0 + 2 * MINUTE)
    assert await halt_overspent(now=T0 + 2 * MINUTE) == []
    await pause_group_rollout(state.staff, rollout.id, now=T0 + 3 * MINUTE)
    await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    await fail(b, "It broke.", now=T0 + 5 * MINUTE)
    assert [h.rollout_id for h in await halt_overspent(now=T0 + 6 * MINUTE)] == [rollout.id]


async def test_a_request_dispatched_before_the_cancel_runs_and_is_counted(db):
    """A wave dispatched (NOT_STARTED, not yet begun by its worker) when staff cancel: the cancel
    leaves it, its worker begins and finishes it, and the counts follow every move."""
    state = await make_state(asp=3, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=2, max_failures=1)
    dispatched = await dispatch_due(now=T0)
    assert len(dispatched) == 2

    cancelled = await cancel_group_rollout(state.staff, rollout.id, now=T0 + MINUTE)
    assert cancelled.status is R.CANCELLED
    assert "1 districts that had not started were cancelled; 2 already running finish" in (
        cancelled.status_message or ""
    )
    assert await counts_match_statuses(rollout.id) == Counter({S.NOT_STARTED: 2, S.CANCELLED: 1})

    for request_id in dispatched:
        assert await begin(request_id, now=T0 + 2 * MINUTE) is not None
    assert await counts_match_statuses(rollout.id) == Counter({S.IN_PROGRESS: 2, S.CANCELLED: 1})
    for request_id in dispatched:
        await complete(request_id, now=T0 + 3 * MINUTE)
    assert await counts_match_statuses(rollout.id) == Counter({S.COMPLETED: 2, S.CANCELLED: 1})


async def test_work_begun_before_the_cancel_that_missed_its_window_still_runs(db):
    """A Campus Cloud district's request is dispatched at its slot, staff cancel the rollout (it
    has begun, so it is not cancelled), and its worker reaches it too late to finish inside the
    window: the system moves it to next week's slot. It must run there, not wait forever behind
    a rollout that no longer runs."""
    state = await make_state(asp=0, campus_cloud=1)
    rollout = await rollout_of(state, wave_size=1, max_failures=1)
    (request,) = await requests_of(rollout.id)
    assert (request.status, request.scheduled_start) == (S.SCHEDULED, FIRST_SLOT)
    assert await dispatch_due(now=FIRST_SLOT) == [request.id]

    await cancel_group_rollout(state.staff, rollout.id, now=FIRST_SLOT + MINUTE)
    assert (await UpdateRequest.get(id=request.id)).status is S.NOT_STARTED  # begun: not cancelled
    late = WINDOW_END - 30 * MINUTE  # half an hour left; the expected hour no longer fits
    assert await begin(request.id, now=late) is None
    moved = await UpdateRequest.get(id=request.id)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + WEEK)

    assert await dispatch_due(now=FIRST_SLOT + WEEK) == [request.id], "stranded behind the cancel"
    assert await begin(request.id, now=FIRST_SLOT + WEEK) is not None
    await complete(request.id, now=FIRST_SLOT + WEEK + 40 * MINUTE)
    assert await counts_match_statuses(rollout.id) == Counter({S.COMPLETED: 1})


async def leave_group_and_ask_newer(state: State, district: District) -> tuple[UpdateRequest, int]:
    """`district` leaves the group (an import moving it out), and its technical contact asks for a
    newer version of staging by itself. The newer request, and the contact's account id."""
    await District.filter(id=district.id).update(update_group_id=None)
    technical = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    newer = await request_update(
        technical,
        district_id=district.id,
        kind=UpdateKind.VERSION_UPDATE,
        environment=E.STAGING,
        target_version=NEWER,
        now=T0 + 2 * MINUTE,
    )
    assert technical.account_id is not None
    return newer, technical.account_id


async def test_a_district_that_left_the_group_completes_its_rollout_request_with_its_own(db):
    state = await make_state(asp=2, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=1, max_failures=1)
    (first,) = await run_wave(MINUTE)
    running_in = (await UpdateRequest.get(id=first)).district_id
    leaving = next(d for d in state.districts if d.id != running_in)
    newer, _ = await leave_group_and_ask_newer(state, leaving)

    mine = await UpdateRequest.get(rollout_id=rollout.id, district_id=leaving.id)
    assert (mine.status, mine.superseded_by_id) == (S.NEW_VERSION_REQUESTED, newer.id)
    assert await counts_match_statuses(rollout.id) == Counter({S.IN_PROGRESS: 1, S.NEW_VERSION_REQUESTED: 1})

    await schedule_update_request(state.staff, newer.id, T0 + 10 * MINUTE, now=T0 + 3 * MINUTE)
    assert await dispatch_due(now=T0 + 10 * MINUTE) == [newer.id]  # not held by the rollout's wave
    assert await begin(newer.id, now=T0 + 10 * MINUTE) is not None
    await complete(newer.id, now=T0 + 20 * MINUTE)
    await complete(first, now=T0 + 20 * MINUTE)
    assert await counts_match_statuses(rollout.id) == Counter({S.COMPLETED: 2})
    stored = (await GroupRollout.get(id=rollout.id)).status
    assert rolled_up_status(stored, await counts_match_statuses(rollout.id)) is R.COMPLETED


async def test_a_request_returned_to_a_cancelled_rollout_runs_when_staff_schedule_it(db):
    """The district left the group and asked for a newer version (the rollout's request waits
    under it), staff cancel the rollout (the superseded request has not started and is left), then
    the district cancels its newer request: the rollout's request is back in the queue. Staff
    schedule it; it must then start like any request, not wait forever behind the cancelled rollout."""
    state = await make_state(asp=2, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=1, max_failures=1)
    (first,) = await run_wave(MINUTE)
    running_in = (await UpdateRequest.get(id=first)).district_id
    leaving = next(d for d in state.districts if d.id != running_in)
    newer, _ = await leave_group_and_ask_newer(state, leaving)
    await cancel_group_rollout(state.staff, rollout.id, now=T0 + 3 * MINUTE)
    technical = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [leaving]))
    await cancel_update_request(technical, newer.id, now=T0 + 4 * MINUTE)

    mine = await UpdateRequest.get(rollout_id=rollout.id, district_id=leaving.id)
    assert (mine.status, mine.superseded_by_id) == (S.TO_BE_SCHEDULED, None)
    assert await counts_match_statuses(rollout.id) == Counter({S.IN_PROGRESS: 1, S.TO_BE_SCHEDULED: 1})
    await schedule_update_request(state.staff, mine.id, T0 + 10 * MINUTE, now=T0 + 5 * MINUTE)

    assert await dispatch_due(now=T0 + 10 * MINUTE) == [mine.id], "stranded behind the cancel"


async def test_staff_give_a_request_up_and_take_it_back_and_the_counts_follow(db):
    """Budget 0: staff move a running request to UNABLE_TO_COMPLETE (a failure), then back to
    TO_BE_SCHEDULED before the scheduler's pass. The counts follow each move, the budget counts
    only the failure that stands, and the retried request runs once staff schedule it."""
    state = await make_state(asp=3, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=1, max_failures=0)
    (first,) = await run_wave(MINUTE)
    await set_update_request_status(
        state.staff, first, S.UNABLE_TO_COMPLETE, "Disk full.", now=T0 + 2 * MINUTE
    )
    assert await counts_match_statuses(rollout.id) == Counter({S.UNABLE_TO_COMPLETE: 1, S.SCHEDULED: 2})
    assert await dispatch_due(now=T0 + 2 * MINUTE) == []  # over budget: nothing more starts

    await set_update_request_status(state.staff, first, S.TO_BE_SCHEDULED, "Disk freed.", now=T0 + 3 * MINUTE)
    assert await counts_match_statuses(rollout.id) == Counter({S.TO_BE_SCHEDULED: 1, S.SCHEDULED: 2})
    assert await halt_overspent(now=T0 + 4 * MINUTE) == []
    assert (await GroupRollout.get(id=rollout.id)).status is R.RUNNING
    (second,) = await run_wave(5 * MINUTE)
    assert second != first
    await schedule_update_request(state.staff, first, T0 + 7 * MINUTE, now=T0 + 6 * MINUTE)
    assert await run_wave(7 * MINUTE) == []  # due, but the wave of one is full
    await complete(second, now=T0 + 8 * MINUTE)
    (third,) = await run_wave(8 * MINUTE)  # due since T0: ahead of the retried one
    await complete(third, now=T0 + 9 * MINUTE)
    assert await run_wave(9 * MINUTE) == [first]
    assert await counts_match_statuses(rollout.id) == Counter({S.COMPLETED: 2, S.IN_PROGRESS: 1})


async def test_a_window_bound_district_whose_first_slot_is_blacked_out_gets_the_next_one(db):
    """A blackout over the group's whole first Thursday window: the Campus Cloud district is
    placed in the following week's slot, the ASP-hosted ones (not window-bound, blackout not yet
    begun) are due at once."""
    state = await make_state(asp=1, campus_cloud=1)
    await create_blackout(
        state.staff,
        start=FIRST_SLOT - timedelta(hours=1),
        end=WINDOW_END + timedelta(hours=1),
        reason="State testing",
        scope=BlackoutScope(update_group_id=state.group.id),
        now=T0,
    )
    rollout = await rollout_of(state, wave_size=2, max_failures=0)
    starts = {r.district_id: (r.status, r.scheduled_start) for r in await requests_of(rollout.id)}
    cloud, asp = state.districts[1], state.districts[0]
    assert starts == {asp.id: (S.SCHEDULED, T0), cloud.id: (S.SCHEDULED, FIRST_SLOT + WEEK)}
    # The ASP-hosted one starts at once; nothing starts inside the blackout, whatever the waves allow.
    asp_request = next(r.id for r in await requests_of(rollout.id) if r.district_id == asp.id)
    assert await run_wave(timedelta(0)) == [asp_request]
    assert await dispatch_due(now=FIRST_SLOT) == []
    assert await counts_match_statuses(rollout.id) == Counter({S.IN_PROGRESS: 1, S.SCHEDULED: 1})
    # The blackout is a conflict to wait out, not a reason to skip: only the district without
    # staging was skipped.
    skips = await RolloutSkip.filter(rollout_id=rollout.id).values_list("district_id", "code")
    assert list(skips) == [(state.lacking.id, ErrorCode.ENVIRONMENT_UNAVAILABLE)]


async def test_a_district_that_joins_later_gets_the_version_from_a_second_rollout_only(db):
    """A district joins the group after the rollout was created: the rollout does not grow (its
    counts and requests stay those of the districts it started with), the district cannot ask for
    the version alone (GROUP_MANAGED), and a second rollout of the same version gives it a request
    while skipping every district already on it or asking for it, each with its code."""
    state = await make_state(asp=2, campus_cloud=0)
    rollout = await rollout_of(state, wave_size=1, max_failures=0)
    (first,) = await run_wave(MINUTE)
    await complete(first, now=T0 + 2 * MINUTE)
    before = await counts_match_statuses(rollout.id)
    joined = await make_district(
        "North State Latecomer", hosting_model=HostingModel.ASP_HOSTED, group=state.group
    )
    assert await counts_match_statuses(rollout.id) == before == Counter({S.COMPLETED: 1, S.SCHEDULED: 1})
    technical = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [joined]))
    with pytest.raises(DomainError) as alone:
        await request_update(
            technical,
            district_id=joined.id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.STAGING,
            target_version=TARGET,
            now=T0 + 3 * MINUTE,
        )
    assert alone.value.code is ErrorCode.GROUP_MANAGED

    again = await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=TARGET,
        wave_size=1,
        now=T0 + 4 * MINUTE,
    )
    assert [r.district_id for r in await requests_of(again.id)] == [joined.id]
    skips = dict(await RolloutSkip.filter(rollout_id=again.id).values_list("district_id", "code"))
    done_in = (await UpdateRequest.get(id=first)).district_id
    waiting_in = next(d.id for d in state.districts if d.id != done_in)
    assert skips == {
        done_in: ErrorCode.VERSION_NOT_NEWER,
        waiting_in: ErrorCode.DUPLICATE_REQUEST,
        state.lacking.id: ErrorCode.ENVIRONMENT_UNAVAILABLE,
    }
    # Two rollouts of one group run side by side; each keeps its own wave.
    waiting = await UpdateRequest.get(rollout_id=rollout.id, status=S.SCHEDULED)
    (latecomer,) = await requests_of(again.id)
    assert sorted(await run_wave(5 * MINUTE)) == sorted([waiting.id, latecomer.id])


async def test_work_begun_before_a_halt_that_missed_its_window_is_set_aside_too(db):
    """Two Campus Cloud districts start at their slot; one fails (budget 0) and the rollout halts
    while the other is dispatched but not yet begun, so the halt leaves it. Its worker comes too
    late for the window: rather than a new slot in a rollout that runs nothing, it goes to
    PENDING_INPUT with the halt's reason, as the halted rollout's unstarted work did, and resuming
    brings it back to a slot."""
    state = await make_state(asp=0, campus_cloud=2)
    rollout = await rollout_of(state, wave_size=2, max_failures=0)
    first, second = await dispatch_due(now=FIRST_SLOT)
    assert await begin(first, now=FIRST_SLOT) is not None
    await fail(first, "The site did not start again.", now=FIRST_SLOT + MINUTE)
    (halted,) = await halt_overspent(now=FIRST_SLOT + 2 * MINUTE)
    assert halted.held == 0  # the other one was dispatched: begun work, left alone
    late = WINDOW_END - 30 * MINUTE
    assert await begin(second, now=late) is None
    held = await UpdateRequest.get(id=second)
    reason = (await GroupRollout.get(id=rollout.id)).status_message
    assert (held.status, held.status_message) == (S.PENDING_INPUT, reason)
    assert await halt_overspent(now=late + MINUTE) == []  # the next pass has nothing to add
    assert await counts_match_statuses(rollout.id) == Counter({S.UNABLE_TO_COMPLETE: 1, S.PENDING_INPUT: 1})

    await resume_group_rollout(state.staff, rollout.id, now=late + 2 * MINUTE)
    back = await UpdateRequest.get(id=second)
    assert (back.status, back.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + WEEK)


async def test_a_window_bound_district_is_placed_clear_of_work_already_on_its_site(db):
    """The Campus Cloud district's staging refresh is scheduled at the window's opening (it holds
    staging and production for the expected hour): the rollout's staging update is placed right
    after it, in the same window, not on top of it."""
    state = await make_state(asp=0, campus_cloud=1)
    (cloud,) = state.districts
    refresh = await request_update(
        await actor_of(await make_account(Role.TECHNICAL_CONTACT, [cloud])),
        district_id=cloud.id,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=E.STAGING,
        now=T0,
    )
    await schedule_update_request(state.staff, refresh.id, FIRST_SLOT, now=T0)
    rollout = await rollout_of(state, wave_size=1, max_failures=0)
    (placed,) = await requests_of(rollout.id)
    assert (placed.status, placed.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + timedelta(hours=1))
