"""Work of a group rollout dispatched before the rollout is paused or halted, whose worker (or the
scheduler, finding no worker began it) then finds it can no longer start in its slot: the district
is told once, through a real SMTP server (aiosmtpd), that the update is on hold (paused) or needs
input (halted), with its invitation withdrawn. Not first a new date that the pause or halt makes
untrue and then, a pass or a week later, the set-aside. On an injected clock, on both databases."""

from __future__ import annotations

from datetime import timedelta

from infra.settings import Settings
from models.enums import NotificationState, Role, RolloutStatus, UpdateStatus
from models.requests.completion import fail
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.leases import reclaim_lapsed
from models.requests.staff import schedule_update_request
from models.rollouts.budget import halt_overspent
from models.rollouts.control import pause_group_rollout, resume_group_rollout
from models.rollouts.starting import start_group_rollout
from models.running import RunPolicy
from models.tables import GroupRollout, Notification, UpdateRequest
from tests import support
from tests.factories import make_account
from tests.models.rollouts.support import TARGET, E, make_state
from tests.models.scenario import IN_WINDOW, T0
from tests.workers.conftest import Mailbox
from workers.mail import deliver_notification

S = UpdateStatus
MINUTE = timedelta(minutes=1)
WEEK = timedelta(days=7)
#: The seeded window opens Thursday 00:30 CST (06:30 UTC) and closes at 03:30 CST (09:30 UTC).
FIRST_SLOT = IN_WINDOW - timedelta(minutes=30)
TOO_LATE = FIRST_SLOT + timedelta(hours=2, minutes=30)  # half an hour left: the hour no longer fits
SENDER = "Campus Hosting <hosting@updatedesk.invalid>"


async def mails_since(
    db: support.TestDatabase, mailbox: Mailbox, request_id: int, after_id: int, to: str
) -> list[str]:
    """Send the request's outbox rows written after `after_id`; the subjects `to` received."""
    settings = Settings(database_url=db.url, smtp_url=mailbox.url, mail_from=SENDER)
    rows = await Notification.filter(update_request_id=request_id, id__gt=after_id).order_by("id")
    for row in rows:
        assert await deliver_notification(row.id, settings) is NotificationState.SENT
    return [str(m["Subject"]) for m in mailbox.received() if m["To"] == to]


async def last_mail_id() -> int:
    last = await Notification.all().order_by("-id").first()
    return last.id if last else 0


async def test_work_dispatched_before_a_pause_whose_worker_comes_too_late_is_held_with_one_mail(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    state = await make_state(asp=0, campus_cloud=1)
    contact = (await make_account(Role.TECHNICAL_CONTACT, state.districts)).email
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET, now=T0
    )
    (request_id,) = await dispatch_due(now=FIRST_SLOT)
    before = await last_mail_id()
    await pause_group_rollout(state.staff, rollout.id, now=FIRST_SLOT + MINUTE)

    assert await begin(request_id, now=TOO_LATE) is None  # turned back: it no longer fits
    for week in (1, 2):  # the pause outlasts the next slots
        assert await dispatch_due(now=FIRST_SLOT + week * WEEK) == []
        assert await dispatch_due(now=TOO_LATE + week * WEEK) == []
    subjects = await mails_since(db, mailbox, request_id, before, contact)
    assert [s.split(":")[0] for s in subjects] == ["Deferred"], subjects
    held = await UpdateRequest.get(id=request_id)
    assert held.status is S.DEFERRED
    assert "paused" in (held.status_message or "") and "resumed" in (held.status_message or "")
    (mail,) = [m for m in mailbox.received() if m["To"] == contact]
    assert "method=CANCEL" in mail.as_string().replace('"', "")  # the invitation is withdrawn

    before = await last_mail_id()
    await resume_group_rollout(state.staff, rollout.id, now=TOO_LATE + 2 * WEEK + MINUTE)
    back = await UpdateRequest.get(id=request_id)
    assert (back.status, back.scheduled_start) == (S.SCHEDULED, FIRST_SLOT + 3 * WEEK)
    subjects = await mails_since(db, mailbox, request_id, before, contact)
    assert [s.split(":")[0] for s in subjects] == ["Deferred", "Scheduled"]  # its new date, once


