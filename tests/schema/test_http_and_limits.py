"""The HTTP surface and the limits that protect it, each refused with a clear message."""

from __future__ import annotations

import logging

import httpx
import pytest
from graphql import get_introspection_query

import resolvers.catalog
from infra.settings import DEFAULT_QUERY_MAX_COST, Settings
from models.enums import Role
from models.tables import District
from tests.factories import make_account, make_district, make_token
from tests.support_graphql import GRAPHQL, api_client, error_codes, gid
from updatedesk.app import create_app


@pytest.fixture
async def token(db) -> str:
    district = await make_district("Lakeside")
    return await make_token(
        await make_account(Role.TECHNICAL_CONTACT, [district], email="tc@lakeside.example")
    )


async def test_depth_limit(token: str) -> None:
    deep = (
        "{ districts { environments { district { environments { district { environments { district { "
        "environments { district { environments { district { name } } } } } } } } } } } }"
    )
    # One district rather than all of them: the same cycle from `districts` costs more than the
    # cost limit allows (tests/schema/test_query_cost.py).
    allowed = (
        "query($id: ID!) { district(id: $id) { environments { district { environments { district { "
        "environments { district { environments { district { name } } } } } } } } } }"
    )
    district = (await District.all())[0]
    async with api_client() as client:
        refused = await client.post(deep, token=token)
        assert refused["data"] is None
        assert "exceeds maximum operation depth of 10" in refused["errors"][0]["message"]
        await client.data(allowed, {"id": gid(district)}, token=token)


async def test_alias_limit(token: str) -> None:
    fields = " ".join(f"a{i}: districts {{ name }}" for i in range(16))
    async with api_client() as client:
        refused = await client.post("{ " + fields + " }", token=token)
        assert "16 aliases found. Allowed: 15" in refused["errors"][0]["message"]
        await client.data(
            "{ " + " ".join(f"a{i}: districts {{ name }}" for i in range(15)) + " }", token=token
        )


async def test_token_limit(token: str) -> None:
    async with api_client() as client:
        refused = await client.post("{ " + "__typename " * 2100 + "}", token=token)
        assert "more than 2000 tokens" in refused["errors"][0]["message"]


async def test_graphiql_introspection_fits_the_limits(token: str) -> None:
    query = get_introspection_query(
        descriptions=True, input_value_deprecation=True, schema_description=True, directive_is_repeatable=True
    )
    async with api_client() as client:
        data = await client.data(query, token=token)
    assert data["__schema"]["queryType"]["name"] == "Query"


async def test_many_introspection_walks_in_one_document_are_refused_before_they_run(token: str) -> None:
    # Fifteen aliased walks of the whole schema (the alias limit) answer ~13,000 objects, most of
    # a second of CPU on the event loop; priced at one each, a caller could send them back to back.
    walk = "types { name description fields { name description args { name type { name } } type { name } } }"
    document = "{ " + " ".join(f"a{i}: __schema {{ {walk} }}" for i in range(15)) + " }"
    async with api_client() as client:
        refused = await client.post(document, token=token)
        two = await client.data(
            "{ a: __schema { types { name } } b: __schema { queryType { name } } }", token=token
        )
    assert refused["data"] is None and error_codes(refused) == ["QUERY_TOO_COMPLEX"]
    assert refused["errors"][0]["extensions"]["maxCost"] == DEFAULT_QUERY_MAX_COST
    assert two["b"] == {"queryType": {"name": "Query"}}


async def test_introspection_and_suggestions_only_for_signed_in_callers(token: str) -> None:
    async with api_client() as client:
        anonymous = await client.post("{ __schema { queryType { name } } }")
        assert anonymous["data"] is None and error_codes(anonymous) == ["UNAUTHENTICATED"]
        assert "signed-in callers only" in anonymous["errors"][0]["message"]
        anonymous_type = await client.post('{ __type(name: "Query") { name } }')
        assert error_codes(anonymous_type) == ["UNAUTHENTICATED"]
        signed_in = await client.data("{ __schema { queryType { name } } }", token=token)
        assert signed_in == {"__schema": {"queryType": {"name": "Query"}}}

        typo = "{ viewr { account { emial } } }"
        hidden = await client.post(typo)
        assert hidden["errors"] and all("Did you mean" not in e["message"] for e in hidden["errors"])
        shown = await client.post(typo, token=token)
        assert any("Did you mean 'viewer'?" in e["message"] for e in shown["errors"])
        # The anonymous answer did not leak into the cached validation of the signed-in one, or back.
        assert all("Did you mean" not in e["message"] for e in (await client.post(typo))["errors"])


