"""Every mistake a client can make in its input gets a coded answer, never "Unexpected error.":
control characters in strings, ids and cursors in other spellings, forged cursors, a subscription
over HTTP, a field loaded with directives. On both databases (PostgreSQL refuses NUL in text)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from graphql import parse

from models.enums import EnvironmentKind, Role
from models.tables import District, UpdateRequest
from resolvers.ids import decode_global_id, encode_global_id
from schema import schema
from schema.extensions.directives import MAX_DIRECTIVES_PER_FIELD, overloaded_directives
from schema.extensions.text_inputs import bad_text
from tests.factories import make_account, make_catalog, make_district, make_request, make_token
from tests.support_graphql import GRAPHQL, api_client, gid

REQUEST_UPDATE = """
mutation Request($input: RequestUpdateInput!) {
  requestUpdate(input: $input) { updateRequest { id notes } errors { code field message } }
}
"""
SET_STATUS = """
mutation SetStatus($id: ID!, $message: String) {
  setUpdateRequestStatus(id: $id, status: PENDING_INPUT, message: $message) { errors { code field } }
}
"""
PAGE = """
query Page($after: String) {
  updateRequests(first: 1, after: $after) { edges { node { id } } pageInfo { endCursor } }
}
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(error.get("extensions") or {}).get("code") for error in body.get("errors") or []]


def assert_coded(body: dict[str, Any], code: str, field: str | None = None) -> dict[str, Any]:
    """One top-level error with `code` (and `field`), no data, nothing masked."""
    assert "Unexpected error." not in str(body), body
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, body
    if field is not None:
        assert error["extensions"]["field"] == field, body
    error_: dict[str, Any] = error
    return error_


@pytest.fixture
async def world(db) -> dict[str, Any]:
    await make_catalog()
    district = await make_district(environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX])
    requester = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    staff = await make_token(await make_account(Role.HOSTING_STAFF))
    first = await make_request(district)
    second = await make_request(district, environment=EnvironmentKind.SANDBOX)
    return {"district": district, "requester": requester, "staff": staff, "requests": [first, second]}


def refresh_input(district: District, **fields: Any) -> dict[str, Any]:
    return {
        "input": {"districtId": gid(district), "kind": "DATABASE_REFRESH", "environment": "SANDBOX", **fields}
    }


@pytest.mark.parametrize(
    ("fields", "field", "character"),
    [
        ({"notes": "before\x00after"}, "notes", "U+0000"),
        ({"notes": "bell\x07"}, "notes", "U+0007"),
        ({"notes": "carriage\rreturn"}, "notes", "U+000D"),
        ({"notes": "lone \ud800 surrogate"}, "notes", "U+D800"),
        ({"idempotencyKey": "key\nwith a line break"}, "idempotencyKey", "U+000A"),
        ({"idempotencyKey": "del\x7f"}, "idempotencyKey", "U+007F"),
        ({"notes": "ok", "preferredStart": "2026-12-03T06:30:00\x00Z"}, "preferredStart", "U+0000"),
    ],
    ids=["nul", "bell", "cr", "surrogate", "newline-in-key", "del", "nul-in-datetime"],
)
async def test_control_characters_are_validation_errors_naming_the_field(
    world: dict[str, Any], fields: dict[str, Any], field: str, character: str
) -> None:
    payload = {"query": REQUEST_UPDATE, "variables": refresh_input(world["district"], **fields)}
    headers = {"Authorization": f"Bearer {world['requester']}", "Content-Type": "application/json"}
    async with api_client() as client:
        # json.dumps escapes a lone surrogate as \ud800, as a browser's JSON.stringify does.
        response = await client.http.post(GRAPHQL, content=json.dumps(payload), headers=headers)
    assert response.status_code == 200, response.text
    error = assert_coded(response.json(), "VALIDATION", field)
    assert character in error["message"] and field in error["message"]
    assert await UpdateRequest.filter(district_id=world["district"].id).count() == 2  # nothing created


