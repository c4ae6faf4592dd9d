"""The Manage Updates page's routes in `updatedesk serve`: the shell at `/` with its
Content-Security-Policy, the static modules, the vendored files as VERSIONS.txt lists them, and
no demo accounts unless `updatedesk dev` enabled them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from infra.settings import Settings
from updatedesk.app import create_app
from updatedesk.demo import DemoLogin
from updatedesk.web import STATIC_DIR, enable_demo_sign_in
from updatedesk.web.routes import DEMO_ACCOUNTS_PATH

VENDOR = STATIC_DIR / "vendor"


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), manage_orm=False, live=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


async def test_page_is_served_at_root_with_a_strict_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    # No inline script or style: every script is a module file of our own.
    assert re.findall(r"<script\b[^>]*>", response.text) == ['<script type="module" src="/web/js/main.js">']
    assert "<style" not in response.text and " style=" not in response.text


async def test_modules_and_vendored_files_are_served(client: httpx.AsyncClient) -> None:
    for path in (
        "/web/js/main.js",
        "/web/vendor/lit-html.js",
        "/web/vendor/graphql-ws/client.js",
        "/web/app.css",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
    assert "javascript" in (await client.get("/web/js/main.js")).headers["content-type"]


async def test_demo_accounts_exist_only_when_dev_enables_them(client: httpx.AsyncClient) -> None:
    assert (await client.get(DEMO_ACCOUNTS_PATH)).status_code == 404  # `serve`
    enable_demo_sign_in(client.app, [DemoLogin("tc@lakeside.example", "TECHNICAL_CONTACT", "ud_demo")])  # type: ignore[attr-defined]
    response = await client.get(DEMO_ACCOUNTS_PATH)
    assert response.status_code == 200
    assert response.json() == {
        "accounts": [{"email": "tc@lakeside.example", "role": "TECHNICAL_CONTACT", "token": "ud_demo"}]
    }


def test_vendored_files_match_versions_txt() -> None:
    listed = {}
    for line in (VENDOR / "VERSIONS.txt").read_text().splitlines():
        if match := re.fullmatch(r"([0-9a-f]{64})  (\S+)", line):
            listed[match[2]] = match[1]
    on_disk = {str(p.relative_to(VENDOR)): p for p in VENDOR.rglob("*.js")}
    assert set(listed) == set(on_disk)
    for name, path in on_disk.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == listed[name], name
    assert (VENDOR / "LICENSE.lit-html.txt").is_file() and (VENDOR / "LICENSE.graphql-ws.txt").is_file()


def test_modules_import_only_relative_paths() -> None:
    """No bare specifier ("lit-html"): those would need an import map, i.e. an inline script."""
    statement = re.compile(r"""(?:^|;)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]""", re.M)
    found = 0
    for path in STATIC_DIR.rglob("*.js"):
        for specifier in statement.findall(path.read_text()):
            found += 1
            assert specifier.startswith(("./", "../")), f"{path}: {specifier}"
    assert found > 20  # the pattern does see the page's imports
