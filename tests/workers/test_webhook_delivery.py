"""Webhook deliveries to a real receiver on loopback (with the allow setting), on an injected
clock: signed POSTs that verify, retries with one delivery id, final answers, per-endpoint order,
deactivation after 24 hours, and a worker that stops mid-attempt."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from infra.bus import STREAM_START, MemoryStream
from infra.metrics import STAFF_ALERTS
from models.enums import NotificationKind, UpdateStatus, WebhookDeliveryState
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.ids import encode_global_id
from models.requests.withdrawing import delete_update_request
from models.tables import District, Notification, UpdateRequest, Webhook, WebhookAttempt, WebhookDelivery
from models.webhooks.attempts import (
    LOST_ATTEMPT_ERROR,
    Claimed,
    claim_next,
    record_outcome,
)
from models.webhooks.deactivation import DEACTIVATED_ERROR
from models.webhooks.fanout import fan_out
from models.webhooks.registry import delete_webhook
from models.webhooks.retries import (
    CLAIM_LEASE,
    DELIVERY_TIMEOUT_SECONDS,
    RETRY_WINDOW,
    Verdict,
    claim_lease,
    retry_delay,
)
from models.webhooks.signing import verify
from tests import support
from tests.factories import actor_of
from tests.support_webhooks import (
    HANG,
    T0,
    Clock,
    add_webhook,
    allow_private_settings,
    local_post,
    make_world,
    receiver,
    record_of,
)
from workers.webhook_records import webhook_record
from workers.webhooks import attempt, deliver_webhook, sweep_webhooks

SETTINGS = allow_private_settings()
INTERNAL_FIELDS = ("completedSteps", "attempts", "idempotencyKey", "databaseUrl", "internalDetail", "secret")


async def attempts_of(webhook: Webhook) -> list[WebhookAttempt]:
    return list(await WebhookAttempt.filter(webhook_id=webhook.id).order_by("id"))


async def test_a_receiver_gets_signed_posts_that_verify(db: support.TestDatabase) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver() as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        record = record_of(world.own_request)
        assert await fan_out(record, now=clock()) == [hook.id]
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None

    [got] = endpoint.requests
    delivery = await WebhookDelivery.get(webhook_id=hook.id)
    assert verify(hook.secret, got.headers["updatedesk-signature"], got.body, now=T0.timestamp())
    assert not verify("whsec_someone-else", got.headers["updatedesk-signature"], got.body, now=T0.timestamp())
    assert got.headers["updatedesk-event"] == "STATUS_CHANGED"
    assert got.headers["updatedesk-delivery"] == delivery.uid
    assert got.headers["content-type"] == "application/json"
    body = got.json
    assert (body["type"], body["cursor"], body["fromStatus"], body["toStatus"]) == (
        "STATUS_CHANGED",
        record.cursor,
        "TO_BE_SCHEDULED",
        "SCHEDULED",
    )
    request = body["updateRequest"]
    assert request["id"] == encode_global_id("UpdateRequest", world.own_request.id)
    assert request["district"] == {"id": encode_global_id("District", world.own.id), "name": world.own.name}
    assert request["requestedBy"]["name"] == world.owner.name
    assert not [name for name in INTERNAL_FIELDS if name in got.body.decode()]
    [logged] = await attempts_of(hook)
    assert (logged.attempt, logged.status_code, logged.delivered, logged.error) == (1, 200, True, None)
    assert (await Webhook.get(id=hook.id)).last_delivered_at == T0


async def test_a_body_beyond_ascii_is_signed_as_the_bytes_the_receiver_gets(db: support.TestDatabase) -> None:
    """Names and notes in other scripts (and JSON's escapes) go out as UTF-8: what arrives at a real
    receiver is the body that was signed, byte for byte, after its round trip through the database."""
    world = await make_world()
    await District.filter(id=world.own.id).update(name="École Cité Œuvre ☃")
    notes = 'naïve "quoted" \\ back-slash, 𝄞 and 日本語'
    await UpdateRequest.filter(id=world.own_request.id).update(notes=notes)
    clock = Clock()
    async with receiver() as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        await fan_out(record_of(world.own_request), now=clock())
        await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post())
    [got] = endpoint.requests
    assert got.body == (await WebhookDelivery.get(webhook_id=hook.id)).body.encode("utf-8")
    assert "日本語".encode() in got.body  # not escaped to \\u: the bytes signed are UTF-8
    assert verify(hook.secret, got.headers["updatedesk-signature"], got.body, now=T0.timestamp())
    assert int(got.headers["content-length"]) == len(got.body)
    shown = got.json["updateRequest"]
    assert (shown["district"]["name"], shown["notes"]) == ("École Cité Œuvre ☃", notes)


async def test_a_500_is_retried_later_with_the_same_delivery_id(db: support.TestDatabase) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver(500, 200) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        await fan_out(record_of(world.own_request), now=clock())
        retry_at = await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post())
        assert retry_at == T0 + timedelta(seconds=SETTINGS.webhook_retry_seconds)
        assert (await Webhook.get(id=hook.id)).failing_since == T0
        clock.to(retry_at - timedelta(seconds=1))
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) == retry_at
        assert len(endpoint.requests) == 1  # not before its time
        clock.to(retry_at)
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None

    first, second = endpoint.requests
    assert first.headers["updatedesk-delivery"] == second.headers["updatedesk-delivery"]
    assert first.body == second.body
    assert verify(hook.secret, second.headers["updatedesk-signature"], second.body, now=retry_at.timestamp())
    logged = await attempts_of(hook)
    assert [(a.attempt, a.status_code, a.delivered) for a in logged] == [(1, 500, False), (2, 200, True)]
    assert logged[0].error is not None and "500" in logged[0].error
    assert (await WebhookDelivery.get(webhook_id=hook.id)).state is WebhookDeliveryState.DELIVERED
    assert (await Webhook.get(id=hook.id)).failing_since is None


async def test_a_redirect_is_not_followed_and_is_final(db: support.TestDatabase) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver(307) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        await fan_out(record_of(world.own_request), now=clock())
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None
    assert len(endpoint.requests) == 1
    delivery = await WebhookDelivery.get(webhook_id=hook.id)
    assert (delivery.state, delivery.last_status_code) == (WebhookDeliveryState.FAILED, 307)


async def test_a_410_is_final_for_that_event_and_the_next_event_still_goes(db: support.TestDatabase) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver(410) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        gone, later = record_of(world.own_request), record_of(world.own_request)
        await fan_out(gone, now=clock())
        await fan_out(later, now=clock())
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None
        clock.advance(hours=30)
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None

    assert [r.json["cursor"] for r in endpoint.requests] == [gone.cursor, later.cursor]
    states = {d.event_cursor: d.state for d in await WebhookDelivery.filter(webhook_id=hook.id)}
    assert states == {gone.cursor: WebhookDeliveryState.FAILED, later.cursor: WebhookDeliveryState.DELIVERED}


async def test_timeouts_and_connection_errors_are_retried(db: support.TestDatabase) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver(HANG) as endpoint:
        stuck = await add_webhook(world.owner, endpoint.url())
        await fan_out(record_of(world.own_request), now=clock())
        retry_at = await deliver_webhook(stuck.id, SETTINGS, clock=clock, post=local_post(time_limit=0.3))
    closed_port = endpoint.port  # the server is gone: connections are refused
    refused = await add_webhook(world.owner, f"http://127.0.0.1:{closed_port}/hook")
    await fan_out(record_of(world.own_request), now=clock())
    refused_retry = await deliver_webhook(refused.id, SETTINGS, clock=clock, post=local_post())

    assert retry_at == refused_retry == T0 + timedelta(seconds=30)
    [timed_out] = await attempts_of(stuck)
    assert timed_out.status_code is None and timed_out.error is not None and "Timed out" in timed_out.error
    failures = [a for a in await attempts_of(refused) if a.status_code is None]
    assert failures and failures[-1].error is not None and "Connection failed" in failures[-1].error


@pytest.mark.parametrize(
    "answer",
    [b"", b"HTTP/1.1 200 O", b"HTTP/1.1 200 OK\r\nContent-Le"],
    ids=["closed-without-answer", "cut-in-the-status-line", "cut-in-the-headers"],
)
async def test_a_receiver_that_closes_mid_answer_is_retried_not_taken_as_delivered(
    db: support.TestDatabase, answer: bytes
) -> None:
    world = await make_world()
    clock = Clock()
    bodies: list[bytes] = []

    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        bodies.append(await reader.readexactly(length))
        writer.write(answer)
        await writer.drain()
        writer.close()  # the whole request was read: the close is the receiver's own doing

    server = await asyncio.start_server(cut_short, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        hook = await add_webhook(world.owner, f"http://127.0.0.1:{port}/hook")
        await fan_out(record_of(world.own_request), now=clock())
        retry_at = await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post())
    finally:
        server.close()
    assert len(bodies) == 1 and retry_at == T0 + timedelta(seconds=SETTINGS.webhook_retry_seconds)
    delivery = await WebhookDelivery.get(webhook_id=hook.id)
    assert (delivery.state, delivery.last_status_code) == (WebhookDeliveryState.PENDING, None)
    [logged] = await attempts_of(hook)
    assert not logged.delivered and logged.error is not None and "Connection failed" in logged.error


async def test_events_to_one_endpoint_keep_their_order_and_other_endpoints_do_not_wait(
    db: support.TestDatabase,
) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver(503) as slow, receiver() as fast:
        slow_hook = await add_webhook(world.owner, slow.url())
        fast_hook = await add_webhook(world.owner, fast.url())
        first, second = record_of(world.own_request), record_of(world.own_request)
        for record in (first, second):
            assert sorted(await fan_out(record, now=clock())) == sorted([slow_hook.id, fast_hook.id])
        retry_at = await deliver_webhook(slow_hook.id, SETTINGS, clock=clock, post=local_post())
        await deliver_webhook(fast_hook.id, SETTINGS, clock=clock, post=local_post())
        assert [r.json["cursor"] for r in slow.requests] == [first.cursor]  # the second waits
        assert [r.json["cursor"] for r in fast.requests] == [first.cursor, second.cursor]
        assert retry_at is not None
        clock.to(retry_at)
        await deliver_webhook(slow_hook.id, SETTINGS, clock=clock, post=local_post())

    assert [r.json["cursor"] for r in slow.requests] == [first.cursor, first.cursor, second.cursor]


async def test_an_endpoint_failing_for_24_hours_is_deactivated_and_its_owner_told(
    db: support.TestDatabase,
) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver(default=502) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        head, behind = record_of(world.own_request), record_of(world.own_request)
        await fan_out(head, now=clock())
        await fan_out(behind, now=clock())
        due = await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post())
        while due is not None:
            clock.to(due)
            due = await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post())

    assert clock.now == T0 + RETRY_WINDOW
    assert len(endpoint.requests) == 13 and {r.json["cursor"] for r in endpoint.requests} == {head.cursor}
    stopped = await Webhook.get(id=hook.id)
    assert (stopped.active, stopped.deactivated_at, stopped.failing_since) == (False, clock.now, T0)
    deliveries = {d.event_cursor: d for d in await WebhookDelivery.filter(webhook_id=hook.id)}
    assert deliveries[head.cursor].state is WebhookDeliveryState.FAILED
    assert deliveries[head.cursor].last_status_code == 502
    assert (deliveries[behind.cursor].state, deliveries[behind.cursor].last_error) == (
        WebhookDeliveryState.FAILED,
        DEACTIVATED_ERROR,
    )
    [mail] = await Notification.filter(kind=NotificationKind.WEBHOOK_DEACTIVATED)
    assert mail.recipient == world.owner.email and hook.url in mail.body
    assert await fan_out(record_of(world.own_request), now=clock()) == []  # nothing more for it


async def test_a_deactivated_endpoint_alerts_the_hosting_team_mailed_logged_and_counted(
    db: support.TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """Failing webhooks are among the hosting team's alerts (UPDATEDESK_STAFF_ALERT_EMAIL), not
    only the owner's mail: the endpoint has failed since a day ago and now gets a final answer."""
    world = await make_world()
    clock = Clock()
    settings = allow_private_settings(staff_alert_email="oncall@hosting.example")
    before = STAFF_ALERTS.labels("webhook_deactivated")._value.get()
    async with receiver(410) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        await Webhook.filter(id=hook.id).update(failing_since=T0 - RETRY_WINDOW)
        await fan_out(record_of(world.own_request), now=clock())
        with caplog.at_level(logging.ERROR, logger="workers.webhooks"):
            assert await deliver_webhook(hook.id, settings, clock=clock, post=local_post()) is None

    assert len(endpoint.requests) == 1 and not (await Webhook.get(id=hook.id)).active
    [alert] = await Notification.filter(kind=NotificationKind.STAFF_ALERT)
    assert alert.recipient == "oncall@hosting.example"
    assert world.owner.email in alert.body and "410" in alert.body and "127.0.0.1" in alert.body
    assert "/hook" not in alert.body  # the host only: a path may carry the owner's token
    assert STAFF_ALERTS.labels("webhook_deactivated")._value.get() == before + 1
    assert any("staff alert (webhook_deactivated)" in r.getMessage() for r in caplog.records)
    [owner_mail] = await Notification.filter(kind=NotificationKind.WEBHOOK_DEACTIVATED)
    assert owner_mail.recipient == world.owner.email


async def test_an_endpoint_deleted_mid_attempt_gets_nothing_more_and_leaves_nothing_due(
    db: support.TestDatabase,
) -> None:
    """The owner deletes the endpoint while a worker's POST is out and two events wait behind it;
    a dispatcher that read the endpoints before the delete then fans out one more record."""
    world = await make_world()
    clock = Clock()
    async with receiver() as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        for _ in range(3):
            await fan_out(record_of(world.own_request), now=clock())
        claimed = await claim_next(hook.id, clock())
        assert isinstance(claimed, Claimed)
        outcome = await attempt(claimed, local_post())
        read_before = await Webhook.get(id=hook.id).select_related("owner")
        await delete_webhook(await actor_of(world.owner), hook.id)

        recorded = await record_outcome(claimed, outcome, clock(), SETTINGS.webhook_retry_seconds)
        assert recorded.verdict is Verdict.DELIVERED and not recorded.deactivated
        late = await fan_out(record_of(world.own_request), now=clock(), candidates=[read_before])
        clock.advance(hours=1)
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None
        assert await sweep_webhooks(StalledQueue(), clock()) == []

    assert late == [] and len(endpoint.requests) == 1
    assert not await WebhookDelivery.filter(webhook_id=hook.id).exists()
    assert not await WebhookAttempt.filter(webhook_id=hook.id).exists()


async def test_a_request_deleted_while_its_events_wait_at_a_failing_endpoint_is_reported_last(
    db: support.TestDatabase,
) -> None:
    """The COMPLETED move waits for its retry at an endpoint that is down; meanwhile the requester
    deletes the request. The move still goes first, with the status it recorded, then the delete's
    REMOVED (the request as deleted), each once: the owner still sees the district."""
    world = await make_world()
    await UpdateRequest.filter(id=world.own_request.id).update(status=UpdateStatus.COMPLETED)
    clock = Clock()
    stream = MemoryStream()
    async with receiver(503) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        completed = record_of(world.own_request, to_status=UpdateStatus.COMPLETED)
        await fan_out(replace(completed, from_status=UpdateStatus.IN_PROGRESS), now=clock())
        retry_at = await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post())
        assert retry_at is not None

        async def to_stream(event: UpdateRequestChanged) -> None:
            await stream.append(event)

        add_event_sink(to_stream)
        try:
            await delete_update_request(await actor_of(world.owner), world.own_request.id, clock())
        finally:
            remove_event_sink(to_stream)
        [removed] = await stream.read_after(STREAM_START, 10)
        assert await fan_out(webhook_record(removed), now=clock()) == [hook.id]
        clock.to(retry_at)
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None

    sent = [r.json for r in endpoint.requests]
    assert [(b["type"], b["toStatus"], b["updateRequest"]["status"]) for b in sent] == [
        ("STATUS_CHANGED", "COMPLETED", "COMPLETED"),
        ("STATUS_CHANGED", "COMPLETED", "COMPLETED"),
        ("REMOVED", "COMPLETED", "COMPLETED"),
    ]
    assert sent[0]["updateRequest"]["deletedAt"] is None and sent[2]["updateRequest"]["deletedAt"]
    uids = [r.headers["updatedesk-delivery"] for r in endpoint.requests]
    assert uids[0] == uids[1] != uids[2]


