"""The error budget: one failure more than a rollout allows halts it at the scheduler's next pass;
its queued requests go to PENDING_INPUT with the reason and staff are alerted; nothing of it starts
in between. Staff resume it (the failures so far accepted) or cancel it. On both databases."""

from __future__ import annotations

from datetime import timedelta

from tortoise.transactions import in_transaction

from models.access import SYSTEM, Mover
from models.enums import NotificationKind, Role, RolloutStatus
from models.events import AfterCommit
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.moves import record_move
from models.requests.staff import schedule_update_request, set_update_request_status
from models.rollouts.budget import halt_overspent, hold_strays
from models.rollouts.control import cancel_group_rollout, pause_group_rollout, resume_group_rollout
from models.rollouts.starting import start_group_rollout
from models.running import RunPolicy
from models.tables import GroupRollout, Notification, StatusChange, UpdateRequest
from tests.factories import make_account
from tests.models.rollouts.support import TARGET, E, S, State, make_state, requests_of, statuses
from tests.models.scenario import T0

R = RolloutStatus
MINUTE = timedelta(minutes=1)
ALERTS = RunPolicy(staff_alert_email="hosting-team@host.example")


async def run_wave(at: timedelta) -> list[int]:
    """Dispatch what is due and begin it, `at` after T0; the ids begun."""
    begun = await dispatch_due(now=T0 + at)
    for request_id in begun:
        assert await begin(request_id, now=T0 + at) is not None
    return begun


async def rollout_of(state: State, max_failures: int = 1) -> GroupRollout:
    return await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=TARGET,
        wave_size=2,
        max_failures=max_failures,
        now=T0,
    )


async def test_one_failure_more_than_the_budget_halts_the_rollout(db):
    state = await make_state(asp=6, campus_cloud=0)
    await make_account(Role.TECHNICAL_CONTACT, state.districts)  # told of every district's moves
    rollout = await rollout_of(state, max_failures=1)
    first = await run_wave(MINUTE)
    await fail(first[0], "The site did not start again.", now=T0 + 2 * MINUTE)
    assert await halt_overspent(ALERTS, T0 + 2 * MINUTE) == []  # one failure is within the budget
    (third,) = await run_wave(3 * MINUTE)
    await fail(first[1], "The site did not start again.", now=T0 + 4 * MINUTE)
    # Before the scheduler's next pass halts it, nothing of it starts any more.
    await complete(third, now=T0 + 5 * MINUTE)
    assert await dispatch_due(now=T0 + 5 * MINUTE) == []

    (halted,) = await halt_overspent(ALERTS, T0 + 6 * MINUTE)
    assert (halted.rollout_id, halted.failures, halted.held) == (rollout.id, 2, 3)
    assert await halt_overspent(ALERTS, T0 + 7 * MINUTE) == []  # once
    row = await GroupRollout.get(id=rollout.id)
    assert row.status is R.HALTED
    assert row.status_message is not None and "2 districts could not be updated" in row.status_message
    held = [r for r in await requests_of(rollout.id) if r.status is S.PENDING_INPUT]
    assert len(held) == 3
    moves = await StatusChange.filter(update_request_id__in=[r.id for r in held], to_status=S.PENDING_INPUT)
    assert {(m.by_id, m.actor, m.message) for m in moves} == {(None, Mover.STAFF.value, row.status_message)}
    alert = await Notification.get(kind=NotificationKind.STAFF_ALERT)
    assert alert.recipient == "hosting-team@host.example" and alert.update_request_id is None
    assert f"group rollout {rollout.id}" in alert.body and "halted" in alert.subject
    # The districts whose work was set aside are told, as for any request that needs input.
    told = await Notification.filter(kind=NotificationKind.PENDING_INPUT).values_list(
        "update_request_id", flat=True
    )
    assert set(told) == {r.id for r in held}
    assert await dispatch_due(now=T0 + 8 * MINUTE) == []


