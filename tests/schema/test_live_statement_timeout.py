"""A live event whose rendering reads the database (a document graphql-core renders: the
request's district is read for its name) while that read is cut off by the statement timeout:
the event cannot be shown, and going on after it would leave a silent gap (its status move
missing from every screen). The subscriber's socket closes with 1013, as when the rows of the
batch could not be read, and resuming from its last cursor once the database answers again
brings that event in full. PostgreSQL only (SQLite has no statement timeout)."""

from __future__ import annotations

from models.enums import EnvironmentKind
from resolvers.live import dispatch
from tests.infra.test_statement_timeout import raw_connection, service_connection
from tests.schema.test_subscriptions import listening, live_settings, make_scene, preview_update, refresh
from tests.support import TestDatabase
from tests.support_graphql import gid
from tests.support_live import held, live_server, ws_client

#: Not plain (the district's name is read through its loader): graphql-core renders it.
WITH_DISTRICT = """
subscription WithDistrict($districtId: ID, $after: String) {
  updateRequestEvents(districtId: $districtId, after: $after) {
    type cursor updateRequest { id kind district { name } }
  }
}
"""


async def test_an_event_whose_render_is_cut_off_is_resumed_not_skipped(
    postgres_db: TestDatabase, run_id: str
) -> None:
    scene = await make_scene()
    url = postgres_db.url
    district = {"districtId": gid(scene.lakeside)}
    # The token is checked at the subscribe, then at most once a second: the render reads.
    settings = live_settings(postgres_db, run_id, redis_url=None, ws_auth_recheck_seconds=1)
    async with raw_connection(url) as holder, service_connection(url), live_server(settings) as server:
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", district, WITH_DISTRICT)
            await listening(server, 1)
            first = await preview_update(scene, scene.lakeside)
            shown = await client.event("d")
            assert shown["updateRequest"]["id"] == gid(first)
            # The next event is made with the district free; its delivery waits (before it reads
            # the request's row) until the district is locked past the timeout.
            with held(dispatch, "rows_of") as delivery:
                second = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
                await delivery.waiting.wait()
                async with holder.transaction():
                    await holder.execute("LOCK TABLE district IN ACCESS EXCLUSIVE MODE")
                    delivery.gate.set()
                    code, _ = await client.closed()
            assert code == 1013
            # Nothing stood in for the event: no error in its place, no later event before it.
            assert [m for m in client.unread() if m.get("type") == "next"] == []
        # The lock is gone: resuming from the last cursor brings the event, in full.
        async with ws_client(server, scene.tokens["lakeside"]) as client:
            await client.subscribe("d", {**district, "after": shown["cursor"]}, WITH_DISTRICT)
            event = await client.event("d")
            assert (event["type"], event["updateRequest"]) == (
                "CREATED",
                {"id": gid(second), "kind": "DATABASE_REFRESH", "district": {"name": scene.lakeside.name}},
            )