async def test_a_worker_stopped_mid_attempt_is_followed_by_an_attempt_with_the_same_delivery_id(
    db: support.TestDatabase,
) -> None:
    world = await make_world()
    clock = Clock()
    async with receiver() as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        await fan_out(record_of(world.own_request), now=clock())
        # A worker claims the attempt and POSTs, then stops before it records the outcome.
        claimed = await claim_next(hook.id, clock())
        assert isinstance(claimed, Claimed)
        await attempt(claimed, local_post())
        clock.advance(seconds=10)
        # Still in flight: nobody else attempts it before the claim lapses.
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None
        assert len(endpoint.requests) == 1
        recorder = StalledQueue()
        clock.to(T0 + CLAIM_LEASE + timedelta(seconds=30))
        assert await sweep_webhooks(recorder, clock()) == [hook.id]  # the lost job is found again
        assert await deliver_webhook(hook.id, SETTINGS, clock=clock, post=local_post()) is None

    first, second = endpoint.requests
    assert first.headers["updatedesk-delivery"] == second.headers["updatedesk-delivery"]
    logged = await attempts_of(hook)
    assert [(a.attempt, a.error, a.delivered) for a in logged] == [
        (1, LOST_ATTEMPT_ERROR, False),
        (2, None, True),
    ]
    assert await sweep_webhooks(recorder, clock()) == []


