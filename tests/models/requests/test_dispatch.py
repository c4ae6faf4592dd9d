"""The scheduler's side: due requests only, rescheduling, lost jobs claimed once.
Against a real database, on both backends."""

from __future__ import annotations

from datetime import timedelta

from models.enums import (
    EnvironmentKind,
    UpdateStatus,
)
from models.requests.dispatch import dispatch, dispatch_due
from models.tables import UpdateRequest
from tests.models.scenario import (
    IN_WINDOW,
    IN_WINDOW_NEXT_WEEK,
    history,
    make_world,
)

S = UpdateStatus
E = EnvironmentKind


async def test_dispatch_only_when_due(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    assert not await dispatch(request.id, now=IN_WINDOW - timedelta(seconds=1))
    assert await dispatch_due(now=IN_WINDOW - timedelta(seconds=1)) == []
    assert await dispatch_due(now=IN_WINDOW) == [request.id]
    assert await dispatch_due(now=IN_WINDOW) == []  # a second pass finds nothing
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.status, stored.dispatched_at) == (S.NOT_STARTED, IN_WINDOW)


async def test_reschedule_moves_the_due_time(db):
    world = await make_world()
    request = await world.request_version()
    await world.schedule(request.id)
    await world.schedule(request.id, IN_WINDOW_NEXT_WEEK)
    assert await dispatch_due(now=IN_WINDOW) == []
    assert await dispatch_due(now=IN_WINDOW_NEXT_WEEK) == [request.id]
    assert [t for _, t, _ in await history(request.id)].count(S.SCHEDULED) == 2
