"""Who may read /metrics (a bearer token, a port of its own), and the GraphiQL page's security
headers with nothing inline that runs."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from infra.settings import Settings
from tests.support import TestDatabase
from tests.support_graphql import GRAPHQL
from tests.support_live import free_port, wait_until
from updatedesk.app import GRAPHIQL_STATIC_PREFIX, create_app
from updatedesk.graphiql import graphiql_html
from updatedesk.live import server_config
from updatedesk.metrics_access import listening_sockets

GRAPHQL_WS = Subprotocol("graphql-transport-ws")


async def test_metrics_behind_a_bearer_token(db: TestDatabase) -> None:
    app = create_app(Settings(database_url=db.url, metrics_token="s3cret-metrics"), manage_orm=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200 and "updatedesk_update_requests" in right.text


async def test_metrics_on_a_port_of_their_own(db: TestDatabase) -> None:
    metrics_port = free_port()
    settings = Settings(database_url=db.url, metrics_port=metrics_port)
    config = server_config(create_app(settings, manage_orm=False), port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=listening_sockets(config, settings)))
    try:
        await wait_until(lambda: server.started or task.done(), "uvicorn to start")
        api, metrics = f"http://127.0.0.1:{config.port}", f"http://127.0.0.1:{metrics_port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{api}/metrics")).status_code == 404
            assert (await http.get(f"{api}/healthz")).text == "ok"
            scraped = await http.get(f"{metrics}/metrics")
            assert scraped.status_code == 200 and "updatedesk_update_requests" in scraped.text
            # The metrics port answers nothing else.
            assert (await http.get(f"{metrics}/healthz")).status_code == 404
            assert (
                await http.post(f"{metrics}{GRAPHQL}", json={"query": "{ __typename }"})
            ).status_code == 404
        # Nor GraphQL over a WebSocket, which the API port takes.
        ws_metrics, ws_api = (
            f"ws://127.0.0.1:{metrics_port}{GRAPHQL}",
            f"ws://127.0.0.1:{config.port}{GRAPHQL}",
        )
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_metrics, subprotocols=[GRAPHQL_WS]):
                pass
        assert refused.value.response.status_code == 403
        async with connect(ws_api, subprotocols=[GRAPHQL_WS]) as socket:
            assert socket.subprotocol == GRAPHQL_WS
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def test_graphiql_sends_its_security_headers_and_runs_nothing_inline(db: TestDatabase) -> None:
    app = create_app(Settings(database_url=db.url), manage_orm=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        page = await http.get(GRAPHQL, headers={"Accept": "text/html"})
        script = await http.get(f"{GRAPHIQL_STATIC_PREFIX}/graphiql-init.js")
        style = await http.get(f"{GRAPHIQL_STATIC_PREFIX}/graphiql-page.css")
    policy = page.headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    # Every script is a file of ours, or data that is never run.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all(
        ('src="' in attributes and not body) or 'type="application/json"' in attributes
        for attributes, body in scripts
    )
    assert "<style" not in page.text and " style=" not in page.text
    assert script.status_code == 200 and "graphiql-config" in script.text
    assert style.status_code == 200


def test_the_page_settings_cannot_close_their_script_element() -> None:
    page = graphiql_html(endpoint="/graphql</script><script>alert(1)</script>")
    [config] = re.findall(r'<script type="application/json" id="graphiql-config">(.*?)</script>', page, re.S)
    assert json.loads(config)["endpoint"] == "/graphql</script><script>alert(1)</script>"
    assert "<script>alert(1)" not in page
