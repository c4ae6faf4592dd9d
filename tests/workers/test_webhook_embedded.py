"""Webhooks in the embedded default: the process's own dispatcher turns a refresh's events into
signed POSTs to a real receiver on loopback, in the request's history order; stopping, it fans
out what is left, so those deliveries wait for the next start instead of being lost."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

from infra.bus import STREAM_START
from models.clock import utcnow
from models.enums import EnvironmentKind, EventType, Role, UpdateKind, UpdateStatus
from models.events import UpdateRequestChanged
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.requests.withdrawing import cancel_update_request
from models.tables import UpdateRequest, WebhookDelivery
from models.webhooks.signing import verify
from tests import support
from tests.factories import make_account, make_request
from tests.support_live import wait_until
from tests.support_webhooks import Receiver, add_webhook, receiver
from tests.workers.scenario import make_scene, request_and_schedule
from tests.workers.test_embedded import settings_for
from workers.runtime import embedded_runtime

WITHIN = 15.0
MOVES = {EventType.CREATED.value, EventType.STATUS_CHANGED.value}


async def until_completed(endpoint: Receiver, within: float = WITHIN) -> None:
    """Until the receiver got the COMPLETED move."""
    async with asyncio.timeout(within):
        while not any(r.json.get("toStatus") == UpdateStatus.COMPLETED.value for r in endpoint.requests):
            endpoint.arrived.clear()
            await endpoint.arrived.wait()


async def test_a_refresh_s_moves_reach_a_receiver_signed_and_in_order(db: support.TestDatabase) -> None:
    scene = await make_scene()
    partner = await make_account(Role.TECHNICAL_CONTACT, [scene.district])
    async with receiver() as endpoint:
        hook = await add_webhook(partner, endpoint.url(), scene.district)
        async with embedded_runtime(settings_for(db, webhook_allow_private=True)):
            request = await request_and_schedule(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)
            await until_completed(endpoint)
    for received in endpoint.requests:
        assert verify(hook.secret, received.headers["updatedesk-signature"], received.body, time.time())
        assert received.headers["updatedesk-event"] == received.json["type"]
    moves = [r.json for r in endpoint.requests if r.json["type"] in MOVES]
    assert {m["updateRequest"]["id"] for m in moves} == {moves[0]["updateRequest"]["id"]}
    assert [(m["fromStatus"], m["toStatus"]) for m in moves] == [
        (None, "TO_BE_SCHEDULED"),
        ("TO_BE_SCHEDULED", "SCHEDULED"),
        ("SCHEDULED", "NOT_STARTED"),
        ("NOT_STARTED", "IN_PROGRESS"),
        ("IN_PROGRESS", "COMPLETED"),
    ]
    # Each body shows the status of its own event, though the run moved on before it was fanned out.
    assert [m["updateRequest"]["status"] for m in moves] == [m["toStatus"] for m in moves]
    # Every event once: the delivery ids are distinct and each delivery was made once.
    uids = [r.headers["updatedesk-delivery"] for r in endpoint.requests]
    assert len(set(uids)) == len(uids) == await WebhookDelivery.filter(update_request_id=request.id).count()


async def test_stopping_fans_out_what_is_left_for_the_next_start(db: support.TestDatabase) -> None:
    scene = await make_scene()
    partner = await make_account(Role.TECHNICAL_CONTACT, [scene.district])
    hook = await add_webhook(partner, "https://93.184.215.14/hook", scene.district)
    requests = [await make_request(scene.district) for _ in range(3)]
    async with embedded_runtime(settings_for(db), run_scheduler=False) as runtime:
        dispatcher = runtime.webhook_dispatcher
        assert dispatcher is not None
        await asyncio.wait_for(dispatcher.reading.wait(), WITHIN)
        for request in requests:  # appended without giving the dispatcher a turn...
            await runtime.bus.stream.append(created(request))
        # ...and the process stops at once.
    deliveries = await WebhookDelivery.filter(webhook_id=hook.id).order_by("id")
    assert [d.update_request_id for d in deliveries] == [request.id for request in requests]


def created(request: UpdateRequest) -> UpdateRequestChanged:
    return UpdateRequestChanged(
        EventType.CREATED, request.id, request.district_id, UpdateStatus.TO_BE_SCHEDULED, datetime.now(UTC)
    )


async def test_a_move_the_dead_process_never_fanned_out_is_delivered_after_the_restart(
    db: support.TestDatabase,
) -> None:
    scene = await make_scene()
    partner = await make_account(Role.TECHNICAL_CONTACT, [scene.district])
    hook = await add_webhook(partner, "https://93.184.215.14/hook", scene.district)
    settings = settings_for(db)

    async def moves_delivered(request_id: int) -> list[str]:
        rows = WebhookDelivery.filter(webhook_id=hook.id, update_request_id=request_id).order_by("id")
        return [delivery.event_type.value for delivery in await rows]

    async with embedded_runtime(settings, run_scheduler=False) as runtime:
        dispatcher = runtime.webhook_dispatcher
        assert dispatcher is not None
        await asyncio.wait_for(dispatcher.reading.wait(), WITHIN)
        request = await request_update(
            scene.requester, district_id=scene.district.id, kind=UpdateKind.DATABASE_REFRESH,
            environment=EnvironmentKind.SANDBOX,
        )  # fmt: skip

        async def created_delivered() -> bool:
            return await moves_delivered(request.id) == ["CREATED"]

        await wait_until(created_delivered, "the CREATED to be fanned out")
        # The process dies (kill -9) right after two moves' commits and appends, before their
        # fan-out: no drain, nothing of its memory survives.
        dispatcher.drain_on_stop = False
        dispatcher.stop()
        await wait_until(lambda: not dispatcher.holding.is_set(), "the dispatcher to stop")
        start = datetime.now(UTC) + timedelta(hours=1)
        await schedule_update_request(scene.staff, request.id, start, override_maintenance_window=True)
        await cancel_update_request(scene.requester, request.id)
        assert await runtime.bus.stream.read_after(STREAM_START, 10) != []
    assert await moves_delivered(request.id) == ["CREATED"]

    async with embedded_runtime(settings, run_scheduler=False) as runtime:  # the restart
        assert runtime.scheduler is not None and runtime.scheduler.reannouncer is not None
        # The scheduler's healing of lost records (a sweep well after the settling time) included.
        await runtime.scheduler.reannouncer.sweep(now=utcnow() + timedelta(minutes=1))

        async def cancel_delivered() -> bool:
            return len(await moves_delivered(request.id)) > 2

        await wait_until(cancel_delivered, "the lost moves to be delivered")
    deliveries = await WebhookDelivery.filter(webhook_id=hook.id, update_request_id=request.id).order_by("id")
    moves = [(body["fromStatus"], body["toStatus"]) for body in (json.loads(d.body) for d in deliveries)]
    # In order; the CREATED, fanned out seconds before the death (README: within 5 s), may come twice.
    assert list(dict.fromkeys(moves)) == [
        (None, "TO_BE_SCHEDULED"), ("TO_BE_SCHEDULED", "SCHEDULED"), ("SCHEDULED", "CANCELLED"),
    ]  # fmt: skip
    assert moves[-2:] == [("TO_BE_SCHEDULED", "SCHEDULED"), ("SCHEDULED", "CANCELLED")]
    # That start stopped cleanly: the next one sends nothing again.
    async with embedded_runtime(settings, run_scheduler=False) as runtime:
        assert await runtime.bus.stream.read_after(STREAM_START, 10) == []
    assert len(await moves_delivered(request.id)) == len(moves)
