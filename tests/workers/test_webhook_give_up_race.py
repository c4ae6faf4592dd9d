"""Two webhook workers reach a delivery's give-up point together: its last attempt was lost with
its worker and its 24 hours are over, and both find it so before either records anything. Exactly
one gives it up: one line in the delivery log, one deactivation, one owner mail, one staff alert
(logged, counted, mailed). The other sees it given up and does nothing. PostgreSQL: two callers on
their own connections, the row locks deciding."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from infra.metrics import STAFF_ALERTS
from infra.settings import Settings
from models.enums import NotificationKind, WebhookDeliveryState
from models.tables import Account, Notification, Webhook, WebhookDelivery
from models.webhooks import attempts
from models.webhooks.attempts import LOST_ATTEMPT_ERROR, Claimed, claim_next
from models.webhooks.fanout import fan_out
from models.webhooks.registry import attempts_of
from models.webhooks.retries import CLAIM_LEASE, RETRY_WINDOW, AttemptOutcome
from tests import support
from tests.support_webhooks import T0, add_webhook, make_world, record_of
from workers.webhooks import deliver_webhook

URL = "https://hooks.partner.example/in"
STAFF = "hosting-alerts@updatedesk.invalid"
RACE_TRIALS = 3
D = WebhookDeliveryState


def deactivation_alerts() -> float:
    return STAFF_ALERTS.labels("webhook_deactivated")._value.get()


async def never_post(url: str, body: bytes, headers: Mapping[str, str]) -> AttemptOutcome:
    raise AssertionError("a delivery past its 24 hours is not attempted again")


async def give_up_together(settings: Settings, monkeypatch: pytest.MonkeyPatch, callers: int) -> Webhook:
    """An endpoint whose one delivery lost its last attempt with its worker, its 24 hours over;
    `callers` workers deliver it at once, each having read the lapsed claim before any goes on."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    assert isinstance(await claim_next(hook.id, T0), Claimed)  # its worker stops: lost
    last = T0 + RETRY_WINDOW - CLAIM_LEASE
    assert isinstance(await claim_next(hook.id, last), Claimed)  # the last one, lost too
    over = last + CLAIM_LEASE

    arrived = asyncio.Barrier(callers)
    sees = attempts.owner_sees

    async def look_together(webhook: Webhook, district_id: int) -> bool:
        await arrived.wait()
        return await sees(webhook, district_id)

    # One pooled connection per caller, open already (none waits for a new one by accident).
    await asyncio.gather(*(Webhook._meta.db.execute_query("SELECT pg_sleep(0.02)") for _ in range(callers)))
    with monkeypatch.context() as patched:
        patched.setattr(attempts, "owner_sees", look_together)
        await asyncio.gather(
            *(deliver_webhook(hook.id, settings, clock=lambda: over, post=never_post) for _ in range(callers))
        )
    return hook


async def test_two_workers_at_the_give_up_point_give_it_up_once(
    postgres_db: support.TestDatabase, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=postgres_db.url, staff_alert_email=STAFF)
    for _ in range(RACE_TRIALS):
        alerts_before = deactivation_alerts()
        caplog.clear()
        hook = await give_up_together(settings, monkeypatch, callers=2)

        log = [(row.attempt, row.error) for row in await attempts_of(hook.id)]
        assert log == [(2, LOST_ATTEMPT_ERROR), (1, LOST_ATTEMPT_ERROR)]  # the give-up logged once
        delivery = await WebhookDelivery.get(webhook_id=hook.id)
        assert (delivery.state, delivery.in_flight, delivery.attempts) == (D.FAILED, False, 2)
        assert not (await Webhook.get(id=hook.id)).active
        assert deactivation_alerts() - alerts_before == 1
        logged = [r for r in caplog.records if "staff alert (webhook_deactivated)" in r.getMessage()]
        assert len(logged) == 1
        owner = await Account.get(id=hook.owner_id)
        mails = await Notification.filter(kind=NotificationKind.WEBHOOK_DEACTIVATED, recipient=owner.email)
        assert len(mails) == 1
        staff_mails = await Notification.filter(kind=NotificationKind.STAFF_ALERT, recipient=STAFF)
        assert len([m for m in staff_mails if f"webhook {hook.id} " in m.subject]) == 1
