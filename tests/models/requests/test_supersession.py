"""Supersession undone on cancel (issue 12, item 5): when the newer request is cancelled, the ones
it superseded return to TO_BE_SCHEDULED (a system move saying why); staff may return one too.
Against a real database, on both backends."""

from __future__ import annotations

import pytest

from models.enums import ErrorCode, UpdateStatus
from models.errors import DomainError
from models.lifecycle import may_cancel
from models.requests.queries import listed_requests
from models.requests.staff import set_update_request_status
from models.tables import StatusChange, UpdateRequest
from tests.models.scenario import World, make_world, status_of

S = UpdateStatus


async def last_change(request_id: int) -> StatusChange:
    row = await StatusChange.filter(update_request_id=request_id).order_by("-id").first()
    assert row is not None
    return row


async def chain(world: World) -> tuple[UpdateRequest, UpdateRequest, UpdateRequest]:
    first = await world.request_version("Campus.2435.3")
    second = await world.request_version("Campus.2435.4")
    third = await world.request_version("Campus.2435.9")
    return first, second, third


async def test_cancelling_the_newer_request_returns_the_older_one(db):
    """Issue 12: the superseded request stayed NEW_VERSION_REQUESTED forever: it could be neither
    cancelled nor deleted, and Hide Complete did not hide it."""
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    newer = await world.request_version("Campus.2435.4")
    await world.cancel(newer.id)
    returned = await UpdateRequest.get(id=older.id)
    assert (returned.status, returned.superseded_by_id) == (S.TO_BE_SCHEDULED, None)
    change = await last_change(older.id)
    assert (change.from_status, change.to_status, change.actor, change.by_id) == (
        S.NEW_VERSION_REQUESTED,
        S.TO_BE_SCHEDULED,
        "SYSTEM",
        None,
    )
    assert change.message is not None and "Campus.2435.4 was cancelled" in change.message
    assert may_cancel(world.requester_actor, returned)
    await world.cancel(older.id)
    assert await status_of(older.id) is S.CANCELLED


async def test_a_chain_unwinds_one_link_per_cancel(db):
    world = await make_world()
    first, second, third = await chain(world)
    await world.cancel(third.id)
    assert (await status_of(second.id), await status_of(first.id)) == (
        S.TO_BE_SCHEDULED,
        S.NEW_VERSION_REQUESTED,
    )
    assert (await UpdateRequest.get(id=first.id)).superseded_by_id == second.id  # still under the open one
    await world.cancel(second.id)
    assert await status_of(first.id) is S.TO_BE_SCHEDULED
    listed = await listed_requests(world.requester_actor, hide_completed=True, district_id=world.district.id)
    assert [r.id for r in listed] == [first.id]


async def test_a_returned_request_completes_normally(db):
    world = await make_world()
    first, second, third = await chain(world)
    await world.cancel(third.id)
    await world.drive(second.id, S.COMPLETED)
    assert (await status_of(second.id), await status_of(first.id)) == (S.COMPLETED, S.COMPLETED)


async def test_staff_may_return_a_superseded_request_and_requesters_may_not(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    await world.request_version("Campus.2435.4")
    with pytest.raises(DomainError) as caught:
        await set_update_request_status(world.requester_actor, older.id, S.TO_BE_SCHEDULED)
    assert caught.value.code is ErrorCode.FORBIDDEN
    await world.set_status(older.id, S.TO_BE_SCHEDULED, "The district wants this one on its own.")
    returned = await UpdateRequest.get(id=older.id)
    assert (returned.status, returned.superseded_by_id) == (S.TO_BE_SCHEDULED, None)
    assert (await last_change(older.id)).actor == "STAFF"


async def test_a_request_whose_superseder_failed_completes_with_a_later_update_that_brings_it(db):
    """2435.3 is superseded by 2435.4, which fails; the district then asks for 2435.9 (the failed
    one is not open, so nothing is superseded) and it completes. The site runs 2435.9: the request
    for 2435.3 must not wait for 2435.4 forever; the failed one stays for staff to decide."""
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    failed = await world.request_version("Campus.2435.4")
    await world.drive(failed.id, S.UNABLE_TO_COMPLETE)
    assert await status_of(older.id) is S.NEW_VERSION_REQUESTED
    later = await world.request_version("Campus.2435.9")
    assert (await UpdateRequest.get(id=later.id)).status is S.TO_BE_SCHEDULED
    await world.drive(later.id, S.COMPLETED)
    done = await UpdateRequest.get(id=older.id)
    assert (done.status, done.completed_at is not None) == (S.COMPLETED, True)
    assert "Completed together with" in (await last_change(older.id)).message
    assert await status_of(failed.id) is S.UNABLE_TO_COMPLETE
