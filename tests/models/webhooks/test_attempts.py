"""Attempts over a day and more, on a hand-moved clock with scripted answers (no network): the 24
hours of retries an event gets, when an endpoint is deactivated, that a success resets it, and an
owner who loses a district while its event is being retried."""

from __future__ import annotations

from datetime import datetime, timedelta

from models.enums import Role, WebhookDeliveryState
from models.tables import Account, Webhook, WebhookAttempt, WebhookDelivery
from models.webhooks.attempts import (
    LOST_ATTEMPT_ERROR,
    SKIPPED_ERROR,
    Claimed,
    Idle,
    claim_next,
    record_outcome,
)
from models.webhooks.deactivation import DEACTIVATED_ERROR
from models.webhooks.fanout import fan_out
from models.webhooks.registry import attempts_of
from models.webhooks.retries import CLAIM_LEASE, RETRY_WINDOW, AttemptOutcome, Verdict, retry_delay
from tests import support
from tests.factories import make_account, make_request
from tests.support_webhooks import T0, add_webhook, make_world, record_of

URL = "https://hooks.partner.example/in"
RETRY_SECONDS = 30.0
D = WebhookDeliveryState


async def answer(webhook_id: int, now: datetime, status_code: int | None) -> tuple[Claimed, Verdict]:
    """Claim the endpoint's head delivery at `now` (it must be due) and record `status_code`."""
    claimed = await claim_next(webhook_id, now)
    assert isinstance(claimed, Claimed), claimed
    error = None if status_code is not None and 200 <= status_code < 300 else f"HTTP {status_code}"
    recorded = await record_outcome(claimed, AttemptOutcome(status_code, error), now, RETRY_SECONDS)
    return claimed, recorded.verdict


async def fail_until_given_up(webhook_id: int, now: datetime, status_code: int = 503) -> datetime:
    """Answer `status_code` to every attempt of the head delivery, each when it falls due, until
    it is given up (or the endpoint deactivated); when that was."""
    while True:
        await answer(webhook_id, now, status_code)
        step = await claim_next(webhook_id, now)
        assert isinstance(step, Idle)
        if step.until is None:
            return now
        now = step.until


async def test_a_final_answer_long_ago_does_not_cut_a_new_events_retries_short(
    db: support.TestDatabase,
) -> None:
    """The receiver refused one event (410: final) and then nothing happened for a day. The next
    event meets a 503: it is retried with backoff for 24 hours like any other, and only then, all
    its attempts failed, is the endpoint deactivated."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    _, verdict = await answer(hook.id, T0, 410)
    assert verdict is Verdict.FINAL

    later = T0 + timedelta(hours=25)
    await fan_out(record_of(world.own_request), now=later)
    _, verdict = await answer(hook.id, later, 503)
    assert verdict is Verdict.RETRY
    assert (await Webhook.get(id=hook.id)).active, "one failed attempt of a new event deactivated it"
    pending = await WebhookDelivery.filter(webhook_id=hook.id, state=D.PENDING).get()
    assert pending.next_attempt_at == later + timedelta(seconds=RETRY_SECONDS)

    ended = await fail_until_given_up(hook.id, pending.next_attempt_at)
    assert ended == later + RETRY_WINDOW
    stopped = await Webhook.get(id=hook.id)
    assert (stopped.active, stopped.deactivated_at) == (False, ended)
    assert await WebhookAttempt.filter(delivery_id=pending.id).count() == 13


async def test_a_success_resets_the_24_hours(db: support.TestDatabase) -> None:
    """Failing for 23 hours, then one success: the next failures start a new 24 hours."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    await answer(hook.id, T0, 500)
    almost = T0 + timedelta(hours=23)
    _, verdict = await answer(hook.id, almost, 200)  # the retry falls due long before: taken late
    assert verdict is Verdict.DELIVERED
    assert (await Webhook.get(id=hook.id)).failing_since is None

    next_event = almost + timedelta(minutes=1)
    await fan_out(record_of(world.own_request), now=next_event)
    await answer(hook.id, next_event, 500)
    assert (await Webhook.get(id=hook.id)).failing_since == next_event
    # Past T0 + 24 h, failing since the success only an hour ago: still active, still retried.
    _, verdict = await answer(hook.id, T0 + timedelta(hours=25), 500)
    assert verdict is Verdict.RETRY
    assert (await Webhook.get(id=hook.id)).active
    step = await claim_next(hook.id, T0 + timedelta(hours=25))
    assert isinstance(step, Idle) and step.until is not None
    ended = await fail_until_given_up(hook.id, step.until, 500)
    assert ended == next_event + RETRY_WINDOW
    assert not (await Webhook.get(id=hook.id)).active


