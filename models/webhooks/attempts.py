"""Attempts of an endpoint's deliveries, one at a time and in order.

`claim_next` takes the endpoint's oldest pending delivery (the head) when it is due: a later event
never overtakes an earlier one that is still being retried. The claim is a compare-and-set on the
attempt number, so of two workers one POSTs; it lapses after its lease (`claim_lease`), so a
worker that stopped mid-attempt is followed by another attempt with the same delivery id (at least
once): the lost attempt counts as a failed one, and the next is made on the backoff schedule.
`record_outcome` writes the attempt, moves the delivery on (delivered, retry at, failed) and
deactivates an endpoint that has failed for 24 hours (`models.webhooks.deactivation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from tortoise.functions import Min
from tortoise.transactions import in_transaction

from models.enums import Role, WebhookDeliveryState
from models.events import AfterCommit, deliver
from models.requests.queries import related
from models.tables import Account, Webhook, WebhookAttempt, WebhookDelivery
from models.webhooks.deactivation import deactivate, given_up
from models.webhooks.retries import (
    CLAIM_LEASE,
    DEFAULT_RETRY_SECONDS,
    RETRY_WINDOW,
    AttemptOutcome,
    Verdict,
    failed_too_long,
    next_attempt_at,
    verdict,
)
from models.webhooks.visibility import OwnerView, may_carry

PENDING = WebhookDeliveryState.PENDING
#: Deliveries looked at by one `claim_next` (skipped ones included) before it hands back.
MAX_CLAIM_STEPS = 50
LOST_ATTEMPT_ERROR = "No outcome recorded: the worker stopped during this attempt."
SKIPPED_ERROR = "Not sent: the webhook's owner no longer sees this district."


@dataclass(frozen=True)
class Claimed:
    """An attempt this worker now makes."""

    delivery: WebhookDelivery
    webhook: Webhook
    attempt: int
    at: datetime


@dataclass(frozen=True)
class Idle:
    """Nothing to attempt now. `until`: when the head falls due (None: nothing waits, or another
    worker's attempt is in flight and that worker carries on)."""

    until: datetime | None
    #: Set when giving up a lost attempt deactivated the endpoint (see `Recorded.alert`).
    alert: str | None = None


@dataclass(frozen=True)
class Recorded:
    verdict: Verdict
    state: WebhookDeliveryState
    retry_at: datetime | None
    #: Set when this outcome deactivated the endpoint: the hosting team's alert (the caller logs
    #: and counts it; the mail, when an address is set, is written with the change).
    alert: str | None = None
    #: False when a lost attempt's give-up found the delivery already moved by another worker
    #: (nothing was written).
    moved: bool = True

    @property
    def deactivated(self) -> bool:
        return self.alert is not None


async def owner_sees(webhook: Webhook, district_id: int) -> bool:
    """Whether the endpoint may still carry an event of `district_id` (owner loaded)."""
    owner = related(webhook, "owner", Account)
    linked = (
        owner.role is not Role.HOSTING_STAFF
        and await Account.filter(id=owner.id, districts__id=district_id).exists()
    )
    view = OwnerView(owner.id, owner.active, owner.role, frozenset({district_id}) if linked else frozenset())
    return may_carry(view, webhook.district_id, district_id)


async def claim_next(
    webhook_id: int,
    now: datetime,
    lease: timedelta = CLAIM_LEASE,
    *,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    staff_alert_email: str | None = None,
) -> Claimed | Idle:
    """Claim an attempt of the endpoint's head delivery if it is due (skipping those its owner may
    no longer see). The claim lapses after `lease` (every worker of a deployment uses the same).
    A lapsed claim is a lost attempt, a failed one: within the delivery's 24 hours it is logged and
    the next attempt follows the backoff (`lost_retry_at`), so an endpoint that stops every worker
    attempting it is not tried again every lease; past them it is recorded by `record_outcome`
    (given up, the endpoint maybe deactivated)."""
    for _ in range(MAX_CLAIM_STEPS):
        webhook = await Webhook.get_or_none(id=webhook_id).select_related("owner")
        if webhook is None or not webhook.active:
            return Idle(None)
        head = await WebhookDelivery.filter(webhook_id=webhook_id, state=PENDING).order_by("id").first()
        if head is None:
            return Idle(None)
        if head.next_attempt_at > now:
            return Idle(None if head.in_flight else head.next_attempt_at)
        if not await owner_sees(webhook, head.district_id):
            skipped = await WebhookDelivery.filter(id=head.id, state=PENDING, attempts=head.attempts).update(
                state=WebhookDeliveryState.SKIPPED, in_flight=False, last_error=SKIPPED_ERROR
            )
            if skipped:
                await given_up(head.id, webhook_id, now, SKIPPED_ERROR).save()
            continue
        if head.in_flight:
            # The claim lapsed: its worker stopped before recording an outcome (the endpoint may
            # hang it or crash it). A lost attempt is a failed one: logged, and the next follows
            # the backoff, not the lease.
            lost = Claimed(head, webhook, head.attempts, head.next_attempt_at - lease)
            retry_at = lost_retry_at(head, lost.at, retry_seconds)
            if retry_at is None or now >= retry_window_end(head):
                # Its 24 hours are over: given up like any other (the endpoint maybe deactivated).
                recorded = await record_outcome(
                    lost,
                    AttemptOutcome(None, LOST_ATTEMPT_ERROR),
                    now,
                    retry_seconds,
                    staff_alert_email,
                    lost=True,
                )
                if recorded.alert is not None:
                    return Idle(None, recorded.alert)
                continue
            await record_lost(lost, retry_at)
            continue  # due now (a late look) or later: look again
        attempt = head.attempts + 1
        first = head.first_attempt_at or now
        won = await WebhookDelivery.filter(
            id=head.id, state=PENDING, attempts=head.attempts, in_flight=False, next_attempt_at__lte=now
        ).update(attempts=attempt, in_flight=True, next_attempt_at=now + lease, first_attempt_at=first)
        if won != 1:
            continue  # another worker claimed it first: look again
        head.attempts, head.in_flight, head.first_attempt_at = attempt, True, first
        return Claimed(head, webhook, attempt, now)
    return Idle(now)  # many skipped in a row: come back at once for the rest


def retry_window_end(delivery: WebhookDelivery) -> datetime:
    assert delivery.first_attempt_at is not None  # set by the first claim
    return delivery.first_attempt_at + RETRY_WINDOW


def lost_retry_at(delivery: WebhookDelivery, began: datetime, retry_seconds: float) -> datetime | None:
    """When to try again after a lost attempt (number `delivery.attempts`, begun at `began`): the
    wait after that attempt, counted from when it began (when it ended is unknown), as for an
    attempt that failed at once; never before its claim lapsed (`delivery.next_attempt_at`).
    None once the 24 hours are over."""
    assert delivery.first_attempt_at is not None
    retry_at = next_attempt_at(delivery.first_attempt_at, delivery.attempts, began, retry_seconds)
    return None if retry_at is None else max(retry_at, delivery.next_attempt_at)


async def record_lost(lost: Claimed, retry_at: datetime) -> bool:
    """Log a lost attempt and put the delivery off until `retry_at`, in one transaction. A
    compare-and-set on the lapsed claim (still in flight, no later attempt claimed), so of two
    workers that find it one logs it; False when another did, or its late outcome came first."""
    delivery = lost.delivery
    async with in_transaction():
        # The endpoint's row first, as `record_outcome` (a late outcome of this attempt) and
        # fan-out take it: the two never wait for each other's rows the other way round.
        if await Webhook.filter(id=lost.webhook.id).select_for_update().first() is None:
            return False  # deleted meanwhile, with its deliveries
        moved = await WebhookDelivery.filter(
            id=delivery.id,
            state=PENDING,
            attempts=lost.attempt,
            in_flight=True,
        ).update(
            in_flight=False,
            next_attempt_at=retry_at,
            last_status_code=None,
            last_error=LOST_ATTEMPT_ERROR,
        )
        if moved != 1:
            return False
        await WebhookAttempt.create(
            delivery_id=delivery.id,
            webhook_id=lost.webhook.id,
            attempt=lost.attempt,
            at=lost.at,
            error=LOST_ATTEMPT_ERROR,
        )
        # The endpoint's 24 hours run from the lost attempt's start (an endpoint that hangs until
        # its worker is stopped is failing), not from the next one.
        await Webhook.filter(id=lost.webhook.id, failing_since__isnull=True).update(failing_since=lost.at)
    return True


async def record_outcome(
    claimed: Claimed,
    outcome: AttemptOutcome,
    now: datetime,
    retry_seconds: float,
    staff_alert_email: str | None = None,
    *,
    lost: bool = False,
) -> Recorded:
    """Write the attempt and its consequences in one transaction; mails leave after the commit
    (a deactivation's go to the owner and, when `staff_alert_email` is set, the hosting team).

    A `lost` attempt (its claim lapsed with no outcome) given up by a worker that found it so is a
    compare-and-set on the lapsed claim, as `record_lost` is: of two workers that reach the give-up
    together, the one whose update moves the delivery logs it (and deactivates the endpoint);
    the other, or one that comes after the attempt's own late outcome, writes nothing."""
    result = verdict(outcome.status_code)
    delivery = claimed.delivery
    retry_at: datetime | None = None
    if result is Verdict.RETRY:
        assert delivery.first_attempt_at is not None
        retry_at = next_attempt_at(delivery.first_attempt_at, claimed.attempt, now, retry_seconds)
    state = (
        WebhookDeliveryState.DELIVERED
        if result is Verdict.DELIVERED
        else (PENDING if retry_at is not None else WebhookDeliveryState.FAILED)
    )
    after = AfterCommit()
    alert: str | None = None
    async with in_transaction():
        webhook = await Webhook.filter(id=claimed.webhook.id).select_for_update().first()
        if webhook is None:
            return Recorded(result, state, retry_at)  # deleted meanwhile, with its log
        failing_since = None if result is Verdict.DELIVERED else (webhook.failing_since or claimed.at)
        # Only once this delivery is given up (a final answer, or its own 24 hours of retries
        # spent): an old failure before a quiet day never cuts a new event's retries short.
        deactivating = webhook.active and retry_at is None and failed_too_long(failing_since, now)
        if deactivating:
            state, retry_at = WebhookDeliveryState.FAILED, None
        changes: dict[str, object] = {
            "state": state,
            "in_flight": False,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        if retry_at is not None:
            changes["next_attempt_at"] = retry_at
        if result is Verdict.DELIVERED:
            changes["delivered_at"] = now
        # Only while this claim is the latest and still in flight: a lapsed claim already logged
        # as lost (or taken over by another worker) has its attempt logged below but no longer
        # moves the delivery.
        moved = await WebhookDelivery.filter(
            id=delivery.id, state=PENDING, attempts=claimed.attempt, in_flight=True
        ).update(**changes)
        if lost and moved != 1:
            return Recorded(result, state, retry_at, moved=False)  # given up (or answered) already
        await WebhookAttempt.create(
            delivery_id=delivery.id,
            webhook_id=webhook.id,
            attempt=claimed.attempt,
            at=claimed.at,
            status_code=outcome.status_code,
            error=outcome.error,
            delivered=result is Verdict.DELIVERED,
            duration_ms=outcome.duration_ms,
        )
        if result is Verdict.DELIVERED:
            await Webhook.filter(id=webhook.id).update(failing_since=None, last_delivered_at=now)
        elif deactivating:
            assert failing_since is not None
            alert = await deactivate(webhook, failing_since, now, outcome.error, after, staff_alert_email)
        elif webhook.failing_since is None:
            await Webhook.filter(id=webhook.id).update(failing_since=failing_since)
    await deliver(after)
    return Recorded(result, state, retry_at, alert)


async def stalled_webhooks(cutoff: datetime, limit: int) -> list[int]:
    """Active endpoints whose head delivery has been due since `cutoff` or earlier: their job was
    lost (a worker stopped, a delayed job was dropped) or their retry was left to the sweep.
    Deliveries waiting behind a head that is not due do not count."""
    heads = (
        await WebhookDelivery.filter(state=PENDING, webhook__active=True)
        .annotate(head=Min("id"))
        .group_by("webhook_id")
        .values_list("head", flat=True)
    )
    due = (
        await WebhookDelivery.filter(id__in=cast(list[int], list(heads)), next_attempt_at__lte=cutoff)
        .order_by("next_attempt_at")
        .limit(limit)
        .values_list("webhook_id", flat=True)
    )
    return cast(list[int], list(due))
