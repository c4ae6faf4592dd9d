"""Asking for work: every refusal a request can meet, supersession when it is created, idempotency
keys.
Against a real database, on both backends."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import pytest

from models.enums import (
    EnvironmentKind,
    ErrorCode,
    GroupKind,
    HostingModel,
    Role,
    UpdateKind,
    UpdateStatus,
)
from models.errors import DomainError
from models.lifecycle import may_cancel, may_delete
from models.requests.dispatch import dispatch_due
from models.requests.queries import get_visible_request
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request, delete_update_request
from models.tables import Environment, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_group
from tests.models.scenario import (
    IN_WINDOW,
    T0,
    World,
    history,
    make_world,
    status_of,
)

S = UpdateStatus
E = EnvironmentKind


async def refused(awaitable: Awaitable[Any]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await awaitable
    return caught.value


async def environment(world: World, kind: E = E.PRODUCTION) -> Environment:
    return await Environment.get(district_id=world.district.id, kind=kind)


async def test_group_managed_district_refuses_a_version_update(db):
    world = await make_world(group=await make_group(kind=GroupKind.CONSORTIUM))
    error = await refused(world.request_version())
    assert (error.code, error.field) == (ErrorCode.GROUP_MANAGED, "districtId")
    error = await refused(world.request_version(actor=world.staff_actor))
    assert error.code is ErrorCode.GROUP_MANAGED
    assert await UpdateRequest.all().count() == 0


async def test_group_managed_district_may_ask_for_a_refresh(db):
    world = await make_world(group=await make_group())
    refresh = await world.request_refresh()
    assert refresh.status is S.TO_BE_SCHEDULED


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        (UpdateKind.VERSION_UPDATE, E.STAGING),
        (UpdateKind.VERSION_UPDATE, E.PREVIEW),
        (UpdateKind.DATABASE_REFRESH, E.STAGING),
    ],
)
async def test_asp_hosted_district_without_staging_or_preview(db, kind, target):
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED, environments=(E.PRODUCTION, E.SANDBOX))
    error = await refused(
        request_update(
            world.requester_actor,
            district_id=world.district.id,
            kind=kind,
            environment=target,
            target_version="Campus.2435.4" if kind is UpdateKind.VERSION_UPDATE else None,
            now=T0,
        )
    )
    assert (error.code, error.field) == (ErrorCode.ENVIRONMENT_UNAVAILABLE, "environment")


async def test_sandbox_version_update_is_refused(db):
    world = await make_world()
    error = await refused(world.request_version(environment=E.SANDBOX))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "environment")


@pytest.mark.parametrize("target", [E.PRODUCTION, E.PREVIEW])
async def test_refresh_of_production_or_preview_is_refused(db, target):
    world = await make_world()
    error = await refused(world.request_refresh(target))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "environment")


@pytest.mark.parametrize("version", [None, "", "   "])
async def test_version_update_without_target_version(db, version):
    world = await make_world()
    error = await refused(world.request_version(version))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "targetVersion")


async def test_unparseable_target_version(db):
    world = await make_world()
    error = await refused(world.request_version("2435.4"))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "targetVersion")


async def test_preferred_start_in_the_past_and_notes_too_long(db):
    world = await make_world()
    error = await refused(world.request_version(preferred_start=T0 - timedelta(hours=1)))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "preferredStart")
    error = await refused(world.request_version(notes="x" * 4001))
    assert (error.code, error.field) == (ErrorCode.VALIDATION, "notes")
    request = await world.request_version(preferred_start=IN_WINDOW, notes="  after exams  ")
    assert (request.preferred_start, request.notes) == (IN_WINDOW, "after exams")


async def test_unknown_version(db):
    world = await make_world()
    error = await refused(world.request_version("Campus.2440.1"))
    assert (error.code, error.field) == (ErrorCode.UNKNOWN_VERSION, "targetVersion")


@pytest.mark.parametrize("version", ["Campus.2435.2", "Campus.2435.1"])
async def test_version_not_newer(db, version):
    world = await make_world()
    await make_catalog(["Campus.2435.1"])
    error = await refused(world.request_version(version))
    assert (error.code, error.field) == (ErrorCode.VERSION_NOT_NEWER, "targetVersion")


async def test_version_not_newer_is_numeric(db):
    world = await make_world()
    await Environment.filter(district_id=world.district.id).update(current_version="Campus.2435.10")
    error = await refused(world.request_version("Campus.2435.9"))
    assert error.code is ErrorCode.VERSION_NOT_NEWER
    await Environment.filter(district_id=world.district.id).update(current_version="Campus.2435.9")
    assert (await world.request_version("Campus.2435.10")).status is S.TO_BE_SCHEDULED


@pytest.mark.parametrize("again", ["Campus.2435.4", "Campus.2435.3"])
async def test_same_or_older_version_while_one_is_open(db, again):
    world = await make_world()
    first = await world.request_version("Campus.2435.4")
    error = await refused(world.request_version(again))
    assert (error.code, error.field) == (ErrorCode.DUPLICATE_REQUEST, "targetVersion")
    await world.drive(first.id, S.IN_PROGRESS)
    error = await refused(world.request_version(again))
    assert error.code is ErrorCode.DUPLICATE_REQUEST


async def test_same_version_again_after_a_cancel_is_fine(db):
    world = await make_world()
    first = await world.request_version()
    await world.cancel(first.id)
    second = await world.request_version()
    assert second.id != first.id


async def test_second_open_refresh(db):
    world = await make_world()
    first = await world.request_refresh(E.SANDBOX)
    error = await refused(world.request_refresh(E.SANDBOX))
    assert (error.code, error.field) == (ErrorCode.DUPLICATE_REQUEST, "environment")
    # Another environment, or after the first finished, is fine.
    assert (await world.request_refresh(E.STAGING)).status is S.TO_BE_SCHEDULED
    await world.drive(first.id, S.COMPLETED)
    assert (await world.request_refresh(E.SANDBOX)).status is S.TO_BE_SCHEDULED


async def test_foreign_district_is_not_found(db):
    world = await make_world()
    foreign = await make_district()
    for kind, version in ((UpdateKind.VERSION_UPDATE, "Campus.2435.4"), (UpdateKind.DATABASE_REFRESH, None)):
        error = await refused(
            request_update(
                world.requester_actor,
                district_id=foreign.id,
                kind=kind,
                environment=E.PRODUCTION if version else E.SANDBOX,
                target_version=version,
            )
        )
        assert (error.code, error.field) == (ErrorCode.NOT_FOUND, "districtId")
    # A district that does not exist at all gives the very same answer.
    missing = await refused(
        request_update(
            world.staff_actor,
            district_id=999_999,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.PRODUCTION,
            target_version="Campus.2435.4",
        )
    )
    assert (missing.code, missing.field) == (ErrorCode.NOT_FOUND, "districtId")


async def test_viewers_cannot_write(db):
    world = await make_world()
    request = await world.request_version()
    done = await world.request_refresh()
    await world.drive(done.id, S.COMPLETED)
    for operation in (
        world.request_version("Campus.2435.9", actor=world.viewer_actor),
        world.request_refresh(E.STAGING, actor=world.viewer_actor),
        cancel_update_request(world.viewer_actor, request.id),
        delete_update_request(world.viewer_actor, done.id),
        schedule_update_request(world.viewer_actor, request.id, IN_WINDOW, now=T0),
        set_update_request_status(world.viewer_actor, request.id, S.DEFERRED, "no"),
    ):
        assert (await refused(operation)).code is ErrorCode.FORBIDDEN
    assert await get_visible_request(world.viewer_actor, request.id)  # reading is fine
    assert not may_cancel(world.viewer_actor, request)
    assert not may_delete(world.viewer_actor, done)
    assert await status_of(request.id) is S.TO_BE_SCHEDULED


async def test_multi_district_contact_acts_for_each_connected_district(db):
    first, second = await make_district(), await make_district()
    await make_catalog()
    contact = await actor_of(await make_account(Role.CONSORTIUM_CONTACT, [first, second]))
    for district in (first, second):
        request = await request_update(
            contact,
            district_id=district.id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.PRODUCTION,
            target_version="Campus.2435.4",
            now=T0,
        )
        assert (await cancel_update_request(contact, request.id, now=T0)).status is S.CANCELLED


async def test_newer_request_supersedes_the_older_open_one(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    await world.schedule(older.id)
    newer = await world.request_version("Campus.2435.4")
    stored = await UpdateRequest.get(id=older.id)
    assert (stored.status, stored.superseded_by_id) == (S.NEW_VERSION_REQUESTED, newer.id)
    assert newer.status is S.TO_BE_SCHEDULED
    assert await history(older.id) == [
        (None, S.TO_BE_SCHEDULED, "REQUESTER"),
        (S.TO_BE_SCHEDULED, S.SCHEDULED, "STAFF"),
        (S.SCHEDULED, S.NEW_VERSION_REQUESTED, "SYSTEM"),
    ]
    # A superseded request is no longer due: the dispatcher leaves it alone.
    assert await dispatch_due(now=IN_WINDOW) == []
    assert (await refused(world.cancel(older.id))).code is ErrorCode.INVALID_TRANSITION


async def test_a_started_request_is_not_superseded(db):
    world = await make_world()
    running = await world.request_version("Campus.2435.3")
    await world.drive(running.id, S.IN_PROGRESS)
    newer = await world.request_version("Campus.2435.4")
    assert await status_of(running.id) is S.IN_PROGRESS
    assert (await UpdateRequest.get(id=running.id)).superseded_by_id is None
    assert newer.status is S.TO_BE_SCHEDULED


async def test_supersession_is_per_environment(db):
    world = await make_world()
    staging = await world.request_version("Campus.2435.3", environment=E.STAGING)
    await world.request_version("Campus.2435.4", environment=E.PRODUCTION)
    assert await status_of(staging.id) is S.TO_BE_SCHEDULED


async def test_same_key_same_account_returns_the_first_request(db):
    world = await make_world()
    first = await world.request_version(idempotency_key="form-42")
    again = await world.request_version(idempotency_key="form-42")
    assert again.id == first.id
    # Even when the repeated call differs (a retried form after the user changed a field).
    other = await world.request_refresh(idempotency_key="form-42")
    assert other.id == first.id
    assert await UpdateRequest.all().count() == 1
    assert await StatusChange.all().count() == 1


async def test_same_key_from_different_accounts_is_separate(db):
    world = await make_world()
    colleague = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [world.district]))
    mine = await world.request_version(idempotency_key="form-42")
    theirs = await world.request_refresh(actor=colleague, idempotency_key="form-42")
    assert theirs.id != mine.id
    assert (theirs.requested_by_id, theirs.idempotency_key) == (colleague.account_id, "form-42")
    # Their key does not return my request: a same-version ask from them is checked as new.
    error = await refused(world.request_version(actor=colleague, idempotency_key="form-43"))
    assert error.code is ErrorCode.DUPLICATE_REQUEST


async def test_a_refused_request_does_not_claim_its_key(db):
    world = await make_world()
    error = await refused(world.request_version("Campus.2440.1", idempotency_key="k"))
    assert error.code is ErrorCode.UNKNOWN_VERSION
    created = await world.request_version("Campus.2435.4", idempotency_key="k")
    assert created.target_version == "Campus.2435.4"
