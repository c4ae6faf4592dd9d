"""The cost calculator alone (schema/extensions/cost.py): pure, no request, no database."""

from __future__ import annotations

import pytest
from graphql import parse

from infra.settings import DEFAULT_QUERY_MAX_COST
from schema import schema
from schema.extensions.cost import DEFAULT_LIST_SIZE, MAX_PAGE, introspection_costs, operation_cost

SCHEMA = schema._schema


def cost(document: str, variables: dict | None = None, operation_name: str | None = None) -> int:
    return operation_cost(SCHEMA, parse(document), operation_name, variables)


#: README.md, "Using the API".
README_DASHBOARD = """
query Dashboard($district: ID!) {
  viewer { account { email role } preferences { hideCompleted } }
  districts { id name hostingModel updateGroup { name kind } }
  district(id: $district) {
    environments { kind currentVersion versionUpdatedAt lastRefreshedAt online }
    updateRequests(first: 20) {
      totalCount
      edges { cursor node { id kind status targetVersion scheduledStart canCancel canDelete
                            progress { percent step } history { from to at by { name } message } } }
      pageInfo { hasNextPage endCursor }
    }
  }
  maintenanceWindows(districtId: $district, first: 4) { start end }
  releases { version releasedAt }
}
"""
README_MUTATIONS = [
    """mutation {
  requestUpdate(input: {districtId: "x", kind: VERSION_UPDATE, environment: PRODUCTION,
                        targetVersion: "Campus.2435.4", idempotencyKey: "form-7f3a"}) {
    updateRequest { id status }
    errors { code message field }
  }
}""",
    'mutation { cancelUpdateRequest(id: "x") { updateRequest { status } errors { code message } } }',
    """mutation {
  scheduleUpdateRequest(id: "x", start: "2026-12-03T06:30:00Z") {
    updateRequest { status scheduledStart } errors { code message }
  }
  setUpdateRequestStatus(id: "x", status: PENDING_INPUT, message: "Please confirm.") {
    errors { code message }
  }
  rollOutGroupUpdate(groupId: "x", environment: PRODUCTION, targetVersion: "Campus.2439.1") {
    errors { code message }
  }
}""",
]
#: The web page's request fields and its largest query (updatedesk/web/static/js/operations.js,
#: the staff queue), at the largest page a client may ask for.
WEB_REQUEST_FIELDS = """
fragment RequestFields on UpdateRequest {
  id kind status targetVersion preferredStart scheduledStart startedAt completedAt createdAt
  automatic notes statusMessage windowOverride canCancel canDelete
  district { id name }
  environment { id kind }
  requestedBy { name }
  progress { percent step message at }
  history { from to at message windowOverride by { name } }
}"""
WEB_QUEUE = (
    """query Queue($statuses: [UpdateStatus!], $first: Int!, $after: String) {
  updateRequests(statuses: $statuses, hideCompleted: false, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ...RequestFields } }
  }
}"""
    + WEB_REQUEST_FIELDS
)
WEB_EVENTS = (
    """subscription RequestEvents($districtId: ID) {
  updateRequestEvents(districtId: $districtId) {
    type at progress { percent step message at } updateRequest { ...RequestFields }
  }
}"""
    + WEB_REQUEST_FIELDS
)


def audit_dos(aliases: int = 15) -> str:
    """The audit's query: aliases of updateRequests(first: 100), each nesting the district's
    requests with their history."""
    history = "history { from to at by { name } }"
    inner = f"district {{ updateRequests(first: 100) {{ edges {{ node {{ id status {history} }} }} }} }}"
    fields = " ".join(
        f"a{i}: updateRequests(first: 100) {{ edges {{ node {{ id {inner} }} }} }}" for i in range(aliases)
    )
    return "query Dos { " + fields + " }"


def test_the_frontends_real_queries_pass_with_room() -> None:
    dashboard = cost(README_DASHBOARD, {"district": "x"})
    # 3 (viewer) + 50 x 2 (districts, groups) + 1 + 4 + 1 + 20 x (edge, node, progress, 10 x 2
    # history) + 1 + 4 (slots) + 50 (releases)
    assert dashboard == 3 + 100 + 1 + 4 + 1 + 20 * 23 + 1 + 4 + 50 == 624
    queue = cost(WEB_QUEUE, {"first": MAX_PAGE})
    # connection, pageInfo, and per row: edge, node, its 4 objects, 10 x (history, by)
    assert queue == 1 + 1 + 100 * (1 + 1 + 4 + 10 * 2) == 2602
    assert cost(WEB_EVENTS) == 1 + 1 + 1 + 4 + 10 * 2
    for mutation in README_MUTATIONS:
        assert cost(mutation) <= 20
    # The largest of them fits more than 3 times under the default limit.
    assert max(dashboard, queue) * 3 < DEFAULT_QUERY_MAX_COST