async def test_a_resumed_rollout_accepts_the_failures_so_far(db):
    state = await make_state(asp=6, campus_cloud=0)
    rollout = await rollout_of(state, max_failures=1)
    failed = await run_wave(MINUTE)
    for request_id in failed:
        await fail(request_id, "It broke.", now=T0 + 2 * MINUTE)
    assert len(await halt_overspent(now=T0 + 3 * MINUTE)) == 1
    assert await Notification.filter(kind=NotificationKind.STAFF_ALERT).count() == 0  # no address set
    # Staff put one failed district back in the queue, and resume.
    await set_update_request_status(state.staff, failed[0], S.TO_BE_SCHEDULED, "Fixed; try again.", now=T0)

    resumed = await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    assert resumed.status is R.RUNNING
    # The failure still standing is marked accepted; the one retried before the resume is not.
    marks = dict(await UpdateRequest.filter(id__in=failed).values_list("id", "failure_accepted"))
    assert marks == {failed[0]: False, failed[1]: True}
    assert sorted(await statuses(rollout.id)) == sorted([S.UNABLE_TO_COMPLETE] + [S.SCHEDULED] * 5)
    second = await run_wave(5 * MINUTE)
    await fail(second[0], "It broke.", now=T0 + 6 * MINUTE)
    assert await halt_overspent(now=T0 + 6 * MINUTE) == []  # one new failure: within the budget
    await fail(second[1], "It broke.", now=T0 + 7 * MINUTE)
    assert len(await halt_overspent(now=T0 + 7 * MINUTE)) == 1


async def test_a_paused_rollout_halts_too_and_a_halted_one_can_be_cancelled(db):
    state = await make_state(asp=4, campus_cloud=0)
    rollout = await rollout_of(state, max_failures=0)
    (first, second) = await run_wave(MINUTE)
    await pause_group_rollout(state.staff, rollout.id, now=T0 + 2 * MINUTE)
    await fail(first, "It broke.", now=T0 + 3 * MINUTE)
    assert len(await halt_overspent(now=T0 + 4 * MINUTE)) == 1
    assert (await GroupRollout.get(id=rollout.id)).status is R.HALTED

    cancelled = await cancel_group_rollout(state.staff, rollout.id, now=T0 + 5 * MINUTE)
    assert cancelled.status is R.CANCELLED
    rows = {r.id: r.status for r in await requests_of(rollout.id)}
    assert rows == {first: S.UNABLE_TO_COMPLETE, second: S.IN_PROGRESS} | {
        pk: S.CANCELLED for pk in rows if pk not in (first, second)
    }
    # Set aside by the halt, then cancelled: back to TO_BE_SCHEDULED first, as the lifecycle wants.
    cancelled_id = next(pk for pk, status in rows.items() if status is S.CANCELLED)
    path = (
        await StatusChange.filter(update_request_id=cancelled_id)
        .order_by("id")
        .values_list("to_status", flat=True)
    )
    assert list(path) == [S.TO_BE_SCHEDULED, S.SCHEDULED, S.PENDING_INPUT, S.TO_BE_SCHEDULED, S.CANCELLED]
    await complete(second, now=T0 + 6 * MINUTE)
    assert (await UpdateRequest.get(id=second)).status is S.COMPLETED


async def system_move(request_id: int, at: timedelta) -> None:
    """A re-slot of `request_id` to its next start (the system's move), `at` after T0."""
    async with in_transaction():
        request = await UpdateRequest.get(id=request_id)
        await record_move(
            request, S.SCHEDULED, SYSTEM, AfterCommit(), message="Moved to its next start.", now=T0 + at,
            scheduled_start=T0 + at + 60 * MINUTE,
        )  # fmt: skip


