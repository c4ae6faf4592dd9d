"""GraphiQL served by the real app works with the network off.

The real API app (`create_app(Settings(), manage_orm=False)`, sharing the test database's ORM on this event
loop) runs on uvicorn at 127.0.0.1 on a free port. Headless Chromium, with every non-loopback
request aborted, loads GET /graphql, pastes a real token into the headers editor, runs
`{ viewer { account { email } } }` and must see the account's email in the result pane, all under
the page's Content-Security-Policy (no violation reported).
Set GRAPHIQL_SCREENSHOT=/some/file.png to keep a copy of the screenshot.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import expect
from starlette.applications import Starlette

from infra.settings import Settings
from models.enums import Role
from tests.browser.chromium import chromium_available, launch_chromium, offline_page
from tests.factories import make_account, make_district, make_token
from updatedesk.app import create_app
from updatedesk.graphiql.page import HEADERS_STORAGE_KEY

pytestmark = pytest.mark.browser

EMAIL = "tc@lakeside.example"
#: Collects the page's Content-Security-Policy violations (init scripts run outside the policy).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run ``app`` on uvicorn at 127.0.0.1 (free port); yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # re-raise the startup error
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


def require_chromium() -> None:
    """Skip without Chromium, except in CI (CI set) where that is a failure."""
    if chromium_available():
        return
    reason = "Chromium not installed (run .ci/install-chromium.sh)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


async def test_graphiql_runs_query_offline(db, tmp_path: Path) -> None:
    require_chromium()
    district = await make_district("Lakeside Public Schools")
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district], email=EMAIL))
    async with serve(create_app(Settings(), manage_orm=False)) as base_url, launch_chromium() as browser:
        page = await offline_page(browser)
        page.set_default_timeout(15_000)
        # The page runs under its Content-Security-Policy: anything it blocks is a defect.
        await page.add_init_script(CSP_WATCH)
        console_errors: list[str] = []
        page.on(
            "console",
            lambda message: console_errors.append(message.text) if message.type == "error" else None,
        )
        await page.set_viewport_size({"width": 1400, "height": 900})
        await page.goto(f"{base_url}/graphql")
        assert await page.title() == "Updatedesk GraphQL"

        # The headers editor is open and pre-filled with the token template.
        headers_editor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")
        await headers_editor.wait_for(state="visible")
        assert "paste your token here" in await headers_editor.inner_text()

        # insert_text() avoids CodeMirror's auto-closing of brackets and quotes.
        await headers_editor.click()
        await page.keyboard.press("Control+A")
        await page.keyboard.insert_text(f'{{"Authorization": "Bearer {token}"}}')

        query_editor = page.locator(".graphiql-query-editor .CodeMirror")
        await query_editor.click()
        await page.keyboard.press("Control+A")
        await page.keyboard.insert_text("{ viewer { account { email } } }")
        # GraphiQL reads the operations of a changed document after a short debounce; a person
        # never presses Run before it, a script can: wait until the prefilled "Overview" is gone.
        editor = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
        await page.wait_for_function(f"() => {editor}.operationName === null")

        await page.locator("button.graphiql-execute-button").click()
        result = page.locator("section.result-window")
        await result.get_by_text(EMAIL).wait_for()
        assert "errors" not in await result.inner_text()

        shot = tmp_path / "graphiql.png"
        await page.screenshot(path=str(shot))
        if target := os.environ.get("GRAPHIQL_SCREENSHOT"):
            shutil.copyfile(shot, target)

        # The token is kept in localStorage: it survives reloads (GraphiQL's own
        # persistence alone loses it on the second one, graphql/graphiql#3369).
        await page.wait_for_function(
            "([key, token]) => (localStorage.getItem(key) || '').includes(token)",
            arg=[HEADERS_STORAGE_KEY, token],
        )
        for _ in range(2):
            await page.reload()
            await headers_editor.wait_for(state="visible")
            await expect(headers_editor).to_contain_text(token)

        assert page.blocked_requests == [], f"page tried to leave the machine: {page.blocked_requests}"
        assert await page.evaluate("window.__cspViolations") == []
        assert [text for text in console_errors if "Content Security Policy" in text] == []
        await page.context.close()
