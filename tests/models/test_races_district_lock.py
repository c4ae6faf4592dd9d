"""Races on PostgreSQL between a production update's completion, which writes the automatic sandbox
update (a new row of the district: its foreign key takes a share lock on the district's row), and
a cancel, which locks the district's row first and then the request it cancels. Each operation in
its own transaction on a pooled connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models.enums import ErrorCode, UpdateStatus
from models.errors import DomainError
from models.requests import completion, withdrawing
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.withdrawing import cancel_update_request
from models.tables import UpdateRequest
from tests.models.scenario import DONE_AT, IN_WINDOW, RUN_AT, make_world, status_of

S = UpdateStatus
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

#: Bound on each wait for the other side: a step that never comes fails the test, never hangs it.
WAIT = 10
#: Round trips spent looking for a session that waits for a lock.
MAX_POLLS = 2000


async def until_a_lock_is_awaited() -> None:
    for _ in range(MAX_POLLS):
        rows = await UpdateRequest._meta.db.execute_query_dict(
            "SELECT count(*) AS n FROM pg_locks WHERE NOT granted"
        )
        if int(rows[0]["n"]) > 0:
            return
    raise AssertionError("no session ever waited for a lock")


async def test_a_cancel_of_a_request_as_it_completes_is_refused_and_the_completion_stands(
    postgres_db, monkeypatch
):
    """The completion has written COMPLETED (the request's row is its) and is about to bring the
    sandbox along when the cancel comes. It used to lock the district and wait for the request's
    row, while the completion's new sandbox row waited for the district: a deadlock, which the
    database broke by failing one of them (the cancel's caller got an internal error, or the
    production update's completion was rolled back). The completion commits; the cancel is
    refused as any cancel of work that has begun."""
    world = await make_world()
    request = await world.request_version("Campus.2435.4")
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW)
    assert await begin(request.id, now=RUN_AT, token="job") is not None

    completed_row = asyncio.Event()
    follow = completion.follow_with_sandbox
    read = withdrawing.get_visible_request

    async def follow_once_the_cancel_waits(*args: Any, **kwargs: Any) -> Any:
        completed_row.set()
        await until_a_lock_is_awaited()  # the cancel's, for the district's row or the request's
        return await follow(*args, **kwargs)

    async def read_once_completed(actor: Any, pk: int, **kwargs: Any) -> UpdateRequest:
        if not kwargs.get("for_update"):
            await asyncio.wait_for(completed_row.wait(), WAIT)
        return await read(actor, pk, **kwargs)

    monkeypatch.setattr(completion, "follow_with_sandbox", follow_once_the_cancel_waits)
    monkeypatch.setattr(withdrawing, "get_visible_request", read_once_completed)
    finished, cancelled = await asyncio.gather(
        complete(request.id, now=DONE_AT, lease_token="job"),
        cancel_update_request(world.staff_actor, request.id, now=DONE_AT),
        return_exceptions=True,
    )
    assert not isinstance(finished, BaseException), repr(finished)
    assert isinstance(cancelled, DomainError), repr(cancelled)
    assert cancelled.code is ErrorCode.INVALID_TRANSITION
    assert await status_of(request.id) is S.COMPLETED
    assert await UpdateRequest.filter(district_id=world.district.id, automatic=True).count() == 1


async def test_cancelling_a_request_staff_took_back_as_the_newest_completes_never_deadlocks(
    postgres_db, monkeypatch
):
    """2435.3 is superseded by 2435.4, and that by 2435.9; staff take 2435.4 back into the queue.
    As 2435.9 completes (bringing 2435.3 along: the site gets past it), the district cancels
    2435.4, which returns what it superseded (2435.3) to the queue. Whichever comes first, both
    succeed, and 2435.3 is never left waiting under a cancelled request."""
    world = await make_world()
    first = await world.request_version("Campus.2435.3")
    second = await world.request_version("Campus.2435.4")
    newest = await world.request_version("Campus.2435.9")
    await world.set_status(second.id, S.TO_BE_SCHEDULED, "The district wants this one on its own.")
    await world.schedule(newest.id)
    assert await dispatch(newest.id, now=IN_WINDOW)
    assert await begin(newest.id, now=RUN_AT, token="job") is not None

    completed_rows = asyncio.Event()
    follow = completion.follow_with_sandbox
    read = withdrawing.get_visible_request

    async def follow_once_the_cancel_waits(*args: Any, **kwargs: Any) -> Any:
        completed_rows.set()
        await until_a_lock_is_awaited()
        return await follow(*args, **kwargs)

    async def read_once_completed(actor: Any, pk: int, **kwargs: Any) -> UpdateRequest:
        if not kwargs.get("for_update"):
            await asyncio.wait_for(completed_rows.wait(), WAIT)
        return await read(actor, pk, **kwargs)

    monkeypatch.setattr(completion, "follow_with_sandbox", follow_once_the_cancel_waits)
    monkeypatch.setattr(withdrawing, "get_visible_request", read_once_completed)
    finished, cancelled = await asyncio.gather(
        complete(newest.id, now=DONE_AT, lease_token="job"),
        cancel_update_request(world.requester_actor, second.id, now=DONE_AT),
        return_exceptions=True,
    )
    assert not isinstance(finished, BaseException), repr(finished)
    assert not isinstance(cancelled, BaseException), repr(cancelled)
    assert (await status_of(newest.id), await status_of(second.id)) == (S.COMPLETED, S.CANCELLED)
    assert await status_of(first.id) is S.COMPLETED  # brought along by 2435.9, which came first
