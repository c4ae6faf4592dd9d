"""Races on PostgreSQL between giving back the sites of a request that stopped running (the
scheduler's sweep, `release_abandoned`; a stopped job, `release_stopped`) and the same request
tried again and dispatched anew. Claims are keyed by the request, not by its run: a release
decided on a read of the given-up request must not free the claim its new run took since. Each
side is paused at its first release (`claims.release`) while the other goes through, so the
interleaving is forced, not hoped for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from models.enums import EnvironmentKind, UpdateStatus
from models.requests import claims
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.leases import release_abandoned, release_stopped
from models.running import RunPolicy
from models.tables import Environment, UpdateRequest
from tests.models.scenario import IN_WINDOW, RUN_AT, World, make_world, status_of

S = UpdateStatus
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

LEASE = timedelta(seconds=60)
POLICY = RunPolicy(lease=LEASE, attempts=2)
#: The old job's lease has lapsed: the sweep may free what the request still holds.
LAPSED = RUN_AT + LEASE + timedelta(seconds=1)
#: Bound on each wait for the other side: a step that never comes fails the test, never hangs it.
WAIT = 10
#: How long the other side may run between two looks for a session waiting for a lock.
LOOK_EVERY = 0.05
_WAITING_HERE = (
    "SELECT count(*) AS n FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def given_up_mid_job(world: World) -> UpdateRequest:
    """Production's update, begun by the job 'old-job', given up by staff while that job's lease is
    live: the site stays held for the job, which may be inside a step."""
    request = await world.request_version()
    await world.schedule(request.id)
    assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
    assert await begin(request.id, now=RUN_AT, token="old-job", policy=POLICY) is not None
    await world.set_status(request.id, S.UNABLE_TO_COMPLETE, "Stopped: the district asked us to wait.")
    assert await holder(world) == request.id
    return request


async def tried_again_and_dispatched(world: World, request_id: int) -> None:
    """Staff try the request again and the scheduler dispatches it: its new run claims the site."""
    await world.set_status(request_id, S.TO_BE_SCHEDULED)
    await world.schedule(request_id, RUN_AT + timedelta(seconds=30))
    assert await dispatch(request_id, now=LAPSED, policy=POLICY)


async def holder(world: World) -> int | None:
    site = await Environment.get(district_id=world.district.id, kind=EnvironmentKind.PRODUCTION)
    return site.running_request_id


async def until_done_or_waiting_for_a_lock(task: asyncio.Task[Any]) -> None:
    """The other side went through, or waits for a row lock (in this test's database) that the
    paused side holds. Looked at between short waits for the other side to finish."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done, _ = await asyncio.wait({task}, timeout=LOOK_EVERY)
        if done:
            return
        rows = await UpdateRequest._meta.db.execute_query_dict(_WAITING_HERE)
        if int(rows[0]["n"]) > 0:
            return
    raise AssertionError("the other side neither finished nor waited for a lock")


async def paused_at_release_while(
    paused: Awaitable[Any], meanwhile: Callable[[int], Awaitable[None]], monkeypatch: Any
) -> Any:
    """Run `paused` until its first release, run `meanwhile` with the id of the request it is
    about to release (until it finishes, or waits for a lock `paused` holds), then let `paused`
    go on. What `paused` returned. Only that first release waits: `meanwhile`'s go through."""
    release = claims.release
    about_to_release: list[int] = []
    waiting, gate = asyncio.Event(), asyncio.Event()

    async def first_one_waits(request: UpdateRequest, *args: Any, **kwargs: Any) -> None:
        if not about_to_release:
            about_to_release.append(request.id)
            waiting.set()
            await gate.wait()
        await release(request, *args, **kwargs)

    monkeypatch.setattr(claims, "release", first_one_waits)
    first = asyncio.ensure_future(paused)
    await asyncio.wait_for(waiting.wait(), WAIT)
    other = asyncio.ensure_future(meanwhile(about_to_release[0]))
    await until_done_or_waiting_for_a_lock(other)
    gate.set()
    result = await asyncio.wait_for(first, WAIT)
    await asyncio.wait_for(other, WAIT)
    return result


async def test_the_sweep_never_frees_the_claim_of_a_run_dispatched_after_its_read(postgres_db, monkeypatch):
    """The sweep reads the given-up request (its job's lease lapsed) and is about to free its site.
    Meanwhile the old job stops and gives the site back, staff try the request again, and it is
    dispatched: the site is its new run's. The sweep must leave it held, or other work starts on
    the site beside that run."""
    world = await make_world()
    request = await given_up_mid_job(world)

    async def old_job_stops_and_staff_retry(_: int) -> None:
        assert await release_stopped(request.id, "old-job")
        await tried_again_and_dispatched(world, request.id)

    await paused_at_release_while(release_abandoned(LAPSED), old_job_stops_and_staff_retry, monkeypatch)
    assert await status_of(request.id) is S.NOT_STARTED
    assert await holder(world) == request.id


async def test_the_sweep_skips_a_request_dispatched_again_after_its_read_of_a_batch(postgres_db, monkeypatch):
    """Two given-up requests in one sweep: while it frees the first one's site, the second is
    given back by its job, tried again and dispatched. The sweep re-reads it before its release
    and leaves its new run's claim alone."""
    worlds = [await make_world(), await make_world()]
    requests = [await given_up_mid_job(world) for world in worlds]
    ids = [request.id for request in requests]

    async def the_other_is_tried_again(first: int) -> None:
        other = 1 - ids.index(first)
        assert await release_stopped(ids[other], "old-job")
        await tried_again_and_dispatched(worlds[other], ids[other])

    swept = await paused_at_release_while(release_abandoned(LAPSED), the_other_is_tried_again, monkeypatch)
    first = swept[0]
    other = 1 - ids.index(first)
    assert swept == [first]
    assert await status_of(ids[other]) is S.NOT_STARTED
    assert await holder(worlds[other]) == ids[other]
    assert await holder(worlds[1 - other]) is None


async def test_a_stopping_job_never_frees_the_claim_of_a_run_dispatched_after_its_read(
    postgres_db, monkeypatch
):
    """The old job stops and reads its given-up request, about to give the site back. Meanwhile
    the sweep frees it (the job's lease lapsed while it stalled), staff try the request again, and
    it is dispatched. The job must leave the new run's claim alone."""
    world = await make_world()
    request = await given_up_mid_job(world)

    async def swept_and_staff_retry(_: int) -> None:
        await release_abandoned(LAPSED)
        await tried_again_and_dispatched(world, request.id)

    await paused_at_release_while(release_stopped(request.id, "old-job"), swept_and_staff_retry, monkeypatch)
    assert await status_of(request.id) is S.NOT_STARTED
    assert await holder(world) == request.id
