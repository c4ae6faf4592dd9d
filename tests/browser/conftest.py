"""Fixtures of the web page's browser tests: one `updatedesk dev` per database backend, and one
headless Chromium, each shared by the tests of a session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from tests.browser.chromium import chromium_available, launch_chromium
from tests.browser.web_server import WebServer, dev_server
from tests.support import selected_backends


def require_chromium() -> None:
    """Skip without Chromium, except in CI (CI set) where that is a failure."""
    if chromium_available():
        return
    reason = "Chromium not installed (run .ci/install-chromium.sh)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=selected_backends())
async def web(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WebServer]:
    async with dev_server(tmp_path_factory.mktemp("web"), request.param) as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with launch_chromium() as chromium:
        yield chromium