async def test_an_owner_who_loses_a_district_mid_retry_gets_no_further_attempt_for_it(
    db: support.TestDatabase,
) -> None:
    """An event of district A failed once and waits for its retry; the owner loses A. The retry is
    not made (skipped, not failed: the endpoint is not to blame), later events of A get no
    delivery, and the owner's other district is still delivered."""
    world = await make_world()
    await world.owner.districts.add(world.other)
    other_request = await make_request(world.other, requested_by=world.owner)
    hook = await add_webhook(world.owner, URL)
    assert await fan_out(record_of(world.own_request), now=T0) == [hook.id]
    await answer(hook.id, T0, 503)
    await world.owner.districts.remove(world.own)

    retry_at = T0 + timedelta(seconds=RETRY_SECONDS)
    assert await claim_next(hook.id, retry_at) == Idle(None)
    lost = await WebhookDelivery.get(webhook_id=hook.id, district_id=world.own.id)
    assert (lost.state, lost.attempts, lost.last_error) == (D.SKIPPED, 1, SKIPPED_ERROR)
    assert await fan_out(record_of(world.own_request), now=retry_at) == []

    assert await fan_out(record_of(other_request), now=retry_at) == [hook.id]
    _, verdict = await answer(hook.id, retry_at, 204)
    assert verdict is Verdict.DELIVERED
    posts = WebhookAttempt.filter(webhook_id=hook.id, attempt__gt=0)
    assert await posts.count() == 2  # the 503 and the 204; the skip is logged as attempt 0
    assert await WebhookAttempt.filter(delivery_id=lost.id, attempt=0, error=SKIPPED_ERROR).exists()
    assert (await Webhook.get(id=hook.id)).active


async def test_an_owner_switched_off_mid_retry_gets_nothing_until_switched_on_again(
    db: support.TestDatabase,
) -> None:
    """`updatedesk accounts deactivate` while an event waits for its retry: the retry is not made
    and events meanwhile make no delivery; once the account is on again, new events flow."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    assert await fan_out(record_of(world.own_request), now=T0) == [hook.id]
    await answer(hook.id, T0, 503)
    await Account.filter(id=world.owner.id).update(active=False)

    retry_at = T0 + timedelta(seconds=RETRY_SECONDS)
    assert await fan_out(record_of(world.own_request), now=retry_at) == []
    assert await claim_next(hook.id, retry_at) == Idle(None)
    skipped = await WebhookDelivery.get(webhook_id=hook.id)
    assert (skipped.state, skipped.attempts, skipped.last_error) == (D.SKIPPED, 1, SKIPPED_ERROR)

    await Account.filter(id=world.owner.id).update(active=True)
    assert await fan_out(record_of(world.own_request), now=retry_at) == [hook.id]
    assert (await answer(hook.id, retry_at, 200))[1] is Verdict.DELIVERED


async def test_a_staff_owner_demoted_to_a_contact_keeps_only_its_linked_districts(
    db: support.TestDatabase,
) -> None:
    """Staff see every district; a staff account turned into a district contact (an import that
    changes its role) gets only its linked districts' events from then on, queued ones included."""
    world = await make_world()
    staff = await make_account(Role.HOSTING_STAFF, [world.own])
    hook = await add_webhook(staff, URL)
    assert await fan_out(record_of(world.other_request), now=T0) == [hook.id]
    await Account.filter(id=staff.id).update(role=Role.TECHNICAL_CONTACT)

    assert await fan_out(record_of(world.other_request), now=T0) == []
    assert await fan_out(record_of(world.own_request), now=T0) == [hook.id]
    claimed = await claim_next(hook.id, T0)  # the other district's, queued before: skipped
    assert isinstance(claimed, Claimed) and claimed.delivery.district_id == world.own.id
    queued = await WebhookDelivery.get(webhook_id=hook.id, district_id=world.other.id)
    assert (queued.state, queued.attempts) == (D.SKIPPED, 0)


