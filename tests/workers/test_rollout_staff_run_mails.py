"""A district staff schedule themselves while its group rollout is paused or halted is theirs: it
runs at its time within the wave while the rest of the rollout stays stopped, and when it cannot
start in its slot after all it moves to its next slot as ordinary work does (one new date), not
set aside. The district's mails go through a real SMTP server (aiosmtpd). On an injected clock, on
both databases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from models.enums import Role, RolloutStatus
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.leases import reclaim_lapsed
from models.requests.staff import schedule_update_request
from models.rollouts.budget import halt_overspent
from models.rollouts.control import pause_group_rollout, resume_group_rollout
from models.rollouts.starting import start_group_rollout
from models.running import RunPolicy
from models.tables import GroupRollout, UpdateRequest
from tests import support
from tests.factories import make_account
from tests.models.rollouts.support import TARGET, E, make_state, requests_of
from tests.models.scenario import T0
from tests.workers.conftest import Mailbox
from tests.workers.test_rollout_stop_mails import (
    FIRST_SLOT,
    MINUTE,
    TOO_LATE,
    WEEK,
    S,
    last_mail_id,
    mails_since,
)

R = RolloutStatus
#: Staff's own start for the district they run: inside the first slot, after it opens.
CHOSEN_START = FIRST_SLOT + 10 * MINUTE


async def told(
    db: support.TestDatabase, mailbox: Mailbox, request_id: int, after_id: int, to: str
) -> list[str]:
    """What `to` is sent of the request's mails written after `after_id`: each subject's kind."""
    with mailbox.lock:
        mailbox.messages.clear()
    return [subject.split(":")[0] for subject in await mails_since(db, mailbox, request_id, after_id, to)]


async def test_a_district_staff_schedule_in_a_paused_rollout_runs_and_the_rest_stays_paused(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    """Paused before its slots: staff move one district to a start of their own. At the slots'
    passes that one starts (the rollout still paused) and completes; the others are set aside
    once. Resuming then places only those: the district staff ran gets nothing more."""
    state = await make_state(asp=0, campus_cloud=3)
    contact = (await make_account(Role.TECHNICAL_CONTACT, state.districts)).email
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, now=T0,
    )  # fmt: skip
    chosen, *others = [r.id for r in await requests_of(rollout.id)]
    await pause_group_rollout(state.staff, rollout.id, now=T0 + MINUTE)
    await schedule_update_request(state.staff, chosen, CHOSEN_START, now=T0 + 2 * MINUTE)

    assert await dispatch_due(now=FIRST_SLOT) == []  # the others' slot: the pause holds them
    assert await halt_overspent(now=CHOSEN_START) == []
    assert await dispatch_due(now=CHOSEN_START) == [chosen]
    assert await begin(chosen, now=CHOSEN_START) is not None
    await complete(chosen, now=CHOSEN_START + 40 * MINUTE)
    assert await dispatch_due(now=TOO_LATE) == []
    for week in (1, 2):
        assert await dispatch_due(now=FIRST_SLOT + week * WEEK) == []
        assert await dispatch_due(now=TOO_LATE + week * WEEK) == []
    assert (await GroupRollout.get(id=rollout.id)).status is R.PAUSED
    rows = dict(await UpdateRequest.filter(rollout_id=rollout.id).values_list("id", "status"))
    assert rows == {chosen: S.COMPLETED, **{pk: S.DEFERRED for pk in others}}
    assert await told(db, mailbox, chosen, 0, contact) == ["Scheduled", "Scheduled", "Completed"]
    for pk in others:
        assert await told(db, mailbox, pk, 0, contact) == ["Scheduled", "Deferred"]

    before = await last_mail_id()
    await resume_group_rollout(state.staff, rollout.id, now=TOO_LATE + 2 * WEEK + MINUTE)
    assert (await UpdateRequest.get(id=chosen)).status is S.COMPLETED
    assert await told(db, mailbox, chosen, before, contact) == []
    for pk in others:
        back = await UpdateRequest.get(id=pk)
        assert (back.status, back.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + 3 * WEEK)
        assert await told(db, mailbox, pk, before, contact) == ["Scheduled"]


async def paused_with_staffs(db: support.TestDatabase) -> tuple[int, int, str]:
    """Two Campus Cloud districts; the rollout is paused before its slot and staff move one to a
    start of their own. (rollout id, that request, the contact)."""
    state = await make_state(asp=0, campus_cloud=2)
    contact = (await make_account(Role.TECHNICAL_CONTACT, state.districts)).email
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET, now=T0
    )
    chosen, _ = [r.id for r in await requests_of(rollout.id)]
    await pause_group_rollout(state.staff, rollout.id, now=T0 + MINUTE)
    await schedule_update_request(state.staff, chosen, CHOSEN_START, now=T0 + 2 * MINUTE)
    return rollout.id, chosen, contact


async def halted_with_staffs(db: support.TestDatabase) -> tuple[int, int, str]:
    """Three Campus Cloud districts, wave 1, budget 0: the first fails in its slot, the rollout
    halts (the others need input), and staff schedule one of them in the same slot anyway."""
    state = await make_state(asp=0, campus_cloud=3)
    contact = (await make_account(Role.TECHNICAL_CONTACT, state.districts)).email
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, max_failures=0, now=T0,
    )  # fmt: skip
    (first,) = await dispatch_due(now=FIRST_SLOT)
    assert await begin(first, now=FIRST_SLOT) is not None
    await fail(first, "The site did not start again.", now=FIRST_SLOT + MINUTE)
    (halted,) = await halt_overspent(now=FIRST_SLOT + 2 * MINUTE)
    assert halted.held == 2
    chosen, _ = [r.id for r in await UpdateRequest.filter(rollout_id=rollout.id, status=S.PENDING_INPUT)]
    await schedule_update_request(state.staff, chosen, CHOSEN_START, now=FIRST_SLOT + 3 * MINUTE)
    return rollout.id, chosen, contact


async def too_late_by_worker(request_id: int) -> None:
    assert await dispatch_due(now=CHOSEN_START) == [request_id]
    assert await begin(request_id, now=TOO_LATE) is None  # turned back: the hour no longer fits


async def too_late_unbegun(request_id: int) -> None:
    assert await dispatch_due(now=CHOSEN_START) == [request_id]
    (reclaimed,) = await reclaim_lapsed(RunPolicy(), now=TOO_LATE)  # no worker began it
    assert reclaimed.request_id == request_id


async def too_late_undispatched(request_id: int) -> None:
    assert await dispatch_due(now=TOO_LATE) == []  # the scheduler's first pass since: too late


@pytest.mark.parametrize("stopped", [R.PAUSED, R.HALTED])
@pytest.mark.parametrize("too_late", [too_late_by_worker, too_late_unbegun, too_late_undispatched])
async def test_a_staff_run_district_that_misses_its_slot_moves_to_its_next_with_one_mail(
    db: support.TestDatabase,
    mailbox: Mailbox,
    stopped: RolloutStatus,
    too_late: Callable[[int], Awaitable[None]],
) -> None:
    """Staff chose to run it: when it cannot start in its slot after all (dispatched, but its
    worker comes too late or none begins it; or the scheduler itself comes too late), it goes to
    its next slot with one new date (as any request), not set aside; the scheduler's passes leave
    it there, and it starts then, the rollout still stopped."""
    setup = paused_with_staffs if stopped is R.PAUSED else halted_with_staffs
    rollout_id, chosen, contact = await setup(db)
    before = await last_mail_id()
    await too_late(chosen)

    for at in (TOO_LATE + MINUTE, FIRST_SLOT + WEEK - MINUTE):  # the scheduler's next passes
        assert await halt_overspent(now=at) == []
        assert await dispatch_due(now=at) == []
    moved = await UpdateRequest.get(id=chosen)
    assert (moved.status, moved.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + WEEK)
    assert await told(db, mailbox, chosen, before, contact) == ["Scheduled"]

    before = await last_mail_id()
    assert await dispatch_due(now=FIRST_SLOT + WEEK) == [chosen]
    assert await begin(chosen, now=FIRST_SLOT + WEEK) is not None
    assert (await GroupRollout.get(id=rollout_id)).status is stopped
    assert await told(db, mailbox, chosen, before, contact) == []
