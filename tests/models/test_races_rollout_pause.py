"""A race on PostgreSQL: staff resume a paused rollout at the moment several schedulers reach its
window-bound requests whose slot has passed (each scheduler would set them aside for the pause).
Whichever comes first, none is left on hold in a running rollout: each ends in its next slot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.enums import EnvironmentKind, HostingModel, Role, RolloutStatus, UpdateStatus
from models.errors import DomainError
from models.requests.dispatch import dispatch_due
from models.rollouts.control import resume_group_rollout
from models.tables import GroupRollout, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_group, make_request
from tests.models.scenario import IN_WINDOW
from tests.reliability.support import count, illegal_moves

S = UpdateStatus
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

DISTRICTS = 4
SCHEDULERS = 3
WEEK = timedelta(days=7)
CHICAGO = ZoneInfo("America/Chicago")
#: The seeded window opens Thursday 00:30 CST (06:30 UTC) and closes at 03:30 CST (09:30 UTC).
FIRST_SLOT = IN_WINDOW - timedelta(minutes=30)
TOO_LATE = timedelta(hours=2, minutes=30)  # after the slot: half an hour left, the hour no longer fits


async def test_a_pause_held_request_is_never_left_on_hold_by_a_racing_resume(postgres_db):
    await make_catalog()
    group = await make_group()
    districts = [
        await make_district(hosting_model=HostingModel.CAMPUS_CLOUD, group=group) for _ in range(DISTRICTS)
    ]
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    for trial in range(count(10, 200)):
        slot = FIRST_SLOT + trial * WEEK
        rollout = await GroupRollout.create(
            update_group_id=group.id,
            environment=EnvironmentKind.STAGING,
            target_version="Campus.2435.4",
            wave_size=1,
            max_failures=0,
            status=RolloutStatus.PAUSED,
            created_at=slot - WEEK,
            updated_at=slot - WEEK,
        )
        for district in districts:
            request = await make_request(
                district, environment=EnvironmentKind.STAGING, status=S.SCHEDULED, scheduled_start=slot
            )
            await UpdateRequest.filter(id=request.id).update(rollout_id=rollout.id)
        now = slot + TOO_LATE
        racers: list[Awaitable[object]] = [dispatch_due(now=now) for _ in range(SCHEDULERS)]
        racers.insert(trial % (SCHEDULERS + 1), resume_group_rollout(staff, rollout.id, now=now))
        for result in await asyncio.gather(*racers, return_exceptions=True):
            assert not isinstance(result, BaseException) or isinstance(result, DomainError), result

        assert (await GroupRollout.get(id=rollout.id)).status is RolloutStatus.RUNNING
        placed = await UpdateRequest.filter(rollout_id=rollout.id).values_list("status", "scheduled_start")
        # The window opens at 00:30 Chicago time: a week on, in UTC, across daylight saving too.
        next_slot = (slot + WEEK).astimezone(CHICAGO).replace(hour=0, minute=30).astimezone(UTC)
        assert sorted(placed) == [(S.SCHEDULED, next_slot)] * DISTRICTS, f"trial {trial}"
        # Clear the trial away: its sites free for the next one.
        await UpdateRequest.filter(rollout_id=rollout.id).update(status=S.COMPLETED)
    assert await illegal_moves() == []