async def test_free_text_keeps_line_breaks_and_tabs(world: dict[str, Any]) -> None:
    notes = "Line one\nLine two\twith a tab"
    async with api_client() as client:
        data = await client.data(
            REQUEST_UPDATE, refresh_input(world["district"], notes=notes), world["requester"]
        )
        staff = await client.data(
            SET_STATUS, {"id": gid(world["requests"][0]), "message": "Please\nconfirm"}, world["staff"]
        )
    assert data["requestUpdate"]["errors"] == [] and data["requestUpdate"]["updateRequest"]["notes"] == notes
    assert staff["setUpdateRequestStatus"]["errors"] == []


async def test_control_characters_in_literals_and_ids(world: dict[str, Any]) -> None:
    request_id = gid(world["requests"][0])
    async with api_client() as client:
        # A GraphQL string literal may spell NUL as an escape; it is the same refusal.
        literal = await client.post(
            f'mutation {{ setUpdateRequestStatus(id: "{request_id}", status: DEFERRED, message: "a\\u0000b") '
            "{ errors { code } } }",
            token=world["staff"],
        )
        in_id = await client.post(
            "query($id: ID!) { node(id: $id) { id } }", {"id": "abc\x00"}, world["staff"]
        )
    assert_coded(literal, "VALIDATION", "message")
    assert_coded(in_id, "VALIDATION", "id")


@pytest.mark.parametrize(
    "spelling",
    [
        "District:0{pk}",
        "District:\u0661",
        "District:\u00b2",
        "District:{pk} ",
        "District:+{pk}",
        "District:{pk}.0",
    ],
    ids=["leading-zero", "arabic-indic-digit", "superscript", "trailing-space", "plus", "decimal"],
)
async def test_ids_decode_only_in_their_canonical_form(world: dict[str, Any], spelling: str) -> None:
    district: District = world["district"]
    other = b64(spelling.format(pk=district.pk))
    async with api_client() as client:
        canonical = await client.data(
            "query($id: ID!) { node(id: $id) { id } }", {"id": gid(district)}, world["staff"]
        )
        assert canonical["node"] == {"id": gid(district)}
        data = await client.data(
            "query($id: ID!) { node(id: $id) { id } district(id: $id) { id } }", {"id": other}, world["staff"]
        )
        cancel = await client.data(
            "mutation($id: ID!) { cancelUpdateRequest(id: $id) { errors { code field } } }",
            {"id": b64(spelling.replace("District", "UpdateRequest").format(pk=world["requests"][0].pk))},
            world["requester"],
        )
    assert data == {"node": None, "district": None}
    assert cancel["cancelUpdateRequest"]["errors"] == [{"code": "NOT_FOUND", "field": "id"}]


@pytest.mark.parametrize("pk", [1, 12, 1234, 12345])  # "District:" + 1, 2, 4, 5 digits: padded
def test_base64_with_stray_padding_bits_is_nobodys_id(pk: int) -> None:
    canonical = encode_global_id("District", pk)
    assert canonical.endswith("=") and decode_global_id(canonical) == ("District", pk)
    # The last character before the padding carries bits the decoder drops: flip the lowest one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = canonical.rstrip("=")
    twin = body[:-1] + alphabet[alphabet.index(body[-1]) ^ 1] + canonical[len(body) :]
    assert twin != canonical and base64.b64decode(twin) == base64.b64decode(canonical)
    assert decode_global_id(twin) is None


