"""What a subscription document's rendering depends on (`updatedesk.live_documents`): fields that
depend on the account itself put subscribers in per-account groups, `after` never splits groups
unless the document uses it elsewhere, and the UpdateRequest fields decide whether the event
record suffices."""

from __future__ import annotations

from graphql import parse

from schema import schema
from updatedesk.live_documents import LiveDocuments, shape_of


def shape(query: str) -> tuple[bool, frozenset[str] | None, frozenset[str]]:
    found = shape_of(schema._schema, parse(query))
    return found.per_account, found.request_fields, found.after_variables


def test_role_and_district_fields_are_shared() -> None:
    per_account, fields, after = shape(
        """subscription S($after: String) { updateRequestEvents(after: $after) {
             type cursor fromStatus toStatus at progress { percent }
             updateRequest { id status district { name } history { from to by { name } } canCancel } } }"""
    )
    assert not per_account
    assert fields == {"id", "status", "district", "history", "canCancel"}
    assert after == {"after"}


def test_account_dependent_and_unknown_fields_are_per_account() -> None:
    preference = (
        "subscription { updateRequestEvents { updateRequest { "
        "district { updateRequests { totalCount } } } } }"
    )
    assert shape(preference)[0]
    assert shape(
        "subscription { updateRequestEvents { updateRequest { requestedBy { districts { id } } } } }"
    )[0]


def test_fragments_count_and_typename_is_free() -> None:
    per_account, fields, _ = shape(
        """subscription { updateRequestEvents { __typename updateRequest { ...Row } } }
           fragment Row on UpdateRequest { __typename id kind }"""
    )
    assert not per_account and fields == {"id", "kind"}


def test_after_used_elsewhere_keeps_its_place_in_the_group_key() -> None:
    documents = LiveDocuments(schema)
    query = "subscription S($a: String) { updateRequestEvents(after: $a) { type } }"
    one = documents.get(query, None, {"a": "x"})
    two = documents.get(query, None, {"a": "y"})
    assert one is not None and two is not None and one.variables_key == two.variables_key == "{}"
    narrowed = documents.get(query, None, {"a": "x", "districtId": "1"})
    assert narrowed is not None and narrowed.variables_key != one.variables_key
    assert shape(
        "subscription S($a: String, $d: ID) { updateRequestEvents(after: $a, districtId: $d) { type } }"
    )[2] == {"a"}
    reused = """subscription S($a: String) { updateRequestEvents(after: $a) {
                  updateRequest { district { updateRequests(after: $a) { totalCount } } } } }"""
    assert shape(reused)[2] == frozenset()  # `$a` also pages a list: it shapes the answer
    assert documents.get("query { viewer { account { id } } }", None, {}) is None
    assert documents.get("subscription { nope", None, {}) is None
