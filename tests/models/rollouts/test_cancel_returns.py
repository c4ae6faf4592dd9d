"""Cancelling a rollout cancels its requests that have not started; one of them that superseded a
district's own older request (asked for before the district joined the group) gives it back to the
queue exactly as cancelling that one request does (DESIGN "Running safely", "Nothing stranded"):
the same history entry, notices and events, in the cancel's transaction. On both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest_asyncio

from models.enums import EventType, Role, UpdateKind
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.requests.withdrawing import cancel_update_request
from models.rollouts.control import cancel_group_rollout
from models.rollouts.starting import start_group_rollout
from models.tables import District, Notification, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account
from tests.models.rollouts.support import TARGET, E, S, State, make_state
from tests.models.scenario import T0

MINUTE = timedelta(minutes=1)
#: What each district asked for by itself, older than the rollout's TARGET.
OLDER = "Campus.2435.3"


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


async def own_request(state: State, district: District, *, scheduled: bool) -> UpdateRequest:
    """`district`, outside the group then, asks for OLDER on staging by itself (staff schedule it,
    when `scheduled`); then it joins the group."""
    await District.filter(id=district.id).update(update_group_id=None)
    technical = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    request = await request_update(
        technical,
        district_id=district.id,
        kind=UpdateKind.VERSION_UPDATE,
        environment=E.STAGING,
        target_version=OLDER,
        now=T0,
    )
    if scheduled:
        await schedule_update_request(state.staff, request.id, T0 + 3 * 60 * MINUTE, now=T0)
    await District.filter(id=district.id).update(update_group_id=state.group.id)
    return await UpdateRequest.get(id=request.id)


async def history_length(request_id: int) -> int:
    return await StatusChange.filter(update_request_id=request_id).count()


async def returned(
    request_id: int, history_before: int, notices_before: int, heard: list[UpdateRequestChanged]
) -> tuple[Any, ...]:
    """What a cancel did to `request_id` as people and subscribers see it: its status and what it
    waits under, its history rows and notices since the given counts, and the events heard about
    it (times left out: the two cancels are made at different moments)."""
    request = await UpdateRequest.get(id=request_id)
    rows = await StatusChange.filter(update_request_id=request_id).order_by("id").offset(history_before)
    notices = await Notification.filter(update_request_id=request_id).order_by("id").offset(notices_before)
    return (
        (request.status, request.superseded_by_id, request.status_message),
        [(r.from_status, r.to_status, r.by_id, r.actor, r.message) for r in rows],
        [(n.kind, n.recipient, n.subject, n.body) for n in notices],
        [
            (e.type, e.from_status, e.status, e.sequence - history_before if e.sequence else None, e.message)
            for e in heard
            if e.update_request_id == request_id and e.type is not EventType.SNAPSHOT
        ],
    )


async def test_cancelling_a_rollout_returns_what_its_requests_superseded_as_a_single_cancel_does(db, heard):
    state = await make_state(asp=2, campus_cloud=0)
    # One district's own request is SCHEDULED, the other's TO_BE_SCHEDULED: both supersedable.
    single_d, rollout_d = state.districts
    singles = await own_request(state, single_d, scheduled=False)
    theirs = await own_request(state, rollout_d, scheduled=True)
    assert (singles.status, theirs.status) == (S.TO_BE_SCHEDULED, S.SCHEDULED)

    rollout = await start_group_rollout(
        state.staff, group_id=state.group.id, environment=E.STAGING, target_version=TARGET, now=T0 + MINUTE
    )
    newer = {r.district_id: r for r in await UpdateRequest.filter(rollout_id=rollout.id)}
    assert set(newer) == {single_d.id, rollout_d.id}, "neither district was skipped"
    for own in (singles, theirs):
        own = await UpdateRequest.get(id=own.id)
        assert (own.status, own.superseded_by_id) == (S.NEW_VERSION_REQUESTED, newer[own.district_id].id)

    # One rollout request cancelled on its own: what that does to the request it superseded.
    counts = {pk: (await history_length(pk), await Notification.filter(update_request_id=pk).count())
              for pk in (singles.id, theirs.id)}  # fmt: skip
    heard.clear()
    await cancel_update_request(state.staff, newer[single_d.id].id, now=T0 + 2 * MINUTE)
    by_single_cancel = await returned(singles.id, *counts[singles.id], heard)

    # The rollout cancelled: its other request is cancelled, and gives back what it superseded.
    heard.clear()
    await cancel_group_rollout(state.staff, rollout.id, now=T0 + 3 * MINUTE)
    assert (await UpdateRequest.get(id=newer[rollout_d.id].id)).status is S.CANCELLED
    by_rollout_cancel = await returned(theirs.id, *counts[theirs.id], heard)

    assert by_rollout_cancel == by_single_cancel
    status, history, _notices, events = by_rollout_cancel
    message = (
        f"The newer request for {TARGET} was cancelled, so this update is back in the queue to be scheduled."
    )
    assert status == (S.TO_BE_SCHEDULED, None, message)
    assert history == [(S.NEW_VERSION_REQUESTED, S.TO_BE_SCHEDULED, None, "SYSTEM", message)]
    assert events == [(EventType.STATUS_CHANGED, S.NEW_VERSION_REQUESTED, S.TO_BE_SCHEDULED, 1, message)]