async def test_the_configured_time_limit_bounds_a_post_and_its_claim(db: support.TestDatabase) -> None:
    """UPDATEDESK_WEBHOOK_TIMEOUT_SECONDS: a POST that hangs is given up after it (no injected
    `post`: the deployment's own), and a claim whose worker stopped lapses after three times it."""
    world = await make_world()
    clock = Clock()
    settings = allow_private_settings(webhook_timeout_seconds=0.3)
    lease = claim_lease(settings.webhook_timeout_seconds)
    assert lease == timedelta(seconds=0.9)
    async with receiver(HANG, 200, 200) as endpoint:
        hook = await add_webhook(world.owner, endpoint.url())
        await fan_out(record_of(world.own_request), now=clock())
        began = time.monotonic()
        retry_at = await deliver_webhook(hook.id, settings, clock=clock)
        assert time.monotonic() - began < DELIVERY_TIMEOUT_SECONDS / 2  # not the default limit
        assert retry_at == T0 + timedelta(seconds=settings.webhook_retry_seconds)
        [timed_out] = await attempts_of(hook)
        assert timed_out.error is not None and "Timed out" in timed_out.error
        # The retry is claimed by a worker that stops before recording what came of it.
        clock.to(retry_at)
        claimed = await claim_next(hook.id, clock(), lease)
        assert isinstance(claimed, Claimed)
        await attempt(claimed, local_post())
        clock.advance(seconds=0.8)  # within the lease: nobody attempts it again
        assert await deliver_webhook(hook.id, settings, clock=clock) is None
        assert len(endpoint.requests) == 2
        # Lapsed: the lost attempt is a failed one, the next waits its backoff (after attempt 2).
        clock.to(retry_at + lease)
        backoff = retry_at + retry_delay(2, settings.webhook_retry_seconds)
        assert await deliver_webhook(hook.id, settings, clock=clock) == backoff
        assert len(endpoint.requests) == 2
        clock.to(backoff)
        assert await deliver_webhook(hook.id, settings, clock=clock) is None

    assert len({r.headers["updatedesk-delivery"] for r in endpoint.requests}) == 1
    logged = await attempts_of(hook)
    assert [(a.attempt, a.delivered) for a in logged] == [(1, False), (2, False), (3, True)]
    assert (logged[1].error, logged[1].at) == (LOST_ATTEMPT_ERROR, retry_at)  # when it was claimed


class StalledQueue:
    def __init__(self) -> None:
        self.webhooks: list[int] = []

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        self.webhooks.append(webhook_id)
