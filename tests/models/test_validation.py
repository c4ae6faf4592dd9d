"""plan_new_request as a pure function: every refusal of a new request, and what it supersedes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.enums import EnvironmentKind, ErrorCode, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.validation import (
    OpenRequest,
    RequestPlan,
    check_preferred_start,
    check_text,
    plan_new_request,
)

E = EnvironmentKind
S = UpdateStatus
ALL_ENVIRONMENTS = frozenset(EnvironmentKind)
ASP_ENVIRONMENTS = frozenset({E.PRODUCTION, E.SANDBOX})
CATALOG = {"Campus.2435.2", "Campus.2435.3", "Campus.2435.4", "Campus.2435.9", "Campus.2435.10"}


def plan(**overrides: Any) -> RequestPlan:
    arguments: dict[str, Any] = {
        "kind": UpdateKind.VERSION_UPDATE,
        "environment": E.PRODUCTION,
        "available_environments": ALL_ENVIRONMENTS,
        "group_managed": False,
        "current_version": "Campus.2435.2",
        "target_version": "Campus.2435.4",
        "catalog": CATALOG,
        "open_requests": [],
    }
    arguments.update(overrides)
    return plan_new_request(**arguments)


def refusal(**overrides: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        plan(**overrides)
    return caught.value


def version_update(request_id: int, status: S, version: str) -> OpenRequest:
    return OpenRequest(request_id, UpdateKind.VERSION_UPDATE, status, version)


def refresh(request_id: int, status: S) -> OpenRequest:
    return OpenRequest(request_id, UpdateKind.DATABASE_REFRESH, status, None)


def test_a_plain_version_update_supersedes_nothing():
    assert plan() == RequestPlan(())


@pytest.mark.parametrize("environment", [E.PRODUCTION, E.STAGING, E.PREVIEW])
def test_version_update_targets(environment):
    assert plan(environment=environment) == RequestPlan(())


def test_sandbox_is_never_version_updated_on_request():
    error = refusal(environment=E.SANDBOX)
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "environment")
    assert "production" in error.message


def test_group_managed_district_cannot_ask_for_a_version_update_alone():
    error = refusal(group_managed=True)
    assert (error.code, error.field) == (ErrorCode.GROUP_MANAGED, "districtId")
    assert plan(group_managed=True, group_rollout=True) == RequestPlan(())


def test_group_managed_district_may_still_ask_for_a_refresh():
    assert plan(
        kind=UpdateKind.DATABASE_REFRESH, environment=E.SANDBOX, target_version=None, group_managed=True
    ) == RequestPlan(())


@pytest.mark.parametrize("environment", [E.STAGING, E.PREVIEW])
def test_asp_district_without_the_environment(environment):
    error = refusal(environment=environment, available_environments=ASP_ENVIRONMENTS)
    assert (error.code, error.field) == (ErrorCode.ENVIRONMENT_UNAVAILABLE, "environment")


def test_asp_district_without_staging_cannot_refresh_it():
    error = refusal(
        kind=UpdateKind.DATABASE_REFRESH,
        environment=E.STAGING,
        target_version=None,
        available_environments=ASP_ENVIRONMENTS,
    )
    assert error.code is ErrorCode.ENVIRONMENT_UNAVAILABLE


@pytest.mark.parametrize("environment", [E.SANDBOX, E.STAGING])
def test_a_refresh_needs_a_production_site_to_copy(environment):
    """A refresh copies production's data: a district without production is refused when asking,
    not when the worker runs."""
    error = refusal(
        kind=UpdateKind.DATABASE_REFRESH,
        environment=environment,
        target_version=None,
        available_environments=frozenset({E.SANDBOX, E.STAGING}),
    )
    assert (error.code, error.field) == (ErrorCode.ENVIRONMENT_UNAVAILABLE, "environment")
    assert "no production site" in error.message


@pytest.mark.parametrize("target", [None, ""])
def test_version_update_needs_a_target_version(target):
    error = refusal(target_version=target)
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "targetVersion")


def test_unparseable_target_is_validation_not_unknown():
    error = refusal(target_version="the newest please")
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "targetVersion")


def test_target_not_in_catalog_is_unknown_version():
    error = refusal(target_version="Campus.2440.1")
    assert (error.code, error.field) == (ErrorCode.UNKNOWN_VERSION, "targetVersion")


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("Campus.2435.4", "Campus.2435.4"),
        ("Campus.2435.4", "Campus.2435.3"),
        ("Campus.2435.10", "Campus.2435.9"),
    ],
)
def test_target_not_newer_than_current(current, target):
    error = refusal(current_version=current, target_version=target)
    assert (error.code, error.field) == (ErrorCode.VERSION_NOT_NEWER, "targetVersion")


def test_newer_by_numbers_not_by_string():
    assert plan(current_version="Campus.2435.9", target_version="Campus.2435.10") == RequestPlan(())


@pytest.mark.parametrize("status", [S.TO_BE_SCHEDULED, S.SCHEDULED, S.PENDING_INPUT, S.DEFERRED])
def test_newer_version_supersedes_open_not_started_requests(status):
    assert plan(open_requests=[version_update(7, status, "Campus.2435.3")]) == RequestPlan((7,))


@pytest.mark.parametrize("status", [S.NOT_STARTED, S.IN_PROGRESS])
def test_requests_that_began_are_not_superseded(status):
    assert plan(open_requests=[version_update(7, status, "Campus.2435.3")]) == RequestPlan(())


@pytest.mark.parametrize(
    "status", [S.TO_BE_SCHEDULED, S.SCHEDULED, S.PENDING_INPUT, S.DEFERRED, S.IN_PROGRESS]
)
@pytest.mark.parametrize("open_version", ["Campus.2435.4", "Campus.2435.9"])
def test_same_or_older_than_an_open_request_is_a_duplicate(status, open_version):
    error = refusal(open_requests=[version_update(7, status, open_version)])
    assert (error.code, error.field) == (ErrorCode.DUPLICATE_REQUEST, "targetVersion")
    # Named for people by what it asks for, never by its database number (7).
    assert error.message == f"An open request already asks for {open_version} on this site."


@pytest.mark.parametrize("status", [S.COMPLETED, S.CANCELLED, S.UNABLE_TO_COMPLETE, S.NEW_VERSION_REQUESTED])
def test_closed_requests_neither_block_nor_get_superseded(status):
    assert plan(open_requests=[version_update(7, status, "Campus.2435.4")]) == RequestPlan(())


def test_several_open_requests_are_all_superseded():
    open_requests = [
        version_update(3, S.DEFERRED, "Campus.2435.3"),
        version_update(5, S.SCHEDULED, "Campus.2435.3"),
        refresh(6, S.SCHEDULED),
    ]
    assert plan(target_version="Campus.2435.9", open_requests=open_requests) == RequestPlan((3, 5))


def test_open_refresh_does_not_block_a_version_update():
    assert plan(open_requests=[refresh(4, S.TO_BE_SCHEDULED)]) == RequestPlan(())


@pytest.mark.parametrize("environment", [E.SANDBOX, E.STAGING])
def test_refresh_targets(environment):
    assert plan(
        kind=UpdateKind.DATABASE_REFRESH, environment=environment, target_version=None
    ) == RequestPlan(())


@pytest.mark.parametrize("environment", [E.PRODUCTION, E.PREVIEW])
def test_refresh_of_production_or_preview_is_refused(environment):
    error = refusal(kind=UpdateKind.DATABASE_REFRESH, environment=environment, target_version=None)
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "environment")


def test_refresh_takes_no_target_version():
    error = refusal(kind=UpdateKind.DATABASE_REFRESH, environment=E.SANDBOX, target_version="Campus.2435.4")
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "targetVersion")


@pytest.mark.parametrize("status", [S.TO_BE_SCHEDULED, S.SCHEDULED, S.NOT_STARTED, S.IN_PROGRESS, S.DEFERRED])
def test_second_open_refresh_is_a_duplicate(status):
    error = refusal(
        kind=UpdateKind.DATABASE_REFRESH,
        environment=E.SANDBOX,
        target_version=None,
        open_requests=[refresh(9, status)],
    )
    assert (error.code, error.field) == (ErrorCode.DUPLICATE_REQUEST, "environment")


def test_refresh_after_a_finished_one_is_fine():
    assert plan(
        kind=UpdateKind.DATABASE_REFRESH,
        environment=E.SANDBOX,
        target_version=None,
        open_requests=[refresh(9, S.COMPLETED), refresh(10, S.CANCELLED)],
    ) == RequestPlan(())


def test_check_text():
    assert check_text(None, "notes", 10) is None
    assert check_text("  hi  ", "notes", 10) == "hi"
    assert check_text("   ", "notes", 10) is None
    with pytest.raises(DomainError) as caught:
        check_text("x" * 11, "notes", 10)
    assert (caught.value.code, caught.value.field) == (ErrorCode.VALIDATION, "notes")
    # What is kept is what is measured: text that fits once trimmed (a pasted trailing newline)
    # is accepted, and the limit is on the kept text.
    assert check_text("\n" + "x" * 10 + "\n\n", "notes", 10) == "x" * 10
    with pytest.raises(DomainError):
        check_text(" " + "x" * 11 + " ", "notes", 10)


def test_check_preferred_start():
    now = datetime(2026, 11, 2, 15, tzinfo=UTC)
    check_preferred_start(None, now)
    check_preferred_start(now + timedelta(days=1), now)
    for bad in (now - timedelta(minutes=1), datetime(2026, 12, 1)):
        with pytest.raises(DomainError) as caught:
            check_preferred_start(bad, now)
        assert (caught.value.code, caught.value.field) == (ErrorCode.VALIDATION, "preferredStart")
