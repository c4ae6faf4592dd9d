"""Starting a rollout: one ordinary request per district that can take part, placed at once; the
others skipped with a code and reason; the whole call refused only for what concerns them all.
On both databases."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import pytest

from models.enums import ErrorCode, Role, RolloutStatus, UpdateKind
from models.errors import DomainError
from models.requests.requesting import request_update
from models.rollouts.starting import start_group_rollout
from models.tables import Environment, GroupRollout, RolloutSkip, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account, make_group
from tests.models.rollouts.support import TARGET, E, S, make_state, requests_of
from tests.models.scenario import IN_WINDOW, T0

#: The seeded window opens Thursday 00:30 CST, 30 minutes before IN_WINDOW.
FIRST_SLOT = IN_WINDOW - timedelta(minutes=30)


async def test_every_district_gets_a_request_or_a_skip_with_its_reason(db):
    state = await make_state(asp=4, campus_cloud=1)
    on_it, asking, older = state.districts[0], state.districts[1], state.districts[2]
    await Environment.filter(district_id=on_it.id, kind=E.STAGING).update(current_version=TARGET)
    newer = await UpdateRequest.create(
        kind=UpdateKind.VERSION_UPDATE,
        status=S.TO_BE_SCHEDULED,
        district_id=asking.id,
        environment=await Environment.get(district_id=asking.id, kind=E.STAGING),
        target_version="Campus.2435.9",
    )
    stale = await UpdateRequest.create(
        kind=UpdateKind.VERSION_UPDATE,
        status=S.SCHEDULED,
        district_id=older.id,
        environment=await Environment.get(district_id=older.id, kind=E.STAGING),
        target_version="Campus.2435.3",
        scheduled_start=IN_WINDOW,
    )

    rollout = await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=f" {TARGET} ",
        wave_size=2,
        max_failures=0,
        notes="Fall release",
        now=T0,
    )

    assert (rollout.status, rollout.wave_size, rollout.max_failures) == (RolloutStatus.RUNNING, 2, 0)
    assert rollout.target_version == TARGET and rollout.created_by_id == state.staff.account_id
    skips = {s.district_id: s for s in await RolloutSkip.filter(rollout_id=rollout.id)}
    assert {d: s.code for d, s in skips.items()} == {
        on_it.id: ErrorCode.VERSION_NOT_NEWER,
        asking.id: ErrorCode.DUPLICATE_REQUEST,
        state.lacking.id: ErrorCode.ENVIRONMENT_UNAVAILABLE,
    }
    assert skips[state.lacking.id].message == "This district has no staging environment."
    assert "Campus.2435.9" in skips[asking.id].message

    created = await requests_of(rollout.id)
    taking_part = [d for d in state.districts if d.id not in skips]
    assert [r.district_id for r in created] == [d.id for d in taking_part]
    assert {(r.kind, r.target_version, r.notes, r.requested_by_id) for r in created} == {
        (UpdateKind.VERSION_UPDATE, TARGET, "Fall release", state.staff.account_id)
    }
    # Placed at once: ASP-hosted ones due now, the Campus Cloud one in its first slot that fits.
    cloud = state.districts[-1]
    starts = {r.district_id: r.scheduled_start for r in created}
    assert starts.pop(cloud.id) == FIRST_SLOT
    assert set(starts.values()) == {T0}
    assert {r.status for r in created} == {S.SCHEDULED}
    moves = await StatusChange.filter(update_request_id__in=[r.id for r in created], to_status=S.SCHEDULED)
    assert {m.by_id for m in moves} == {state.staff.account_id}
    cloud_move = next(m for m in moves if m.update_request_id == created[-1].id)
    assert "the first maintenance slot that fits" in (cloud_move.message or "")
    assert "North State's staging sites to Campus.2435.4" in (cloud_move.message or "")
    # The older open update of a district is superseded by the rollout's, as by any newer request.
    stale = await UpdateRequest.get(id=stale.id)
    assert stale.status is S.NEW_VERSION_REQUESTED
    assert stale.superseded_by_id == next(r.id for r in created if r.district_id == older.id)
    assert (await UpdateRequest.get(id=newer.id)).status is S.TO_BE_SCHEDULED  # left alone


async def refused(coroutine: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await coroutine
    return caught.value


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("not staff", ErrorCode.FORBIDDEN, None),
        ("unknown version", ErrorCode.UNKNOWN_VERSION, "targetVersion"),
        ("not a version", ErrorCode.VALIDATION, "targetVersion"),
        ("sandbox", ErrorCode.VALIDATION, "environment"),
        ("no wave", ErrorCode.VALIDATION, "waveSize"),
        ("negative budget", ErrorCode.VALIDATION, "maxFailures"),
        ("unknown group", ErrorCode.NOT_FOUND, "updateGroupId"),
        ("empty group", ErrorCode.VALIDATION, "updateGroupId"),
    ],
)
async def test_what_concerns_the_whole_rollout_refuses_it_and_writes_nothing(db, case, code, field):
    state = await make_state(asp=2, campus_cloud=0)
    empty = await make_group("Empty consortium")
    asked: dict[str, Any] = {
        "group_id": state.group.id,
        "environment": E.PRODUCTION,
        "target_version": TARGET,
        "wave_size": 2,
        "max_failures": 1,
    }
    actor = state.staff
    if case == "not staff":
        actor = state.contact
    changes: dict[str, dict[str, Any]] = {
        "unknown version": {"target_version": "Campus.2499.1"},
        "not a version": {"target_version": "latest"},
        "sandbox": {"environment": E.SANDBOX},
        "no wave": {"wave_size": 0},
        "negative budget": {"max_failures": -1},
        "unknown group": {"group_id": empty.id + 1000},
        "empty group": {"group_id": empty.id},
    }
    error = await refused(start_group_rollout(actor, **{**asked, **changes.get(case, {})}, now=T0))
    assert (error.code, error.field) == (code, field)
    assert await GroupRollout.all().count() == 0
    assert await UpdateRequest.all().count() == 0


async def test_a_rollout_may_skip_every_district(db):
    state = await make_state(asp=2, campus_cloud=0)
    await Environment.filter(kind=E.PRODUCTION).update(current_version="Campus.2439.1")
    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.PRODUCTION, target_version=TARGET, now=T0
    )
    assert await requests_of(rollout.id) == []
    assert await RolloutSkip.filter(rollout_id=rollout.id).count() == 3


async def test_a_group_managed_district_alone_still_cannot_ask_for_a_version(db):
    state = await make_state(asp=1, campus_cloud=0)
    contact = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [state.districts[0]]))
    error = await refused(
        request_update(
            contact,
            district_id=state.districts[0].id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.PRODUCTION,
            target_version=TARGET,
            now=T0,
        )
    )
    assert error.code is ErrorCode.GROUP_MANAGED
