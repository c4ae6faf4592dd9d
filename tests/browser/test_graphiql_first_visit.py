"""GraphiQL as a partner first meets it, in headless Chromium against the real app (uvicorn on this
test's loop, the live bus on Redis): it opens on a working example and the Headers tab, sends
nothing until a token is there (so no UNAUTHENTICATED error), loads the schema once one is pasted;
a `?query=` link opens filled in (while the same address answers JSON to `fetch`); subscriptions
run over the WebSocket. All under the page's Content-Security-Policy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Browser, Page, Request

from models.enums import EnvironmentKind
from tests.browser.chromium import offline_page
from tests.browser.conftest import require_chromium
from tests.browser.test_graphiql_offline import CSP_WATCH
from tests.schema.test_subscriptions import Scene, live_settings, make_scene, refresh
from tests.support_graphql import gid
from tests.support_live import LiveServer, live_server, wait_until
from updatedesk.graphiql.page import HEADERS_STORAGE_KEY

pytestmark = pytest.mark.browser

EMAIL = "tc@lakeside.example"
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = "section.result-window"
LINKED_QUERY = "query One($d: ID!) { district(id: $d) { name } }"
WATCH = "subscription Watch($d: ID!) { updateRequestEvents(districtId: $d) { type updateRequest { id } } }"


async def editor_text(page: Page, selector: str) -> str:
    """The whole text of a CodeMirror editor (the DOM shows only its visible lines)."""
    text: str = await page.locator(selector).evaluate("element => element.CodeMirror.getValue()")
    return text


@asynccontextmanager
async def graphiql(
    browser: Browser, server: LiveServer, path: str, token: str | None = None
) -> AsyncIterator[tuple[Page, list[Request]]]:
    """GraphiQL at `path`, offline; with `token`, as a browser that saved it on an earlier visit.
    Yields the page and the POSTs it sends to /graphql."""
    page = await offline_page(browser)
    page.set_default_timeout(15_000)
    await page.add_init_script(CSP_WATCH)
    if token is not None:
        headers = json.dumps({"Authorization": f"Bearer {token}"})
        await page.add_init_script(
            f"localStorage.setItem({json.dumps(HEADERS_STORAGE_KEY)}, {json.dumps(headers)});"
        )
    posts: list[Request] = []
    page.on(
        "request", lambda r: posts.append(r) if r.method == "POST" and r.url.endswith("/graphql") else None
    )
    await page.set_viewport_size({"width": 1400, "height": 900})
    await page.goto(f"{server.http_url}{path}")
    await page.locator(QUERY_EDITOR).wait_for()
    try:
        yield page, posts
        assert page.blocked_requests == [], page.blocked_requests
        assert await page.evaluate("window.__cspViolations") == []
    finally:
        await page.context.close()


async def test_first_visit_opens_on_a_working_example_and_asks_nothing_without_a_token(
    browser: Browser, db: Any, run_id: str
) -> None:
    require_chromium()
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    async with (
        live_server(live_settings(db, run_id)) as server,
        graphiql(browser, server, "/graphql") as (
            page,
            posts,
        ),
    ):
        document = await editor_text(page, QUERY_EDITOR)
        assert "In the Headers tab below" in document and "query Overview" in document
        headers = page.locator(HEADERS_EDITOR)
        assert "<paste your token here>" in await headers.inner_text()
        # An empty result pane (CodeMirror's zero-width space), no UNAUTHENTICATED error waiting.
        assert (await page.locator(RESULT).inner_text()).strip("\u200b\n ") == ""

        # Typing the token loads the schema (no refresh needed): the first POST the page ever
        # sends is that introspection, and it carries the token.
        await headers.click()
        await page.keyboard.press("Control+A")
        await page.keyboard.insert_text(json.dumps({"Authorization": f"Bearer {token}"}))
        await wait_until(lambda: bool(posts), "the schema to be asked for")
        assert all(p.headers.get("authorization") == f"Bearer {token}" for p in posts)
        assert "IntrospectionQuery" in (posts[0].post_data or "")
        await page.get_by_role("button", name="Show Documentation Explorer").click()
        await page.locator(".graphiql-doc-explorer").get_by_text("Query", exact=True).first.wait_for()

        # The example runs as it is.
        await page.locator("button.graphiql-execute-button").click()
        result = page.locator(RESULT)
        await result.get_by_text(EMAIL).wait_for()
        shown = await result.inner_text()
        assert "Lakeside Public Schools" in shown and '"errors"' not in shown


async def test_a_query_link_opens_filled_in_and_answers_json_to_fetch(
    browser: Browser, db: Any, run_id: str
) -> None:
    require_chromium()
    scene = await make_scene()
    token = scene.tokens["lakeside"]
    variables = {"d": gid(scene.lakeside)}
    link = "/graphql?" + urlencode(
        {"query": LINKED_QUERY, "variables": json.dumps(variables), "operationName": "One"}
    )
    async with (
        live_server(live_settings(db, run_id)) as server,
        graphiql(browser, server, link, token) as (
            page,
            _,
        ),
    ):
        assert await editor_text(page, QUERY_EDITOR) == LINKED_QUERY
        await page.get_by_role("button", name="Variables").click()
        shown_variables = await editor_text(
            page, ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
        )
        assert json.loads(shown_variables) == variables and "\n" in shown_variables  # pretty

        await page.locator("button.graphiql-execute-button").click()
        await page.locator(RESULT).get_by_text("Lakeside Public Schools").wait_for()

        # The same address, asked by script: JSON (an explicit Accept, or fetch's default */*).
        for accept in ("application/json", None):
            answer = await page.evaluate(
                """async ([url, token, accept]) => {
                     const headers = {Authorization: "Bearer " + token};
                     if (accept) headers.Accept = accept;
                     const response = await fetch(url, {headers});
                     return [response.headers.get("content-type"), await response.json()];
                   }""",
                [link, token, accept],
            )
            assert answer[0].startswith("application/json")
            assert answer[1] == {"data": {"district": {"name": "Lakeside Public Schools"}}}

        # Edits go back into the address, so a reload or a shared link keeps them.
        await page.locator(QUERY_EDITOR).click()
        await page.keyboard.press("Control+End")
        await page.keyboard.insert_text(" # edited")
        await page.wait_for_function("() => location.search.includes('edited')")


async def subscriptions_open(server: LiveServer) -> int:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("updatedesk_open_subscriptions "):
            return int(float(line.split()[1]))
    raise AssertionError("no updatedesk_open_subscriptions gauge")


async def watch_in_graphiql(page: Page, server: LiveServer, scene: Scene) -> None:
    await page.locator("button.graphiql-execute-button").click()

    async def subscribed() -> bool:
        return await subscriptions_open(server) == 1

    await wait_until(subscribed, "GraphiQL's subscription to reach the server")
    request = await refresh(scene, scene.lakeside, EnvironmentKind.SANDBOX)
    result = page.locator(RESULT)
    await result.get_by_text('"CREATED"').wait_for()
    assert gid(request) in await result.inner_text()


async def test_subscriptions_run_over_the_websocket(browser: Browser, db: Any, run_id: str) -> None:
    require_chromium()
    scene = await make_scene()
    link = "/graphql?" + urlencode({"query": WATCH, "variables": json.dumps({"d": gid(scene.lakeside)})})
    async with (
        live_server(live_settings(db, run_id)) as server,
        graphiql(browser, server, link, scene.tokens["lakeside"]) as (page, posts),
    ):
        await watch_in_graphiql(page, server, scene)
        sent_over_http = [json.loads(p.post_data or "{}").get("operationName") for p in posts]
        assert "Watch" not in sent_over_http  # the subscription went over the WebSocket
        await page.locator("button.graphiql-execute-button").click()  # Stop

        async def closed() -> bool:
            return await subscriptions_open(server) == 0

        await wait_until(closed, "Stop to end the subscription")
