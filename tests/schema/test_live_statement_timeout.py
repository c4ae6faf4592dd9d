"""A live event whose rendering reads the database (a document graphql-core renders: the
request's district is read for its name) while that read is cut off by the statement timeout:
the subscriber is told (`UNAVAILABLE` for that event) rather than left with a silent gap, and
its subscription goes on. PostgreSQL only (SQLite has no statement timeout)."""

from __future__ import annotations

from models.enums import EnvironmentKind
from resolvers.live import dispatch
from tests.infra.test_statement_timeout import raw_connection, service_connection
from tests.schema.test_statement_timeout_api import SLOW_DATABASE
from tests.schema.test_subscriptions import listening, live_settings, make_scene, preview_update, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import held, live_server, ws_client

#: Not plain (the district's name is read through its loader): graphql-core renders it.
WITH_DISTRICT = """
subscription WithDistrict($districtId: ID) {
  updateRequestEvents(districtId: $districtId) { type updateRequest { id kind district { name } } }
}
"""


async def test_an_event_whose_render_is_cut_off_reaches_the_subscriber_as_unavailable(
    postgres_db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    url = postgres_db.url
    # The token is checked at the subscribe, then at most once a second: the render reads.
    settings = live_settings(postgres_db, run_id, redis_url=None, ws_auth_recheck_seconds=1)
    async with (
        raw_connection(url) as holder,
        service_connection(url),
        live_server(settings) as server,
        ws_client(server, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("d", {"districtId": gid(scene.lakeside)}, WITH_DISTRICT)
        await listening(server, 1)
        # The event is made with the district free; its delivery waits (before it reads the
        # request's row) until the district is locked past the timeout.
        with held(dispatch, "rows_of") as delivery:
            await preview_update(scene, scene.lakeside)
            await delivery.waiting.wait()
            async with holder.transaction():
                await holder.execute("LOCK TABLE district IN ACCESS EXCLUSIVE MODE")
                delivery.gate.set()
                message = await client.receive_for("d")
        assert message["type"] == "next", message
        [error] = message["payload"]["errors"]
        assert (error["message"], error["extensions"]) == (SLOW_DATABASE, {"code": "UNAVAILABLE"})
        assert "Traceback" not in str(message)
        # The lock is gone: the subscription goes on, and the next event renders in full.
        second = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        event = await client.event("d")
        assert event["updateRequest"] == {
            "id": gid(second),
            "kind": "DATABASE_REFRESH",
            "district": {"name": scene.lakeside.name},
        }