@pytest.mark.parametrize(
    "forged",
    [
        "ur1|2026-01-01T00:00:00+00:00|99999999999999999999",
        "ur1|2026-01-01T00:00:00+00:00|2147483648",
        "ur1|0001-01-01T00:00:00+14:00|1",
        "ur1|9999-12-31T23:59:59-14:00|1",
        "ur1|2026-01-01T00:00:00+00:00|\u0661",
        "ur1|2026-01-01T00:00:00+00:00|01",
        "ur1|2026-01-01T00:00:00Z|1",
        "ur1|2026-01-01T00:00:00|1",
        "nonsense",
    ],
    ids=[
        "overflow",
        "past-32-bits",
        "year-1",
        "year-9999",
        "arabic-digit",
        "leading-zero",
        "z-suffix",
        "no-offset",
        "junk",
    ],
)
async def test_forged_cursors_are_validation_errors_on_after(world: dict[str, Any], forged: str) -> None:
    async with api_client() as client:
        page = await client.data(PAGE, {}, world["staff"])
        real = page["updateRequests"]["pageInfo"]["endCursor"]
        following = await client.data(PAGE, {"after": real}, world["staff"])
        body = await client.post(PAGE, {"after": cursor(forged)}, world["staff"])
    assert following["updateRequests"]["edges"]  # a real cursor still pages on
    # A field error (the query ran up to `after`): coded, field named, nothing masked.
    assert "Unexpected error." not in str(body)
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in body["errors"]] == [
        ("VALIDATION", "after")
    ]


async def test_a_subscription_over_http_gets_a_clear_error(world: dict[str, Any]) -> None:
    subscription = "subscription { updateRequestEvents { type } }"
    headers = {"Authorization": f"Bearer {world['staff']}"}
    async with api_client() as client:
        posted = await client.post(subscription, token=world["staff"])
        got = (await client.http.get(GRAPHQL, params={"query": subscription}, headers=headers)).json()
    for body in (posted, got):
        error = assert_coded(body, "BAD_REQUEST")
        assert "WebSocket" in error["message"]


async def test_directive_overloading_is_one_error(world: dict[str, Any]) -> None:
    async with api_client() as client:
        overloaded = await client.post("{ __typename " + "@aa" * 10 + " }", token=world["staff"])
        allowed = await client.data(
            "{ viewer @include(if: true) @skip(if: false) { account { email } } }", token=world["staff"]
        )
    error = assert_coded(overloaded, "VALIDATION")
    assert f"At most {MAX_DIRECTIVES_PER_FIELD} directives" in error["message"]
    assert allowed["viewer"]["account"]["email"]


async def test_anonymous_callers_are_told_to_sign_in_first(world: dict[str, Any]) -> None:
    client_input = refresh_input(world["district"], notes="\x00")
    async with api_client() as client:
        body = await client.post(REQUEST_UPDATE, client_input)
    assert_coded(body, "UNAUTHENTICATED")


# The pure checks, without a request.

SCHEMA = schema._schema


def test_bad_text_walks_literals_variables_defaults_and_fragments() -> None:
    def found(document: str, variables: dict[str, Any] | None = None) -> tuple[str, str] | None:
        bad = bad_text(SCHEMA, parse(document), None, variables)
        return (bad.field, bad.character) if bad else None

    literal = (
        'mutation { requestUpdate(input: {districtId: "d", kind: VERSION_UPDATE, environment: PRODUCTION, '
        'notes: "a\\u0001"}) { errors { code } } }'
    )
    assert found(literal) == ("notes", "\x01")
    assert found('query($id: ID! = "x\\u0000") { node(id: $id) { id } }') == ("id", "\x00")
    assert found("query($id: ID!) { ...F } fragment F on Query { node(id: $id) { id } }", {"id": "\x1b"}) == (
        "id",
        "\x1b",
    )
    assert found(
        "query($s: [UpdateStatus!]) { updateRequests(statuses: $s) { totalCount } }", {"s": ["\x00"]}
    ) == (
        "statuses",
        "\x00",
    )
    assert found('query { node(id: "fine") { id } }') is None
    assert found("query($id: ID!) { node(id: $id) { id } }", {}) is None


def test_overloaded_directives_are_found_anywhere() -> None:
    assert overloaded_directives(parse("{ a @x @x }")) is None
    node, count = overloaded_directives(parse("{ a { b " + "@x " * 6 + "} }")) or (None, 0)
    assert count == 6 and node is not None
    assert overloaded_directives(parse("query Q " + "@x " * 6 + "{ a }")) is not None
    assert overloaded_directives(parse("{ ... on Query " + "@x " * 6 + "{ a } }")) is not None
