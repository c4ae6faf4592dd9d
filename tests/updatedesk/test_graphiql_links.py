"""`GET /graphql?query=…`: a browser opening the link gets GraphiQL (the page fills itself in from
the address), everyone else the answer as JSON, queries only, as before. The page itself: its
settings are data, never an inline script."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import httpx
import pytest

from models.enums import Role
from models.tables import UpdateRequest
from tests.factories import make_account, make_district, make_token
from tests.support_graphql import GRAPHQL, api_client, gid
from updatedesk.graphiql.page import DEFAULT_QUERY, graphiql_html
from updatedesk.media_types import prefers_html

#: What Chromium and Firefox send when a link is opened.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/json;q=0.5, text/html", True),
        (None, False),  # no Accept header
        ("*/*", False),  # curl, fetch()
        ("application/json", False),
        ("application/graphql-response+json", False),
        ("text/html, application/json", False),  # a tie: a GraphQL client listing both
        ("text/html;q=0, */*", False),
        ("TEXT/HTML", True),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def link(query: str, **more: str) -> str:
    return f"{GRAPHQL}?{urlencode({'query': query, **more})}"


async def test_a_query_link_is_graphiql_in_a_browser_and_json_for_everyone_else(db) -> None:
    district = await make_district("Lakeside Public Schools")
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    query = "query One($d: ID!) { district(id: $d) { name } }"
    address = link(query, variables=json.dumps({"d": gid(district)}), operationName="One")
    bearer = {"Authorization": f"Bearer {token}"}
    async with api_client() as api:
        page = await api.http.get(address, headers={"Accept": BROWSER_ACCEPT})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'id="graphiql-config"' in page.text

        for accept in ("*/*", "application/json", None):
            headers = {**bearer, **({"Accept": accept} if accept else {})}
            answer = await api.http.get(address, headers=headers)
            assert answer.headers["content-type"].startswith("application/json"), accept
            assert answer.json() == {"data": {"district": {"name": "Lakeside Public Schools"}}}


async def test_a_mutation_link_opens_graphiql_but_never_runs_over_get(db) -> None:
    district = await make_district("Lakeside Public Schools")
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    mutation = (
        f'mutation {{ requestUpdate(input: {{districtId: "{gid(district)}", kind: DATABASE_REFRESH, '
        "environment: SANDBOX}) { updateRequest { id } } }"
    )
    bearer = {"Authorization": f"Bearer {token}"}
    async with api_client() as api:
        page = await api.http.get(link(mutation), headers={**bearer, "Accept": BROWSER_ACCEPT})
        assert page.headers["content-type"].startswith("text/html")  # to press Run in, as a POST
        refused = await api.http.get(link(mutation), headers={**bearer, "Accept": "application/json"})
        assert refused.status_code == 400
        assert "mutations are not allowed when using GET" in refused.text
    assert not await UpdateRequest.exists()


def test_the_page_has_no_inline_script_and_opens_on_a_working_example() -> None:
    html = graphiql_html(ws_client_module="/web/vendor/graphql-ws/client.js")
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.DOTALL)
    for attributes, body in scripts:
        # Either a file of ours (script-src 'self') or data the CSP never runs.
        assert ("src=" in attributes and not body) or 'type="application/json"' in attributes
    config = json.loads(next(body for attributes, body in scripts if "application/json" in attributes))
    assert config["defaultQuery"] == DEFAULT_QUERY
    assert config["wsClientModule"] == "/web/vendor/graphql-ws/client.js"
    # The example is a query that runs once a token is in the Headers tab, its guide in comments.
    operations = [line for line in DEFAULT_QUERY.splitlines() if line and not line.startswith("#")]
    assert operations[0] == "query Overview {"
    assert "Headers tab" in DEFAULT_QUERY


async def test_the_default_example_runs_for_every_role(db) -> None:
    district = await make_district("Lakeside Public Schools")
    async with api_client() as api:
        for role in Role:
            token = await make_token(
                await make_account(role, [] if role is Role.HOSTING_STAFF else [district])
            )
            data = await api.data(DEFAULT_QUERY, token=token)
            assert data["viewer"]["account"]["role"] == role.value
            assert [d["name"] for d in data["districts"]] == ["Lakeside Public Schools"]


async def test_graphiql_without_a_query_is_unchanged(db) -> None:
    async with api_client() as api:
        for accept in ("text/html", "*/*"):
            page = await api.http.get(GRAPHQL, headers={"Accept": accept})
            assert page.headers["content-type"].startswith("text/html"), accept
        # No query and JSON wanted: a refusal, not the page.
        response: httpx.Response = await api.http.get(GRAPHQL, headers={"Accept": "application/json"})
        assert response.status_code == 400 and "text/html" not in response.headers["content-type"]
