"""How an API process wires its live events (updatedesk/live.py): as `updatedesk serve` builds it
(the runtime owns the bus and attaches the hub first, then the app's bus part), the bus has one
hub reading it, and it is the hub that serves the app's subscriptions."""

from __future__ import annotations

import uuid

import pytest

from infra.settings import Settings
from tests.support import TestDatabase
from tests.support_live import REDIS_URL
from updatedesk.app import create_app, runtime_lifespan
from updatedesk.live import app_bus, app_hub


@pytest.mark.parametrize("redis", [False, True], ids=["embedded", "redis"])
async def test_a_process_app_has_one_hub_on_its_bus(db: TestDatabase, run_id: str, redis: bool) -> None:
    settings = Settings(
        database_url=db.url,
        redis_url=REDIS_URL if redis else None,
        redis_namespace=f"{run_id}-{uuid.uuid4().hex[:8]}",
    )
    # As `create_process_app` builds it, without the ORM part (the test's ORM is running).
    app = create_app(settings, manage_orm=False, extra_lifespans=[runtime_lifespan(settings)])
    async with app.router.lifespan_context(app):
        bus, hub = app_bus(app), app_hub(app)
        assert bus is not None and hub is not None
        assert hub.bus is bus
        assert bus.listener_count == 1  # a second hub would read every record again
