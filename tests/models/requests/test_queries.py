"""Which requests a caller sees.
Against a real database, on both backends."""

from __future__ import annotations

from models.enums import (
    EnvironmentKind,
    ErrorCode,
    UpdateStatus,
)
from models.lifecycle import may_cancel
from models.requests.queries import get_visible_request, visible_requests
from models.requests.withdrawing import cancel_update_request, delete_update_request
from tests.models.scenario import (
    T0,
    make_world,
    refused,
    status_of,
)

S = UpdateStatus
E = EnvironmentKind


async def test_visible_requests_follow_the_actors_districts(db):
    world = await make_world()
    other = await make_world()
    mine = await world.request_version()
    theirs = await other.request_version()
    assert [r.id for r in await visible_requests(world.requester_actor)] == [mine.id]
    assert [r.id for r in await visible_requests(world.viewer_actor)] == [mine.id]
    staff_ids = {r.id for r in await visible_requests(world.staff_actor)}
    assert staff_ids == {mine.id, theirs.id}


async def test_foreign_request_is_not_found_on_every_path(db):
    world = await make_world()
    other = await make_world()
    theirs = await other.request_version()
    await other.drive(theirs.id, S.COMPLETED)
    queued = await other.request_refresh()
    for operation in (
        cancel_update_request(world.requester_actor, queued.id, now=T0),
        delete_update_request(world.requester_actor, theirs.id, now=T0),
        get_visible_request(world.requester_actor, queued.id),
        cancel_update_request(world.requester_actor, 999_999, now=T0),
    ):
        error = await refused(operation)
        assert (error.code, error.field) == (ErrorCode.NOT_FOUND, "id")
        assert error.message == "No update request with that id."
    assert await visible_requests(world.requester_actor).count() == 0
    assert await status_of(queued.id) is S.TO_BE_SCHEDULED
    assert not may_cancel(world.requester_actor, queued)