async def test_a_first_attempt_lost_with_its_worker_starts_the_24_hours(db: support.TestDatabase) -> None:
    """The worker making an endpoint's first attempt stops (no outcome recorded); every attempt
    after it fails. The endpoint has failed since that first attempt: when the event's 24 hours of
    retries are spent, the endpoint has failed for 24 hours and is deactivated then, not one event
    (another day) later."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    assert isinstance(await claim_next(hook.id, T0), Claimed)  # ... and its worker stops

    lapsed = T0 + CLAIM_LEASE
    await answer(hook.id, lapsed, 503)  # the lost attempt is logged, this one fails
    assert (await Webhook.get(id=hook.id)).failing_since == T0
    step = await claim_next(hook.id, lapsed)
    assert isinstance(step, Idle) and step.until is not None
    ended = await fail_until_given_up(hook.id, step.until)
    assert ended == T0 + RETRY_WINDOW
    stopped = await Webhook.get(id=hook.id)
    assert (stopped.active, stopped.deactivated_at) == (False, ended)


async def test_the_log_shows_the_events_given_up_without_an_attempt(db: support.TestDatabase) -> None:
    """Events queued behind a failing head are given up when the endpoint is deactivated, and an
    event of a district its owner lost is not sent: neither was attempted, and the delivery log
    (the owner's only way to learn what to catch up on) must still show each, with why."""
    world = await make_world()
    await world.owner.districts.add(world.other)
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    lost = record_of(await make_request(world.other, requested_by=world.owner))
    await fan_out(lost, now=T0)
    await answer(hook.id, T0, 200)
    await world.owner.districts.remove(world.other)
    failing = T0 + timedelta(minutes=1)
    head, behind = record_of(world.own_request), record_of(world.own_request)
    for record in (head, behind):
        await fan_out(record, now=failing)

    ended = await fail_until_given_up(hook.id, failing)  # skips `lost` first, then fails `head`
    assert not (await Webhook.get(id=hook.id)).active
    log = [
        (row.delivery.event_cursor, row.attempt, row.error, row.delivered)
        for row in await attempts_of(hook.id, 100)
    ]
    assert log[0] == (behind.cursor, 0, DEACTIVATED_ERROR, False)
    assert (lost.cursor, 0, SKIPPED_ERROR, False) in log
    assert [entry[1] for entry in log if entry[0] == head.cursor] == list(range(13, 0, -1))
    given_up = await WebhookAttempt.get(delivery__event_cursor=behind.cursor, webhook_id=hook.id)
    assert given_up.at == ended


async def test_a_delivery_whose_every_attempt_is_lost_still_ends_after_24_hours(
    db: support.TestDatabase,
) -> None:
    """Every worker that attempts this event stops before recording an outcome (the endpoint
    hangs it, a crash...). A lost attempt is a failed one: after the event's 24 hours it is given
    up like any other, and the endpoint, failing since its first attempt, is deactivated; it is
    not attempted again once a lease for ever."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    assert isinstance(await claim_next(hook.id, T0), Claimed)  # lost
    last = T0 + RETRY_WINDOW - CLAIM_LEASE
    assert isinstance(await claim_next(hook.id, last), Claimed)  # lost too, the last within 24 hours

    over = last + CLAIM_LEASE
    step = await claim_next(hook.id, over)
    assert isinstance(step, Idle) and step.alert is not None
    delivery = await WebhookDelivery.get(webhook_id=hook.id)
    assert (delivery.state, delivery.in_flight, delivery.attempts) == (D.FAILED, False, 2)
    stopped = await Webhook.get(id=hook.id)
    assert (stopped.active, stopped.failing_since, stopped.deactivated_at) == (False, T0, over)
    log = [(row.attempt, row.error) for row in await attempts_of(hook.id)]
    assert log == [(2, LOST_ATTEMPT_ERROR), (1, LOST_ATTEMPT_ERROR)]


async def test_attempts_lost_with_their_workers_are_retried_with_backoff_not_every_lease(
    db: support.TestDatabase,
) -> None:
    """The receiver kills every worker that attempts its event (a huge, slow answer, say): no
    outcome is ever recorded, each claim lapses. A lost attempt is a failed one and counts as an
    attempt: the next is made on the backoff schedule of an event whose attempts fail (30 s after
    the first began, then 60 s, 120 s... after each), never as soon as the claim lapses, which would
    hammer the receiver every lease for a day. After 24 hours the event is given up and the
    endpoint deactivated, as before."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    claims: list[datetime] = []
    now = T0
    while len(claims) < 30:
        step = await claim_next(hook.id, now, retry_seconds=RETRY_SECONDS)
        if isinstance(step, Claimed):
            claims.append(now)  # ... and its worker dies: the claim lapses
            now += CLAIM_LEASE
        elif step.until is not None:
            now = step.until
        else:
            break  # given up (or in flight: it is not, every claim has lapsed)
    # The schedule of attempts that fail at once: 13 in 24 hours (the last on the 24th hour).
    schedule = [T0]
    while schedule[-1] < T0 + RETRY_WINDOW:
        schedule.append(min(schedule[-1] + retry_delay(len(schedule), RETRY_SECONDS), T0 + RETRY_WINDOW))
    assert claims == schedule
    delivery = await WebhookDelivery.get(webhook_id=hook.id)
    assert (delivery.state, delivery.in_flight, delivery.attempts) == (D.FAILED, False, len(schedule))
    stopped = await Webhook.get(id=hook.id)
    assert (stopped.active, stopped.failing_since) == (False, T0)
    assert stopped.deactivated_at == T0 + RETRY_WINDOW + CLAIM_LEASE
    log = [(row.attempt, row.at, row.error) for row in await attempts_of(hook.id, 100)]
    assert log == [(n, at, LOST_ATTEMPT_ERROR) for n, at in reversed(list(enumerate(schedule, 1)))]


async def test_a_late_outcome_of_an_attempt_logged_as_lost_does_not_move_the_delivery(
    db: support.TestDatabase,
) -> None:
    """The worker was only slow: its claim lapsed, the attempt was logged as lost and the next put
    off on the backoff; then its outcome comes. It is logged, but the delivery keeps its schedule
    (a second retry time, or a second attempt numbered the same, would follow otherwise)."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    slow = await claim_next(hook.id, T0, retry_seconds=60.0)
    assert isinstance(slow, Claimed)
    step = await claim_next(hook.id, T0 + CLAIM_LEASE, retry_seconds=60.0)
    assert isinstance(step, Idle) and step.until == T0 + timedelta(seconds=60)
    late = T0 + CLAIM_LEASE + timedelta(seconds=5)
    await record_outcome(slow, AttemptOutcome(503, "HTTP 503"), late, 60.0)
    delivery = await WebhookDelivery.get(webhook_id=hook.id)
    assert (delivery.state, delivery.in_flight, delivery.attempts) == (D.PENDING, False, 1)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=60)
    log = sorted((row.attempt, row.error) for row in await attempts_of(hook.id))
    assert log == [(1, "HTTP 503"), (1, LOST_ATTEMPT_ERROR)]
    assert isinstance(await claim_next(hook.id, step.until, retry_seconds=60.0), Claimed)
