"""Staff withdrawing work through a status move (setUpdateRequestStatus to CANCELLED) undoes a
supersession exactly as cancelUpdateRequest does: nothing is left waiting on a cancelled request.
Against a real database, on both backends."""

from __future__ import annotations

import asyncio

import pytest

from models.enums import UpdateStatus
from models.tables import UpdateRequest
from tests.models.scenario import history, make_world, status_of
from tests.reliability.support import count, illegal_moves

S = UpdateStatus
TRIALS = count(40, 400)


@pytest.mark.parametrize("scheduled", [False, True], ids=["to-be-scheduled", "scheduled"])
async def test_a_staff_status_cancel_returns_what_the_request_superseded(db, scheduled):
    world = await make_world()
    older = await world.request_version("Campus.2435.4")
    newer = await world.request_version("Campus.2435.10")
    assert await status_of(older.id) is S.NEW_VERSION_REQUESTED
    if scheduled:
        await world.schedule(newer.id)

    await world.set_status(newer.id, S.CANCELLED, "Not needed after all.")

    assert await status_of(newer.id) is S.CANCELLED
    returned = await UpdateRequest.get(id=older.id)
    assert (returned.status, returned.superseded_by_id) == (S.TO_BE_SCHEDULED, None)
    last = (await history(older.id))[-1]
    assert last[:2] == (S.NEW_VERSION_REQUESTED, S.TO_BE_SCHEDULED)
    # Back in the queue on its own: it can be cancelled by the district like any other.
    assert (await world.cancel(older.id)).status is S.CANCELLED


async def stranded_older(older_id: int, newest_id: int) -> str | None:
    """How the older request was left, when it was: open beside the newest, unsuperseded (it would
    run on its own), or waiting on a request that will never complete."""
    older = await UpdateRequest.get(id=older_id)
    if older.status in (S.TO_BE_SCHEDULED, S.SCHEDULED) and await status_of(newest_id) is S.TO_BE_SCHEDULED:
        return f"open beside the newest ({older.status.value})"
    if older.status is S.NEW_VERSION_REQUESTED:
        assert older.superseded_by_id is not None
        if await status_of(older.superseded_by_id) is S.CANCELLED:
            return "waiting on a cancelled request"
    return None


@pytest.mark.reliability
async def test_a_staff_status_cancel_racing_a_newer_request_strands_nothing(postgres_db):
    """A was superseded by B; staff cancel B by a status move just as the district asks for C
    (newer still): whichever comes first, A ends superseded by C, never open beside it nor left
    waiting on the cancelled B."""
    stranded: list[str] = []
    for trial in range(TRIALS):
        world = await make_world()
        a = await world.request_version("Campus.2435.3")
        b = await world.request_version("Campus.2435.4")
        racing = [world.set_status(b.id, S.CANCELLED, "Not needed."), world.request_version("Campus.2435.9")]
        if trial % 2:  # either one sent first
            racing.reverse()
        results = await asyncio.gather(*racing, return_exceptions=True)
        if trial % 2:
            results.reverse()
        assert not isinstance(results[1], BaseException), f"trial {trial}: {results[1]!r}"
        how = await stranded_older(a.id, results[1].id)
        if how is not None:
            stranded.append(f"trial {trial}: A {how}; cancel {results[0]!r}")
    assert stranded == []
    assert await illegal_moves() == []
