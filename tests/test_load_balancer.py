"""deploy/Caddyfile run by a real Caddy in front of the real API (uvicorn, on this test's loop):
GraphQL over HTTP and over WebSocket, the probes and the GraphiQL assets pass through; the rest
ends at the balancer. Compose runs the same file with its defaults (upstream `api:8000`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from models.enums import EnvironmentKind
from tests.schema.test_subscriptions import live_settings, make_scene, refresh
from tests.support_graphql import gid
from tests.support_live import WITHIN, LiveServer, free_port, live_server, wait_until, ws_client

ROOT = Path(__file__).resolve().parent.parent
CADDYFILE = ROOT / "deploy" / "Caddyfile"
STATIC = ROOT / "updatedesk" / "graphiql" / "static"
WEB_STATIC = ROOT / "updatedesk" / "web" / "static"

pytestmark = pytest.mark.skipif(
    shutil.which("caddy") is None,
    reason="caddy is not installed (`make test` installs Debian's caddy via .ci/install-caddy.sh; "
    "elsewhere install Caddy 2); tests/test_compose.py still reads the Caddyfile",
)


@contextmanager
def caddy(api_port: int, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Caddy with deploy/Caddyfile, its upstream this test's API; (public port, health port)."""
    port, health_port = free_port(), free_port()
    env = {
        **os.environ,
        "LB_PORT": str(port),
        "LB_BIND": "127.0.0.1",
        "LB_HEALTH_PORT": str(health_port),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(api_port),
        "HOME": str(tmp_path),  # Caddy keeps its state under $HOME; not the user's
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    log = (tmp_path / "caddy.log").open("wb")
    process = subprocess.Popen(
        ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield port, health_port
    finally:
        process.terminate()
        try:
            process.wait(WITHIN)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@asynccontextmanager
async def balanced(db, run_id: str, tmp_path: Path) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient]]:
    async with live_server(live_settings(db, run_id)) as server:
        with caddy(server.port, tmp_path) as (port, health_port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WITHIN) as http:

                async def up() -> bool:
                    try:
                        async with httpx.AsyncClient(timeout=1) as probe:
                            return (await probe.get(f"http://127.0.0.1:{health_port}/")).text == "ok"
                    except httpx.TransportError:
                        return False

                await wait_until(up, "caddy to answer on its health port")
                yield LiveServer(server.app, port), http


async def test_http_routes_pass_through_and_the_rest_stays_at_the_balancer(db, run_id, tmp_path):
    scene = await make_scene()
    async with balanced(db, run_id, tmp_path) as (_, http):
        assert (await http.get("/healthz")).text == "ok"
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.text) == (200, "ready")

        page = await http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        asset = await http.get("/graphiql-static/graphiql.min.css")
        assert asset.status_code == 200
        assert asset.content == (STATIC / "graphiql.min.css").read_bytes()
        # The Manage Updates page and its modules (GraphiQL loads graphql-ws from there too).
        assert (await http.get("/")).status_code == 200
        module = await http.get("/web/vendor/graphql-ws/client.js")
        assert module.status_code == 200
        assert module.content == (WEB_STATIC / "vendor" / "graphql-ws" / "client.js").read_bytes()
        unknown_feed = await http.get("/calendar/not-a-secret.ics")
        # The app's own 404 (it stamps every answer with a request id), not the balancer's.
        assert unknown_feed.status_code == 404 and "x-request-id" in unknown_feed.headers

        answer = await http.post(
            "/graphql",
            json={"query": "{ districts { name } }"},
            headers={"Authorization": f"Bearer {scene.tokens['staff']}"},
        )
        assert answer.status_code == 200
        names = {d["name"] for d in answer.json()["data"]["districts"]}
        assert names == {"Lakeside Public Schools", "Riverside Unified"}

        metrics = await http.get("/metrics")  # per replica: scraped inside the network, not here
        assert (metrics.status_code, metrics.text) == (404, "Not Found")
        assert "x-request-id" not in metrics.headers  # answered by Caddy itself


async def test_websocket_subscription_through_the_balancer(db, run_id, tmp_path):
    scene = await make_scene()
    async with (
        balanced(db, run_id, tmp_path) as (through_caddy, _),
        ws_client(through_caddy, scene.tokens["lakeside"]) as client,
    ):
        await client.subscribe("mine", {"districtId": gid(scene.lakeside)})
        await client.ping_pong()  # answered once the subscription listens (the hub joined it first)
        request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
        event = await client.event("mine")
        assert event["type"] == "CREATED"
        assert event["updateRequest"]["id"] == gid(request)
        await asyncio.wait_for(client.connection.close(), WITHIN)
