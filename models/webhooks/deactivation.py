"""Deactivating an endpoint that has failed for 24 hours: it stops, its pending deliveries are
given up (each with a line in the delivery log), its owner is told by mail and the hosting team
alerted. Called by `models.webhooks.attempts.record_outcome` in the transaction of the outcome
that gave a delivery up."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from models.enums import NotificationKind, WebhookDeliveryState
from models.events import AfterCommit
from models.tables import Account, Notification, Webhook, WebhookAttempt, WebhookDelivery
from models.webhooks.notices import deactivation_notice, staff_alert_text

PENDING = WebhookDeliveryState.PENDING
DEACTIVATED_ERROR = "Not sent: the endpoint was deactivated after failing for 24 hours."


def given_up(delivery_id: int, webhook_id: int, at: datetime, why: str) -> WebhookAttempt:
    """The delivery log's line (unsaved) for an event given up without a further attempt (attempt
    0): the log lists attempts, and without it the owner would never learn the event was not sent."""
    return WebhookAttempt(delivery_id=delivery_id, webhook_id=webhook_id, attempt=0, at=at, error=why)


async def deactivate(
    webhook: Webhook,
    failing_since: datetime,
    now: datetime,
    last_error: str | None,
    after: AfterCommit,
    staff_alert_email: str | None = None,
) -> str | None:
    """Stop the endpoint, give up its pending deliveries and write the owner's mail and the staff
    alert's (in the caller's transaction). The alert's text; None when it was no longer active.
    The caller holds the endpoint's row `FOR UPDATE`: a fan-out's insert waits for it, so no
    delivery slips in after the pending ones are given up (`models.webhooks.fanout`)."""
    stopped = await Webhook.filter(id=webhook.id, active=True).update(
        active=False, deactivated_at=now, failing_since=failing_since
    )
    if stopped != 1:
        return None
    # The set is stable: fan-out's inserts wait for the row lock the caller holds.
    pending = cast(
        list[int],
        await WebhookDelivery.filter(webhook_id=webhook.id, state=PENDING).values_list("id", flat=True),
    )
    await WebhookDelivery.filter(webhook_id=webhook.id, state=PENDING).update(
        state=WebhookDeliveryState.FAILED, in_flight=False, last_error=DEACTIVATED_ERROR
    )
    await WebhookAttempt.bulk_create(
        [given_up(delivery_id, webhook.id, now, DEACTIVATED_ERROR) for delivery_id in pending],
        batch_size=500,
    )
    owner = await Account.get_or_none(id=webhook.owner_id, active=True)
    if owner is not None:
        notice = deactivation_notice(webhook.url, failing_since, last_error)
        row = await Notification.create(
            kind=NotificationKind.WEBHOOK_DEACTIVATED,
            recipient=owner.email,
            subject=notice.subject,
            body=notice.body,
        )
        after.notification_ids.append(row.id)
    owner_email = owner.email if owner is not None else f"account {webhook.owner_id}"
    alert = staff_alert_text(webhook.id, webhook.url, owner_email, failing_since, last_error)
    if staff_alert_email:
        row = await Notification.create(
            kind=NotificationKind.STAFF_ALERT,
            recipient=staff_alert_email,
            subject=f"Updatedesk alert: webhook {webhook.id} deactivated"[:300],
            body=alert,
        )
        after.notification_ids.append(row.id)
    return alert