async def test_batches_refused(token: str) -> None:
    async with api_client() as client:
        response = await client.http.post(
            GRAPHQL,
            json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}],
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 400
    assert "Batched requests (a JSON array) are not supported" in response.text


async def test_get_serves_queries_not_mutations(token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with api_client() as client:
        query = await client.http.get(
            GRAPHQL, params={"query": "{ viewer { account { email } } }"}, headers=headers
        )
        assert query.status_code == 200
        assert query.json()["data"]["viewer"]["account"]["email"] == "tc@lakeside.example"
        mutation = await client.http.get(
            GRAPHQL,
            params={"query": "mutation { setPreferences(hideCompleted: true) { hideCompleted } }"},
            headers=headers,
        )
        assert mutation.status_code == 400
        assert "mutations are not allowed when using GET" in mutation.text


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"query": "{ __typename }"}},
        {"files": {"operations": (None, '{"query": "{ __typename }"}'), "map": (None, "{}")}},
        {"content": '{"query": "{ __typename }"}', "headers": {"Content-Type": "text/plain"}},
    ],
    ids=["form-encoded", "multipart", "text-plain"],
)
async def test_only_json_posts(token: str, body: dict) -> None:
    headers = {"Authorization": f"Bearer {token}", **body.pop("headers", {})}
    async with api_client() as client:
        response = await client.http.post(GRAPHQL, headers=headers, **body)
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.text


async def test_malformed_json_body(token: str) -> None:
    async with api_client() as client:
        response = await client.http.post(
            GRAPHQL, content="{nope", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400 and "JSON" in response.text


async def test_internal_faults_are_masked_and_logged(
    token: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object, **_kwargs: object) -> list:
        raise RuntimeError("connection to 10.0.0.5 refused, password=hunter2")

    monkeypatch.setattr(resolvers.catalog, "district_slots", broken)
    district = (await District.all())[0]
    with caplog.at_level(logging.ERROR, logger="updatedesk.graphql"):
        async with api_client() as client:
            body = await client.post(
                "query($d: ID!) { maintenanceWindows(districtId: $d) { start } }", {"d": gid(district)}, token
            )
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "hunter2" not in str(body) and "Traceback" not in str(body)
    [record] = [r for r in caplog.records if r.name == "updatedesk.graphql"]
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_graphiql_page_health_and_readiness(db) -> None:
    transport = httpx.ASGITransport(app=create_app(Settings(), manage_orm=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = await http.get(GRAPHQL, headers={"Accept": "text/html"})
        assert page.status_code == 200 and "<title>Updatedesk GraphQL</title>" in page.text
        assert "/graphiql-static/graphiql.min.js" in page.text and "https://" not in page.text
        asset = await http.get("/graphiql-static/graphiql.min.js")
        assert asset.status_code == 200 and len(asset.content) > 10_000
        assert (await http.get("/healthz")).text == "ok"
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.text == "ready"


async def test_a_document_asked_again_is_not_validated_again(token: str) -> None:
    """The validation cache hits for a repeated document: its key (document, rule classes) must
    not change between requests, as it did when the depth and alias rules were built per request."""
    from schema.extensions.guard import _cached_validation

    query = "{ districts { name environments { kind } } }"
    async with api_client() as client:
        await client.data(query, token=token)
        before = _cached_validation.cache_info()
        await client.data(query, token=token)
        after = _cached_validation.cache_info()
    assert after.hits == before.hits + 1
    assert after.misses == before.misses
