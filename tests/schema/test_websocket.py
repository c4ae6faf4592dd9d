"""WebSocket /graphql speaks only graphql-transport-ws and wants a token in connection_init."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from infra.settings import Settings
from updatedesk.app import create_app

# Starlette's TestClient nags about httpx; it is the only in-process WebSocket client at hand.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")


def test_connection_without_token_is_closed_4403() -> None:
    # No database is touched: a missing token is refused before any lookup.
    with (
        TestClient(create_app(Settings(), manage_orm=False)) as client,
        client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket,
    ):
        socket.send_json({"type": "connection_init", "payload": {}})
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
    assert closed.value.code == 4403


def test_legacy_graphql_ws_protocol_is_not_offered() -> None:
    with (
        TestClient(create_app(Settings(), manage_orm=False)) as client,
        client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as socket,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        socket.receive_json()
    assert closed.value.code == 4406
