"""Cancel and delete: only from the statuses the lifecycle allows, races with a single winner, the
audit kept.
Against a real database, on both backends."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.enums import (
    EnvironmentKind,
    ErrorCode,
    UpdateStatus,
)
from models.errors import DomainError
from models.events import AfterCommit
from models.lifecycle import may_delete
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.moves import record_move
from models.requests.queries import visible_requests
from models.requests.withdrawing import cancel_update_request, delete_update_request
from models.tables import Environment, StatusChange, UpdateRequest
from tests.models.scenario import (
    DONE_AT,
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


@pytest.mark.parametrize("source", [S.NOT_STARTED, S.IN_PROGRESS, S.COMPLETED, S.PENDING_INPUT])
async def test_cannot_cancel_once_pulled_from_the_queue(db, source):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    for actor in (world.requester_actor, world.staff_actor):
        error = await refused(cancel_update_request(actor, request.id, now=T0))
        assert error.code is ErrorCode.INVALID_TRANSITION
    assert await status_of(request.id) is source
    assert all(t is not S.CANCELLED for _, t, _ in await history(request.id))


@pytest.mark.parametrize("source", [S.TO_BE_SCHEDULED, S.SCHEDULED, S.IN_PROGRESS, S.CANCELLED])
async def test_only_completed_requests_can_be_deleted(db, source):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    error = await refused(delete_update_request(world.requester_actor, request.id, now=T0))
    assert (error.code, error.field) == (ErrorCode.INVALID_TRANSITION, "id")
    assert (await UpdateRequest.get(id=request.id)).deleted_at is None


async def test_lost_race_with_a_stale_read_is_invalid_transition(db):
    """Two actors load the request; the second to write finds it moved and changes nothing."""
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    stale = await UpdateRequest.get(id=request.id)
    assert await dispatch(request.id, now=IN_WINDOW)
    rows_before = await StatusChange.filter(update_request_id=request.id).count()
    with pytest.raises(DomainError) as caught:
        async with in_transaction():
            await record_move(stale, S.CANCELLED, world.requester_actor, AfterCommit(), now=IN_WINDOW)
    assert caught.value.code is ErrorCode.INVALID_TRANSITION
    assert "NOT_STARTED" in caught.value.message
    assert await status_of(request.id) is S.NOT_STARTED
    assert await StatusChange.filter(update_request_id=request.id).count() == rows_before


async def test_cancel_then_dispatch_and_dispatch_then_cancel(db):
    world = await make_world()
    first = await world.request_version("Campus.2435.4", environment=E.PRODUCTION)
    second = await world.request_version("Campus.2435.4", environment=E.STAGING)
    await world.schedule(first.id)
    await world.schedule(second.id)
    await world.cancel(first.id)
    assert not await dispatch(first.id, now=IN_WINDOW)
    assert await status_of(first.id) is S.CANCELLED
    assert await dispatch(second.id, now=IN_WINDOW)
    assert (await refused(world.cancel(second.id))).code is ErrorCode.INVALID_TRANSITION
    assert await status_of(second.id) is S.NOT_STARTED


async def test_cancel_keeps_the_history_and_hides_from_nothing_but_the_queue(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    cancelled = await world.cancel(request.id, actor=world.staff_actor)
    assert cancelled.status is S.CANCELLED
    assert (await history(request.id))[-1] == (S.SCHEDULED, S.CANCELLED, "STAFF")
    assert await dispatch_due(now=IN_WINDOW) == []


async def test_delete_hides_a_completed_request_and_keeps_its_history(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.COMPLETED)
    assert may_delete(world.requester_actor, await UpdateRequest.get(id=request.id))
    deleted = await delete_update_request(world.requester_actor, request.id, now=DONE_AT)
    assert deleted.deleted_at == DONE_AT
    assert await visible_requests(world.requester_actor).filter(id=request.id).count() == 0
    assert await visible_requests(world.staff_actor).filter(id=request.id).count() == 0
    assert len(await history(request.id)) == 5
    assert (
        await refused(delete_update_request(world.requester_actor, request.id))
    ).code is ErrorCode.NOT_FOUND
