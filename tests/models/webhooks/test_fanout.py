"""Fan-out: one event record to one delivery per endpoint that may see it, never another
district's event, never twice for one record; and the re-check before each attempt."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from tortoise.transactions import in_transaction

from models.enums import EventType, Role, UpdateStatus, WebhookDeliveryState
from models.events import AfterCommit
from models.tables import Account, UpdateRequest, Webhook, WebhookDelivery
from models.webhooks.attempts import SKIPPED_ERROR, Idle, claim_next
from models.webhooks.deactivation import deactivate
from models.webhooks.fanout import candidates_by_district, fan_out
from models.webhooks.retries import RETRY_WINDOW
from tests import support
from tests.factories import make_account
from tests.support_webhooks import T0, add_webhook, make_world, record_of

URL = "https://hooks.partner.example/in"


async def test_a_webhook_never_carries_another_districts_event(db: support.TestDatabase) -> None:
    world = await make_world()
    everything = await add_webhook(world.owner, URL)
    scoped = await add_webhook(world.owner, URL, world.own)
    staff = await make_account(Role.HOSTING_STAFF)
    staff_all = await add_webhook(staff, URL)
    staff_scoped = await add_webhook(staff, URL, world.own)

    own_event = await fan_out(record_of(world.own_request))
    other_event = await fan_out(record_of(world.other_request))

    assert sorted(own_event) == sorted([everything.id, scoped.id, staff_all.id, staff_scoped.id])
    assert other_event == [staff_all.id]  # the owner is not linked to it; scoped ones are elsewhere
    for hook in (everything, scoped, staff_scoped):
        assert not await WebhookDelivery.filter(webhook_id=hook.id, district_id=world.other.id).exists()


async def test_a_record_fanned_out_twice_makes_one_delivery(db: support.TestDatabase) -> None:
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    record = record_of(world.own_request)
    assert await fan_out(record) == [hook.id]
    assert await fan_out(record) == []
    assert await WebhookDelivery.filter(webhook_id=hook.id).count() == 1


async def test_snapshots_are_not_events_and_deactivated_owners_get_nothing(db: support.TestDatabase) -> None:
    world = await make_world()
    await add_webhook(world.owner, URL)
    assert await fan_out(record_of(world.own_request, type=EventType.SNAPSHOT)) == []
    await Account.filter(id=world.owner.id).update(active=False)
    assert await fan_out(record_of(world.own_request)) == []


async def test_an_owner_who_lost_the_district_gets_no_attempt_of_what_was_queued(
    db: support.TestDatabase,
) -> None:
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request), now=T0)
    await world.owner.districts.remove(world.own)  # the link is removed before the attempt

    assert await claim_next(hook.id, T0) == Idle(None)
    delivery = await WebhookDelivery.get(webhook_id=hook.id)
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        WebhookDeliveryState.SKIPPED,
        0,
        SKIPPED_ERROR,
    )


async def test_the_body_is_the_request_as_a_subscriber_sees_it(db: support.TestDatabase) -> None:
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    await fan_out(record_of(world.own_request, EventType.CREATED, UpdateStatus.TO_BE_SCHEDULED, None))
    body = (await WebhookDelivery.get(webhook_id=hook.id)).body
    assert '"status":"TO_BE_SCHEDULED"' in body and '"kind":"VERSION_UPDATE"' in body
    for internal in ("completed_steps", "completedSteps", "idempotency", "attempts", "database"):
        assert internal not in body


async def test_the_body_shows_the_status_of_its_event_when_the_request_has_moved_on(
    db: support.TestDatabase,
) -> None:
    """The dispatcher reads behind the moves (a batch, a restart): the SCHEDULED move is fanned
    out after the request already went on to NOT_STARTED. Its body must say SCHEDULED, as a
    subscriber's event does, not the status the row has by then."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    scheduled = replace(record_of(world.own_request), message="Scheduled for Thursday 00:30.")
    await UpdateRequest.filter(id=world.own_request.id).update(
        status=UpdateStatus.NOT_STARTED, status_message="Starting now."
    )
    await fan_out(scheduled)
    body = json.loads((await WebhookDelivery.get(webhook_id=hook.id)).body)
    assert (body["fromStatus"], body["toStatus"]) == ("TO_BE_SCHEDULED", "SCHEDULED")
    assert body["updateRequest"]["status"] == "SCHEDULED"
    assert body["updateRequest"]["statusMessage"] == "Scheduled for Thursday 00:30."

    # A progress report is no move: the status of that moment, the message the request keeps.
    progress = record_of(world.own_request, type=EventType.PROGRESS, from_status=None)
    await fan_out(replace(progress, to_status=UpdateStatus.SCHEDULED))
    body = json.loads((await WebhookDelivery.get(webhook_id=hook.id, event_cursor=progress.cursor)).body)
    assert body["updateRequest"]["status"] == "SCHEDULED"
    assert body["updateRequest"]["statusMessage"] == "Starting now."


async def test_an_endpoint_deactivated_while_its_batch_is_fanned_out_gets_no_pending_delivery(
    db: support.TestDatabase,
) -> None:
    """The dispatcher reads the active endpoints once per batch; one of them is deactivated (24
    hours of failures) before the batch's next record is fanned out. That record must not leave a
    PENDING delivery on the inactive endpoint: no attempt ever comes for it, so it would wait (and
    be counted as waiting) for ever."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    candidates = await candidates_by_district({world.own.id})
    async with in_transaction():
        stopped = await Webhook.filter(id=hook.id).select_for_update().get()
        await deactivate(stopped, T0, T0 + RETRY_WINDOW, "HTTP 503", AfterCommit())

    await fan_out(record_of(world.own_request), now=T0 + RETRY_WINDOW, candidates=candidates[world.own.id])
    assert not await WebhookDelivery.filter(webhook_id=hook.id, state=WebhookDeliveryState.PENDING).exists()


async def test_a_fan_out_during_a_deactivation_waits_for_it_and_makes_no_delivery(
    postgres_db: support.TestDatabase,
) -> None:
    """The deactivation's transaction has given up the endpoint's pending deliveries but not yet
    committed when the dispatcher reaches the endpoint: the delivery made then is one the
    deactivation never saw. The fan-out must wait for it and then make none."""
    world = await make_world()
    hook = await add_webhook(world.owner, URL)
    candidates = (await candidates_by_district({world.own.id}))[world.own.id]
    given_up = asyncio.Event()

    async def dispatcher() -> list[int]:  # a task of its own, started outside the transaction
        await given_up.wait()
        return await fan_out(record_of(world.own_request), now=T0 + RETRY_WINDOW, candidates=candidates)

    fanned_out = asyncio.create_task(dispatcher())
    async with in_transaction():
        stopped = await Webhook.filter(id=hook.id).select_for_update().get()
        await deactivate(stopped, T0, T0 + RETRY_WINDOW, "HTTP 503", AfterCommit())
        given_up.set()
        await until_a_row_lock_is_awaited()
    assert await fanned_out == []
    assert not await WebhookDelivery.filter(webhook_id=hook.id).exists()


async def until_a_row_lock_is_awaited(polls: int = 2000) -> None:
    """Until another session waits for a row lock (pg_locks: a tuple or transaction lock not granted)."""
    for _ in range(polls):
        rows = await Webhook._meta.db.execute_query_dict(
            "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND locktype IN ('tuple', 'transactionid')"
        )
        if rows[0]["n"]:
            return
    raise AssertionError("the fan-out never waited for the deactivation")
