"""Staff pause, resume and cancel a rollout; subscribers see its change through its requests'
events. On both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio

from models.enums import ErrorCode, EventType, Role, RolloutStatus
from models.errors import DomainError
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests.completion import complete
from models.requests.dispatch import dispatch_due
from models.requests.execution import begin
from models.requests.withdrawing import cancel_update_request
from models.rollouts.control import cancel_group_rollout, pause_group_rollout, resume_group_rollout
from models.rollouts.counts import counts_of
from models.rollouts.starting import start_group_rollout
from models.tables import GroupRollout, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account
from tests.models.rollouts.support import TARGET, E, S, State, make_state, requests_of, statuses
from tests.models.scenario import T0

R = RolloutStatus
MINUTE = timedelta(minutes=1)


@pytest_asyncio.fixture
async def heard() -> AsyncIterator[list[UpdateRequestChanged]]:
    events: list[UpdateRequestChanged] = []

    async def sink(event: UpdateRequestChanged) -> None:
        events.append(event)

    add_event_sink(sink)
    try:
        yield events
    finally:
        remove_event_sink(sink)


async def started(state: State, wave_size: int = 2) -> tuple[GroupRollout, list[int]]:
    """A rollout to five ASP-hosted districts whose first wave was dispatched and begun."""
    rollout = await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=E.STAGING,
        target_version=TARGET,
        wave_size=wave_size,
        now=T0,
    )
    first = await dispatch_due(now=T0)
    for request_id in first:
        assert await begin(request_id, now=T0) is not None
    return rollout, first


async def refused(awaitable: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await awaitable  # type: ignore[misc]
    return caught.value


async def test_pause_starts_nothing_new_and_resume_goes_on(db, heard):
    state = await make_state(asp=5, campus_cloud=0)
    rollout, first = await started(state)
    assert len(first) == 2
    heard.clear()

    paused = await pause_group_rollout(state.staff, rollout.id, now=T0 + MINUTE)
    assert paused.status is R.PAUSED and "Paused" in (paused.status_message or "")
    # Nothing moved; every request was announced as it now is, so subscribers see the rollout move.
    assert {(e.type, e.update_request_id) for e in heard} == {
        (EventType.SNAPSHOT, r.id) for r in await requests_of(rollout.id)
    }
    for request_id in first:
        await complete(request_id, now=T0 + 2 * MINUTE)
    assert await dispatch_due(now=T0 + 3 * MINUTE) == []
    assert sorted(await statuses(rollout.id)) == sorted([S.COMPLETED] * 2 + [S.SCHEDULED] * 3)
    again = await refused(pause_group_rollout(state.staff, rollout.id))
    assert again.code is ErrorCode.INVALID_TRANSITION and "PAUSED" in again.message

    resumed = await resume_group_rollout(state.staff, rollout.id, now=T0 + 4 * MINUTE)
    assert (resumed.status, resumed.status_message) == (R.RUNNING, None)
    assert len(await dispatch_due(now=T0 + 4 * MINUTE)) == 2
    running = await refused(resume_group_rollout(state.staff, rollout.id))
    assert running.code is ErrorCode.INVALID_TRANSITION


async def test_cancel_cancels_what_has_not_started_and_running_ones_finish(db, heard):
    state = await make_state(asp=5, campus_cloud=0)
    rollout, first = await started(state)
    heard.clear()

    cancelled = await cancel_group_rollout(state.staff, rollout.id, now=T0 + MINUTE)
    assert cancelled.status is R.CANCELLED
    assert cancelled.status_message == (
        "Cancelled by the hosting team: 3 districts that had not started were cancelled; "
        "2 already running finish."
    )
    rows = {r.id: r for r in await requests_of(rollout.id)}
    assert {pk for pk, r in rows.items() if r.status is S.CANCELLED} == set(rows) - set(first)
    assert {rows[pk].status for pk in first} == {S.IN_PROGRESS}
    by_request = {e.update_request_id: e.type for e in heard}
    assert by_request == {pk: EventType.REMOVED if pk not in first else EventType.SNAPSHOT for pk in rows}
    cancel_moves = await StatusChange.filter(to_status=S.CANCELLED, update_request_id__in=list(rows))
    assert {m.by_id for m in cancel_moves} == {state.staff.account_id}
    assert all("will not run" in (m.message or "") for m in cancel_moves)

    for request_id in first:
        await complete(request_id, now=T0 + 2 * MINUTE)
    assert await dispatch_due(now=T0 + 3 * MINUTE) == []
    counts = (await counts_of([rollout.id]))[rollout.id].total()
    assert dict(counts) == {S.COMPLETED: 2, S.CANCELLED: 3}
    assert (await refused(resume_group_rollout(state.staff, rollout.id))).code is ErrorCode.INVALID_TRANSITION
    assert (await refused(cancel_group_rollout(state.staff, rollout.id))).code is ErrorCode.INVALID_TRANSITION


async def test_a_finished_rollout_is_neither_paused_nor_cancelled(db):
    state = await make_state(asp=1, campus_cloud=0)
    rollout, (only,) = await started(state)
    await complete(only, now=T0 + MINUTE)
    for action in (pause_group_rollout, cancel_group_rollout):
        error = await refused(action(state.staff, rollout.id))
        assert error.code is ErrorCode.INVALID_TRANSITION and "completed" in error.message


async def test_only_staff_pause_resume_and_cancel(db):
    state = await make_state(asp=2, campus_cloud=0)
    rollout, _ = await started(state)
    for actor in (state.contact, state.technical, state.outsider):
        for action in (pause_group_rollout, resume_group_rollout, cancel_group_rollout):
            assert (await refused(action(actor, rollout.id))).code is ErrorCode.FORBIDDEN
    assert (await GroupRollout.get(id=rollout.id)).status is R.RUNNING
    missing = await refused(pause_group_rollout(state.staff, rollout.id + 1000))
    assert (missing.code, missing.field) == (ErrorCode.NOT_FOUND, "id")


async def test_the_group_contact_cancels_one_district_and_the_rollout_goes_on(db):
    """DESIGN "People and access": a rollout's requests are cancelled by staff and by the group's
    contacts, never by a district's technical contact alone."""
    state = await make_state(asp=3, campus_cloud=0)
    rollout, first = await started(state, wave_size=1)
    queued = [r for r in await requests_of(rollout.id) if r.status is S.SCHEDULED]
    mine = next(r for r in queued if r.district_id == state.districts[1].id)
    theirs = next(r for r in queued if r.district_id == state.districts[2].id)
    technical = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [state.districts[1]]))

    refusal = await refused(cancel_update_request(technical, mine.id, now=T0))
    assert refusal.code is ErrorCode.FORBIDDEN and "group's contact" in refusal.message
    assert (await UpdateRequest.get(id=mine.id)).status is S.SCHEDULED
    # The group's state contact may, and so may staff; the rollout keeps running.
    await cancel_update_request(state.contact, mine.id, now=T0)
    await cancel_update_request(state.staff, theirs.id, now=T0)
    assert (await UpdateRequest.get(id=mine.id)).status is S.CANCELLED
    assert (await UpdateRequest.get(id=theirs.id)).status is S.CANCELLED
    assert (await GroupRollout.get(id=rollout.id)).status is R.RUNNING
    # A contact of another group does not even see it; a started one nobody cancels.
    assert (await refused(cancel_update_request(state.outsider, mine.id, now=T0))).code is ErrorCode.NOT_FOUND
    started_one = await refused(cancel_update_request(state.contact, first[0], now=T0))
    assert started_one.code is ErrorCode.INVALID_TRANSITION
