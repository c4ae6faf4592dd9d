"""schema.graphql is what the code serves, and it keeps every name of the public contract."""

from __future__ import annotations

from pathlib import Path

from schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
REGENERATE = "uv run python -m schema > schema.graphql"

CONTRACT_FIELDS = {
    "Query": "viewer districts district node updateRequest updateRequests releases maintenanceWindows",
    "Mutation": "requestUpdate cancelUpdateRequest deleteUpdateRequest setPreferences scheduleUpdateRequest "
    "setUpdateRequestStatus",
    "UpdateRequest": "id kind status district environment targetVersion preferredStart scheduledStart "
    "startedAt completedAt createdAt requestedBy automatic notes statusMessage progress supersededBy "
    "history canCancel canDelete",
    "Environment": "id kind url currentVersion versionUpdatedAt lastRefreshedAt online district "
    "scheduledUpdates",
    "District": "id name hostingModel updateGroup environments updateRequests",
    "StatusChange": "from to at by message",
    "UpdateRequestConnection": "edges pageInfo totalCount",
    "UserError": "code message field",
}


def test_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", (
        f"schema.graphql is out of date; regenerate it with: {REGENERATE}"
    )


def test_contract_names_are_present() -> None:
    for type_name, fields in CONTRACT_FIELDS.items():
        definition = schema.get_type_by_name(type_name)
        assert definition is not None, type_name
        converter = schema.config.name_converter
        names = {converter.get_graphql_name(field) for field in definition.fields}  # type: ignore[union-attr]
        missing = set(fields.split()) - names
        assert not missing, f"{type_name} lacks {missing}"