def test_the_audit_query_costs_millions() -> None:
    one = cost(audit_dos(1))
    assert one == 1 + 100 + 100 + 100 * (1 + 1 + 100 + 100 + 100 * 10 * 2)
    assert cost(audit_dos(15)) == 15 * one > 300 * DEFAULT_QUERY_MAX_COST


def test_first_from_literal_variable_variable_default_and_field_default() -> None:
    page = "{ edges { node { id } } }"
    assert cost("{ updateRequests(first: 7) " + page + " }") == 1 + 7 + 7
    assert cost("query($n: Int) { updateRequests(first: $n) " + page + " }", {"n": 3}) == 1 + 3 + 3
    assert cost("query($n: Int = 9) { updateRequests(first: $n) " + page + " }") == 1 + 9 + 9
    # Absent or null: the field's default (50); a variable the caller left out: the same.
    assert cost("{ updateRequests " + page + " }") == 1 + 50 + 50
    assert cost("{ updateRequests(first: null) " + page + " }") == 1 + 50 + 50
    assert cost("query($n: Int) { updateRequests(first: $n) " + page + " }", {}) == 1 + 50 + 50
    # A list with `first` of its own: maintenanceWindows defaults to 4.
    assert cost('{ maintenanceWindows(districtId: "x") { start } }') == 4


@pytest.mark.parametrize(
    ("given", "counted"),
    [(10**9, MAX_PAGE), (-5, 0), (0, 0), (True, 50), ("12", 50)],
    ids=["huge", "negative", "zero", "bool", "string"],
)
def test_first_is_clamped_and_odd_values_fall_back(given: object, counted: int) -> None:
    # Above MAX_PAGE the resolver refuses `first` (VALIDATION); a wrong type fails coercion later.
    query = "query($n: Int) { updateRequests(first: $n) { edges { node { id } } } }"
    assert cost(query, {"n": given}) == 1 + 2 * counted


def test_aliases_count_separately_and_same_keys_merge() -> None:
    single = cost("{ districts { name } }")
    assert single == DEFAULT_LIST_SIZE
    assert cost("{ a: districts { name } b: districts { name } }") == 2 * single
    # Same response key: GraphQL merges them into one list; so does the cost.
    assert cost("{ districts { name } districts { id } }") == single
    merged = cost("{ districts { name } districts { environments { kind } } }")
    assert merged == DEFAULT_LIST_SIZE * (1 + 4)


def test_fragments_are_expanded_where_spread() -> None:
    inline = cost(
        "{ updateRequests(first: 10) { edges { node { ... on UpdateRequest { history { at } } } } } }"
    )
    named = cost(
        "{ updateRequests(first: 10) { edges { node { ...H } } } }"
        " fragment H on UpdateRequest { history { at } }"
    )
    assert inline == named == 1 + 10 + 10 + 10 * 10
    twice = cost(
        "{ a: updateRequests(first: 10) { edges { node { ...H } } }"
        "  b: updateRequests(first: 10) { edges { node { ...H } } } }"
        " fragment H on UpdateRequest { history { at } }"
    )
    assert twice == 2 * named


def test_interfaces_scalars_introspection_and_operations() -> None:
    assert cost("{ __typename }") == 0
    assert cost("{ viewer { account { email } } }") == 2
    assert cost('{ node(id: "x") { id ... on District { environments { kind } } } }') == 1 + 4
    # Introspection is priced by the size of the answer: the whole schema's, or a type's.
    whole, one_type = introspection_costs(SCHEMA)
    assert 500 < whole < DEFAULT_QUERY_MAX_COST and 0 < one_type < whole
    assert cost("{ __schema { types { name fields { name } } } }") == whole
    assert (
        cost('{ a: __type(name: "Query") { name } b: __schema { queryType { name } } }') == one_type + whole
    )
    two = "query A { viewer { account { id } } } query B { districts { id } }"
    assert cost(two, operation_name="A") == 2
    assert cost(two, operation_name="B") == DEFAULT_LIST_SIZE
    assert cost(two, operation_name="C") == 0