async def halted_with_one_dispatched(db: support.TestDatabase) -> tuple[int, int, str, int]:
    """Two Campus Cloud districts start at their slot (budget 0); one fails and the rollout halts
    while the other is dispatched but not begun. (rollout id, that request, the contact, last mail
    id before the halt)."""
    state = await make_state(asp=0, campus_cloud=2)
    contact = (await make_account(Role.TECHNICAL_CONTACT, state.districts)).email
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=2, max_failures=0, now=T0,
    )  # fmt: skip
    first, second = await dispatch_due(now=FIRST_SLOT)
    assert await begin(first, now=FIRST_SLOT) is not None
    await fail(first, "The site did not start again.", now=FIRST_SLOT + MINUTE)
    before = await last_mail_id()
    (halted,) = await halt_overspent(now=FIRST_SLOT + 2 * MINUTE)
    assert halted.held == 0  # dispatched: begun work, left alone
    return rollout.id, second, contact, before


async def assert_told_once_it_needs_input(
    db: support.TestDatabase, mailbox: Mailbox, rollout_id: int, request_id: int, contact: str, before: int
) -> None:
    assert await halt_overspent(now=TOO_LATE + MINUTE) == []  # the scheduler's next pass
    subjects = await mails_since(db, mailbox, request_id, before, contact)
    assert [s.split(":")[0] for s in subjects] == ["Input needed"], subjects
    reason = (await GroupRollout.get(id=rollout_id)).status_message
    held = await UpdateRequest.get(id=request_id)
    assert (held.status, held.status_message) == (S.PENDING_INPUT, reason)
    (mail,) = [m for m in mailbox.received() if m["To"] == contact]
    assert "method=CANCEL" in mail.as_string().replace('"', "")


async def test_work_dispatched_before_a_halt_whose_worker_comes_too_late_gets_one_mail(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    rollout_id, request_id, contact, before = await halted_with_one_dispatched(db)
    assert await begin(request_id, now=TOO_LATE) is None
    await assert_told_once_it_needs_input(db, mailbox, rollout_id, request_id, contact, before)


async def test_work_dispatched_before_a_halt_that_no_worker_began_gets_one_mail(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    """No worker reached it: the scheduler finds its lease lapsed once its window has closed."""
    rollout_id, request_id, contact, before = await halted_with_one_dispatched(db)
    (reclaimed,) = await reclaim_lapsed(RunPolicy(), now=TOO_LATE)
    assert reclaimed.request_id == request_id
    await assert_told_once_it_needs_input(db, mailbox, rollout_id, request_id, contact, before)


async def test_a_district_staff_schedule_in_a_halted_rollout_runs_and_is_not_set_aside_again(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    """The rollout halts (its queued districts need input); staff schedule one district anyway.
    The scheduler's passes leave that one as staff scheduled it (no second set-aside, no mail each
    pass), it starts at its time, and the rest of the rollout stays halted."""
    state = await make_state(asp=3, campus_cloud=0)
    contact = (await make_account(Role.TECHNICAL_CONTACT, state.districts)).email
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET,
        wave_size=1, max_failures=0, now=T0,
    )  # fmt: skip
    (first,) = await dispatch_due(now=T0)
    assert await begin(first, now=T0) is not None
    await fail(first, "The site did not start again.", now=T0 + MINUTE)
    before = await last_mail_id()
    (halted,) = await halt_overspent(now=T0 + 2 * MINUTE)
    assert halted.held == 2
    chosen, other = [r.id for r in await UpdateRequest.filter(rollout_id=rollout.id, status=S.PENDING_INPUT)]

    start = T0 + 30 * MINUTE
    await schedule_update_request(state.staff, chosen, start, now=T0 + 3 * MINUTE)
    for minutes in (4, 5):  # the scheduler's next passes
        assert await halt_overspent(now=T0 + minutes * MINUTE) == []
        assert await dispatch_due(now=T0 + minutes * MINUTE) == []  # not due yet
        assert (await UpdateRequest.get(id=chosen)).status is S.SCHEDULED
    subjects = await mails_since(db, mailbox, chosen, before, contact)
    assert [s.split(":")[0] for s in subjects] == ["Input needed", "Scheduled"], subjects

    assert await halt_overspent(now=start) == []
    assert await dispatch_due(now=start) == [chosen]
    assert await begin(chosen, now=start) is not None
    assert (await GroupRollout.get(id=rollout.id)).status is RolloutStatus.HALTED
    assert (await UpdateRequest.get(id=other)).status is S.PENDING_INPUT
    assert await mails_since(db, mailbox, chosen, await last_mail_id(), contact) == subjects
