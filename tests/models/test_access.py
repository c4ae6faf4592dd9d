"""Actors and what they may see.
Against a real database, on both backends."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from models.access import Actor
from models.enums import (
    EnvironmentKind,
    UpdateStatus,
)
from models.errors import DomainError
from models.tables import Environment
from tests.models.scenario import (
    World,
    make_world,
)

S = UpdateStatus
E = EnvironmentKind


async def refused(awaitable: Awaitable[Any]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await awaitable
    return caught.value


async def environment(world: World, kind: E = E.PRODUCTION) -> Environment:
    return await Environment.get(district_id=world.district.id, kind=kind)


async def test_actor_helpers(db):
    world = await make_world()
    assert world.staff_actor.district_ids is None
    assert world.requester_actor.district_ids == frozenset({world.district.id})
    assert isinstance(world.viewer_actor, Actor) and not world.viewer_actor.can_request_for(world.district.id)
    assert world.requester_actor.can_request_for(world.district.id)
    assert not world.requester_actor.can_request_for(world.district.id + 1)