async def test_a_halted_rollouts_next_pass_takes_what_the_system_scheduled_not_what_staff_did(db):
    """After the halt, one dispatched district comes back SCHEDULED through the system (a re-slot
    from NOT_STARTED), and staff schedule one set-aside district themselves, which the system
    then moves to its next start. The next pass sets the first aside and leaves staff's."""
    state = await make_state(asp=4, campus_cloud=0)
    rollout = await rollout_of(state, max_failures=0)
    failed, dispatched = await dispatch_due(now=T0 + MINUTE)
    assert await begin(failed, now=T0 + MINUTE) is not None
    await fail(failed, "It broke.", now=T0 + 2 * MINUTE)
    (halted,) = await halt_overspent(now=T0 + 3 * MINUTE)
    assert halted.held == 2
    chosen, left = [r.id for r in await UpdateRequest.filter(rollout_id=rollout.id, status=S.PENDING_INPUT)]

    await system_move(dispatched, 4 * MINUTE)
    await schedule_update_request(state.staff, chosen, T0 + 30 * MINUTE, now=T0 + 4 * MINUTE)
    await system_move(chosen, 5 * MINUTE)
    assert await hold_strays(T0 + 6 * MINUTE) == [dispatched]
    assert await hold_strays(T0 + 7 * MINUTE) == []
    rows = dict(await UpdateRequest.filter(rollout_id=rollout.id).values_list("id", "status"))
    assert rows == {failed: S.UNABLE_TO_COMPLETE, dispatched: S.PENDING_INPUT, chosen: S.SCHEDULED,
                    left: S.PENDING_INPUT}  # fmt: skip


async def test_what_staff_schedule_in_a_halted_rollout_starts_within_its_wave(db):
    state = await make_state(asp=4, campus_cloud=0)
    rollout = await rollout_of(state, max_failures=0)  # waves of two
    failed, running = await run_wave(MINUTE)
    await fail(failed, "It broke.", now=T0 + 2 * MINUTE)
    assert len(await halt_overspent(now=T0 + 3 * MINUTE)) == 1
    held = [r.id for r in await UpdateRequest.filter(rollout_id=rollout.id, status=S.PENDING_INPUT)]
    assert len(held) == 2
    for request_id in held:
        await schedule_update_request(state.staff, request_id, T0 + 10 * MINUTE, now=T0 + 4 * MINUTE)

    (first,) = await dispatch_due(now=T0 + 10 * MINUTE)  # one wave place left beside `running`
    await complete(running, now=T0 + 11 * MINUTE)
    assert await dispatch_due(now=T0 + 12 * MINUTE) == [next(pk for pk in held if pk != first)]
    assert (await GroupRollout.get(id=rollout.id)).status is R.HALTED


async def test_what_staff_schedule_on_a_clock_behind_the_halts_is_not_set_aside(db):
    """The halt's pass and staff's scheduling of a held district take turns on the rollout's row,
    staff second, but from a process whose clock is a second behind the scheduler's: the district
    is staff's. The halt's next pass leaves it, and it starts at its time, the rollout halted."""
    state = await make_state(asp=4, campus_cloud=0)
    rollout = await rollout_of(state, max_failures=0)
    failed, running = await run_wave(MINUTE)
    await fail(failed, "It broke.", now=T0 + 2 * MINUTE)
    halted_at = T0 + 3 * MINUTE
    assert len(await halt_overspent(now=halted_at)) == 1
    chosen, left = [r.id for r in await UpdateRequest.filter(rollout_id=rollout.id, status=S.PENDING_INPUT)]
    behind = halted_at - timedelta(seconds=1)
    await schedule_update_request(state.staff, chosen, T0 + 10 * MINUTE, now=behind)

    assert await hold_strays(T0 + 4 * MINUTE) == []
    assert await dispatch_due(now=T0 + 10 * MINUTE) == [chosen]
    rows = dict(await UpdateRequest.filter(rollout_id=rollout.id).values_list("id", "status"))
    assert rows == {failed: S.UNABLE_TO_COMPLETE, running: S.IN_PROGRESS, chosen: S.NOT_STARTED,
                    left: S.PENDING_INPUT}  # fmt: skip
    assert (await GroupRollout.get(id=rollout.id)).status is R.HALTED
