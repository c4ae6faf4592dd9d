"""Actors and what they may see.
Against a real database, on both backends."""

from __future__ import annotations

from models.access import Actor
from models.enums import (
    EnvironmentKind,
    UpdateStatus,
)
from tests.models.scenario import (
    make_world,
)

S = UpdateStatus
E = EnvironmentKind


async def test_actor_helpers(db):
    world = await make_world()
    assert world.staff_actor.district_ids is None
    assert world.requester_actor.district_ids == frozenset({world.district.id})
    assert isinstance(world.viewer_actor, Actor) and not world.viewer_actor.can_request_for(world.district.id)
    assert world.requester_actor.can_request_for(world.district.id)
    assert not world.requester_actor.can_request_for(world.district.id + 1)
