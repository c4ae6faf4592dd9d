"""GraphQL over HTTP media types, and slow or vanishing clients on a real server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
import uvicorn

from infra.settings import Settings
from models.enums import Role
from tests.factories import make_account, make_token
from tests.support import TestDatabase
from tests.support_graphql import GRAPHQL, api_client
from tests.support_live import live_server, wait_until
from updatedesk.app import create_app
from updatedesk.media_types import GRAPHQL_RESPONSE_JSON, JSON, graphql_response_status, negotiate
from updatedesk.slow_clients import BODY_TIMEOUT_MESSAGE, h11_protocol


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE_JSON),
        ("application/json;q=0.9, application/graphql-response+json;q=0.5", JSON),
        ("application/graphql-response+json;charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("Application/GraphQL-Response+JSON", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0, application/json", JSON),
        ("application/json;q=oops, application/graphql-response+json;q=0.1", GRAPHQL_RESPONSE_JSON),
        ("text/html", JSON),
    ],
)
def test_negotiation(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"data": {"a": 1}}, 200),
        ({"data": {"a": None}, "errors": [{"message": "x", "path": ["a"]}]}, 200),
        ({"data": None, "errors": [{"message": "x", "path": ["a"]}]}, 200),
        ({"data": None, "errors": [{"message": "Syntax Error: Unexpected Name"}]}, 400),
        ({"data": None, "errors": [{"message": "Sign in", "extensions": {"code": "UNAUTHENTICATED"}}]}, 401),
        ({"data": None, "errors": [{"message": "spent", "extensions": {"code": "RATE_LIMITED"}}]}, 429),
        ({"data": None, "errors": [{"message": "Unexpected error."}]}, 500),
    ],
    ids=["data", "field-error", "null-root", "parse", "unauthenticated", "rate-limited", "internal"],
)
def test_graphql_response_status(body: dict[str, Any], status: int) -> None:
    assert graphql_response_status(body) == status


#: 9 x (1 + 100 + 100 + 100 x 10): over the default cost limit of 10,000.
_COSTLY_FIELD = "updateRequests(first: 100) { edges { node { history { at } } } }"
COSTLY = "{ " + " ".join(f"a{i}: {_COSTLY_FIELD}" for i in range(9)) + " }"


@pytest.fixture
async def token(db: TestDatabase) -> str:
    return await make_token(await make_account(Role.HOSTING_STAFF))


async def post(
    client: Any, query: Any, token: str | None, accept: str | None, **extra: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if accept is not None:
        headers["Accept"] = accept
    response: httpx.Response = await client.http.post(
        GRAPHQL, json={"query": query, **extra}, headers=headers
    )
    return response


async def test_graphql_response_json_answers_request_errors_with_4xx_and_no_data(token: str) -> None:
    cases = {
        "parse": ("{ viewer ", None, 400),
        "validation": ("{ viewer { nope } }", None, 400),
        "variables": ("query($n: Int!) { updateRequests(first: $n) { totalCount } }", {"n": "ten"}, 400),
        "cost": (COSTLY, None, 400),
        "executed with a field error": (
            '{ node(id: "x") { id } updateRequests(after: "x") { totalCount } }',
            None,
            200,
        ),
        "fine": ("{ viewer { account { email } } }", None, 200),
    }
    async with api_client() as client:
        for name, (query, variables, status) in cases.items():
            response = await post(client, query, token, GRAPHQL_RESPONSE_JSON, variables=variables)
            assert response.status_code == status, (name, response.text)
            assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
            body = response.json()
            assert ("data" in body) is (status == 200), (name, body)
        anonymous = await post(client, "{ viewer { account { email } } }", None, GRAPHQL_RESPONSE_JSON)
        assert anonymous.status_code == 401 and "data" not in anonymous.json()


async def test_application_json_is_unchanged(token: str) -> None:
    async with api_client() as client:
        for accept in (None, JSON, "*/*"):
            response = await post(client, "{ viewer { nope } }", token, accept)
            assert response.status_code == 200 and response.headers["content-type"] == JSON
            assert response.json()["data"] is None and response.json()["errors"]


async def test_answers_are_never_stored_by_a_cache(token: str) -> None:
    """An answer is the caller's own (what its token may see): a shared cache between the client
    and the service (a proxy, a CDN) must not keep one and hand it to the next caller of the same
    GET URL, nor a browser keep it on disk."""
    query = "{ viewer { account { email } } }"
    headers = {"Authorization": f"Bearer {token}"}
    async with api_client() as client:
        answers = {
            "GET": await client.http.get(GRAPHQL, params={"query": query}, headers=headers),
            "POST": await client.http.post(GRAPHQL, json={"query": query}, headers=headers),
            "POST, graphql-response+json": await post(client, query, token, GRAPHQL_RESPONSE_JSON),
            "unauthenticated": await post(client, query, None, GRAPHQL_RESPONSE_JSON),
        }
    for name, response in answers.items():
        assert response.headers.get("cache-control") == "no-store", (name, response.headers)
    assert answers["GET"].status_code == 200 and answers["GET"].json()["data"]["viewer"]


def raw_request(path: str, body_length: int, body: bytes = b"", *, headers_done: bool = True) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body_length}\r\n"
    )
    return head.encode() + (b"\r\n" + body if headers_done else b"")


async def test_slow_headers_and_slow_bodies_are_cut_off(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    limits = Settings(database_url=db.url, http_header_timeout_seconds=0.3, http_body_timeout_seconds=0.3)
    async with live_server(limits) as server:
        # Headers that never end: the connection is closed, nothing is answered.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw_request(GRAPHQL, 10, headers_done=False))
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # A body that stops coming: 408, and the connection closes.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw_request(GRAPHQL, 100, b'{"query"'))
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 ") and BODY_TIMEOUT_MESSAGE.encode() in answer
        assert b"connection: close" in answer.lower()
        # A client that does not dawdle is served as always.
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            assert (await http.get("/healthz")).text == "ok"


async def test_a_client_gone_mid_body_is_an_info_line(
    db: TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    async with live_server(Settings(database_url=db.url)) as server:
        with caplog.at_level(logging.INFO):
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(raw_request(GRAPHQL, 1000, b'{"query": "{ viewer'))
            await writer.drain()
            writer.close()
            await writer.wait_closed()

            def logged() -> bool:
                return any(
                    "disconnected before sending the whole request body" in r.getMessage()
                    for r in caplog.records
                )

            await wait_until(logged, "the aborted body to be logged")
    [line] = [r for r in caplog.records if "disconnected before" in r.getMessage()]
    assert line.levelno == logging.INFO and line.exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_the_h11_fallback_has_the_header_deadline_too(db: TestDatabase) -> None:
    """Without httptools uvicorn speaks HTTP through h11: the same deadline, then the same service."""
    app = create_app(Settings(database_url=db.url), manage_orm=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", http=h11_protocol(0.3))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), "uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw_request(GRAPHQL, 10, headers_done=False))
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            first, second = (
                await http.get("/healthz"),
                await http.get("/healthz"),
            )  # one kept-alive connection
        assert first.text == second.text == "ok"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
