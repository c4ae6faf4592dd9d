"""A paused rollout's window-bound districts: while the pause lasts their slots pass unused. Each
district is told once that its update is on hold (its invitation withdrawn), not sent a new date
every week that will not hold either; resuming gives it its next slot and a new invitation. A
district staff deferred themselves stays deferred. On an injected clock, on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from models.enums import NotificationKind, Role
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.staff import schedule_update_request, set_update_request_status
from models.rollouts.budget import halt_overspent
from models.rollouts.control import cancel_group_rollout, pause_group_rollout, resume_group_rollout
from models.rollouts.starting import start_group_rollout
from models.tables import Notification, UpdateRequest
from tests.factories import make_account
from tests.models.rollouts.support import TARGET, E, S, make_state, requests_of, statuses
from tests.models.scenario import IN_WINDOW, T0

K = NotificationKind
MINUTE = timedelta(minutes=1)
WEEK = timedelta(days=7)
#: The seeded window opens Thursday 00:30 CST (06:30 UTC) and closes at 03:30 CST (09:30 UTC).
FIRST_SLOT = IN_WINDOW - timedelta(minutes=30)
TOO_LATE = FIRST_SLOT + timedelta(hours=2, minutes=30)  # half an hour left: the hour no longer fits


async def mails(request_id: int, recipient: str) -> Counter[NotificationKind]:
    kinds = await Notification.filter(update_request_id=request_id, recipient=recipient).values_list(
        "kind", flat=True
    )
    return Counter(NotificationKind(str(kind)) for kind in kinds)


async def scheduler_passes(weeks: int) -> None:
    """The scheduler's passes over `weeks` Thursday windows: at each opening and once the
    window has too little time left."""
    for week in range(weeks):
        for at in (FIRST_SLOT, TOO_LATE):
            assert await dispatch_due(now=at + week * WEEK) == []


async def test_a_paused_rollouts_districts_are_told_once_their_update_is_on_hold(db):
    state = await make_state(asp=0, campus_cloud=2)
    contact = (await make_account(Role.TECHNICAL_CONTACT, state.districts)).email  # told of each move
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET, now=T0
    )
    mine, kept_out = await requests_of(rollout.id)
    assert (mine.status, mine.scheduled_start) == (S.SCHEDULED, FIRST_SLOT)
    await set_update_request_status(
        state.staff, kept_out.id, S.DEFERRED, "Waiting for the district's go-ahead.", now=T0 + MINUTE
    )
    await pause_group_rollout(state.staff, rollout.id, now=T0 + 2 * MINUTE)

    await scheduler_passes(weeks=3)
    # One invitation when the rollout placed it, one notice that it is on hold: no weekly dates.
    assert await mails(mine.id, contact) == Counter({K.SCHEDULED: 1, K.DEFERRED: 1})
    held = await UpdateRequest.get(id=mine.id)
    assert held.status is S.DEFERRED
    assert "paused" in (held.status_message or "") and "resumed" in (held.status_message or "")

    resumed_at = FIRST_SLOT + 3 * WEEK + 3 * timedelta(hours=3)
    await resume_group_rollout(state.staff, rollout.id, now=resumed_at)
    back = await UpdateRequest.get(id=mine.id)
    assert (back.status, back.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + 4 * WEEK)
    assert await mails(mine.id, contact) == Counter({K.SCHEDULED: 2, K.DEFERRED: 1})
    assert (await UpdateRequest.get(id=kept_out.id)).status is S.DEFERRED  # staff's choice stands

    assert await dispatch_due(now=FIRST_SLOT + 4 * WEEK) == [mine.id]
    assert await begin(mine.id, now=FIRST_SLOT + 4 * WEEK) is not None
    await complete(mine.id, now=FIRST_SLOT + 4 * WEEK + 40 * MINUTE)


async def test_a_short_pause_keeps_the_slot_and_cancel_cancels_what_it_held(db):
    """Paused and resumed inside the same window: nothing was held, the district starts in its
    slot with its first invitation. A pause that outlasts a slot and ends in a cancel: the held
    request is cancelled with the rest."""
    state = await make_state(asp=0, campus_cloud=2)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, now=T0,
    )  # fmt: skip
    first, second = await requests_of(rollout.id)
    await pause_group_rollout(state.staff, rollout.id, now=FIRST_SLOT - MINUTE)
    assert await dispatch_due(now=FIRST_SLOT) == []
    await resume_group_rollout(state.staff, rollout.id, now=FIRST_SLOT + MINUTE)
    assert await dispatch_due(now=FIRST_SLOT + MINUTE) == [first.id]
    assert (await UpdateRequest.get(id=second.id)).scheduled_start == FIRST_SLOT  # its turn waits

    await pause_group_rollout(state.staff, rollout.id, now=FIRST_SLOT + 2 * MINUTE)
    assert await dispatch_due(now=TOO_LATE) == []
    assert (await UpdateRequest.get(id=second.id)).status is S.DEFERRED
    await cancel_group_rollout(state.staff, rollout.id, now=TOO_LATE + MINUTE)
    assert (await UpdateRequest.get(id=second.id)).status is S.CANCELLED


async def test_what_a_pause_held_comes_back_when_the_rollout_halted_meanwhile_is_resumed(db):
    """Paused with one district running (wave 1, budget 0): the other's slot passes and it is
    held. The running one fails and the paused rollout halts. Resuming the halted rollout accepts
    the failure and places the held district in its next slot too."""
    state = await make_state(asp=0, campus_cloud=2)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, max_failures=0, now=T0,
    )  # fmt: skip
    first, second = await requests_of(rollout.id)
    assert await dispatch_due(now=FIRST_SLOT) == [first.id]
    assert await begin(first.id, now=FIRST_SLOT) is not None
    await pause_group_rollout(state.staff, rollout.id, now=FIRST_SLOT + MINUTE)
    assert await dispatch_due(now=TOO_LATE) == []
    assert (await UpdateRequest.get(id=second.id)).status is S.DEFERRED
    await fail(first.id, "The site did not start again.", now=TOO_LATE + MINUTE)
    (halted,) = await halt_overspent(now=TOO_LATE + 2 * MINUTE)
    assert (halted.rollout_id, halted.held) == (rollout.id, 0)  # nothing queued: the pause held it

    await resume_group_rollout(state.staff, rollout.id, now=TOO_LATE + 3 * MINUTE)
    back = await UpdateRequest.get(id=second.id)
    assert (back.status, back.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + WEEK)
    assert await dispatch_due(now=FIRST_SLOT + WEEK) == [second.id]


async def test_what_staff_schedule_in_a_paused_rollout_starts_within_its_wave_the_rest_waits(db):
    """ASP districts, due at once, wave 1. Staff move one district to a start of their own before
    the pause: the pause holds it with the rest. After the pause they schedule two more: those
    start at their time one at a time (the wave), the rollout still paused; the others wait."""
    state = await make_state(asp=4, campus_cloud=0)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, now=T0,
    )  # fmt: skip
    before, first, second, waiting = [r.id for r in await requests_of(rollout.id)]
    await schedule_update_request(state.staff, before, T0 + 5 * MINUTE, now=T0 + MINUTE)
    await pause_group_rollout(state.staff, rollout.id, now=T0 + 2 * MINUTE)
    for request_id in (first, second):
        await schedule_update_request(state.staff, request_id, T0 + 10 * MINUTE, now=T0 + 3 * MINUTE)

    assert await dispatch_due(now=T0 + 5 * MINUTE) == []
    assert await dispatch_due(now=T0 + 10 * MINUTE) == [first]
    assert await dispatch_due(now=T0 + 11 * MINUTE) == []  # the wave is full
    assert await begin(first, now=T0 + 11 * MINUTE) is not None
    await complete(first, now=T0 + 20 * MINUTE)
    assert await dispatch_due(now=T0 + 21 * MINUTE) == [second]
    assert await begin(second, now=T0 + 21 * MINUTE) is not None
    await complete(second, now=T0 + 30 * MINUTE)
    assert await dispatch_due(now=T0 + 31 * MINUTE) == []
    rows = dict(await UpdateRequest.filter(rollout_id=rollout.id).values_list("id", "status"))
    assert rows == {before: S.SCHEDULED, first: S.COMPLETED, second: S.COMPLETED, waiting: S.SCHEDULED}

    await resume_group_rollout(state.staff, rollout.id, now=T0 + 32 * MINUTE)
    assert await dispatch_due(now=T0 + 32 * MINUTE) == [waiting]  # the earliest due, one wave


async def test_what_staff_schedule_at_the_pauses_own_instant_is_theirs(db):
    """The pause and staff's scheduling of one district take turns on the rollout's row, staff
    second, but on one clock reading (a frozen or coarse clock): that district is staff's, it starts
    at its time while the rest stays paused, and its slot passing does not set it aside."""
    state = await make_state(asp=3, campus_cloud=0)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, now=T0,
    )  # fmt: skip
    chosen, *waiting = [r.id for r in await requests_of(rollout.id)]
    paused_at = T0 + 2 * MINUTE
    await pause_group_rollout(state.staff, rollout.id, now=paused_at)
    await schedule_update_request(state.staff, chosen, T0 + 10 * MINUTE, now=paused_at)

    assert await dispatch_due(now=T0 + 10 * MINUTE) == [chosen]
    rows = dict(await UpdateRequest.filter(rollout_id=rollout.id).values_list("id", "status"))
    assert rows == {chosen: S.NOT_STARTED, **dict.fromkeys(waiting, S.SCHEDULED)}


async def test_what_staff_move_back_to_scheduled_on_a_clock_behind_the_pauses_is_theirs(db):
    """Staff pause the rollout from one process, then from another whose clock is a second behind
    move a district they had deferred back to SCHEDULED (its own start): it is theirs, and starts."""
    state = await make_state(asp=3, campus_cloud=0)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, now=T0,
    )  # fmt: skip
    chosen, *waiting = [r.id for r in await requests_of(rollout.id)]
    await schedule_update_request(state.staff, chosen, T0 + 10 * MINUTE, now=T0 + MINUTE)
    await set_update_request_status(state.staff, chosen, S.DEFERRED, "Not yet.", now=T0 + MINUTE)
    paused_at = T0 + 2 * MINUTE
    await pause_group_rollout(state.staff, rollout.id, now=paused_at)
    behind = paused_at - timedelta(seconds=1)
    await set_update_request_status(state.staff, chosen, S.SCHEDULED, "Go ahead.", now=behind)

    assert await dispatch_due(now=T0 + 10 * MINUTE) == [chosen]
    rows = dict(await UpdateRequest.filter(rollout_id=rollout.id).values_list("id", "status"))
    assert rows == {chosen: S.NOT_STARTED, **dict.fromkeys(waiting, S.SCHEDULED)}


async def test_what_staff_scheduled_before_a_pause_stamped_on_a_clock_behind_theirs_is_paused(db):
    """Staff schedule a district of the running rollout from one process, then pause the rollout
    from another whose clock is a second behind: the schedule came first (both take turns on the
    rollout's row), so the pause covers it like the rest: it does not start while paused."""
    state = await make_state(asp=3, campus_cloud=0)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, now=T0,
    )  # fmt: skip
    chosen = (await requests_of(rollout.id))[0].id
    scheduled_at = T0 + 2 * MINUTE
    await schedule_update_request(state.staff, chosen, T0 + 10 * MINUTE, now=scheduled_at)
    await pause_group_rollout(state.staff, rollout.id, now=scheduled_at - timedelta(seconds=1))

    assert await dispatch_due(now=T0 + 10 * MINUTE) == []
    assert set(await statuses(rollout.id)) == {S.SCHEDULED}


async def test_what_a_resume_placed_is_paused_again_by_a_pause_on_a_clock_behind_the_resumes(db):
    """A resume places what the pause held (the acting staff member's move), and a pause from a
    process whose clock is a second behind the resume's follows it: the placed district is the
    rollout's own queued work again, not staff's own run, and waits for the next resume."""
    state = await make_state(asp=0, campus_cloud=1)
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET, now=T0
    )
    (mine,) = await requests_of(rollout.id)
    await pause_group_rollout(state.staff, rollout.id, now=T0 + MINUTE)
    await scheduler_passes(weeks=1)
    assert (await UpdateRequest.get(id=mine.id)).status is S.DEFERRED
    resumed_at = FIRST_SLOT + 3 * timedelta(hours=3)
    await resume_group_rollout(state.staff, rollout.id, now=resumed_at)
    await pause_group_rollout(state.staff, rollout.id, now=resumed_at - timedelta(seconds=1))

    assert await dispatch_due(now=FIRST_SLOT + WEEK) == []
    assert await dispatch_due(now=TOO_LATE + WEEK) == []
    assert (await UpdateRequest.get(id=mine.id)).status is S.DEFERRED  # set aside again, not run
