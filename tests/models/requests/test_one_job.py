"""One job per environment (issue 12, item 1): a request holds its site, a refresh also production,
from dispatch until it stops running; another due request for it stays SCHEDULED until then.
Against a real database, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from models.enums import EnvironmentKind, HostingModel, UpdateStatus
from models.requests import claims
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.requests.leases import reclaim_lapsed, release_abandoned, release_stopped
from models.requests.staff import set_update_request_status
from models.running import RunPolicy
from models.tables import Environment, UpdateRequest
from tests.factories import make_request
from tests.models.scenario import (
    AFTER_RUN,
    DONE_AT,
    IN_WINDOW,
    OVERRUN_DONE,
    RUN_AT,
    World,
    make_world,
    status_of,
)

S = UpdateStatus
E = EnvironmentKind


async def holder(world: World, kind: E) -> int | None:
    return (await Environment.get(district_id=world.district.id, kind=kind)).running_request_id


async def blocker(request_id: int) -> int | None:
    request = await UpdateRequest.get(id=request_id).select_related("environment")
    _, blocker = await claims.needed_and_blocker(request, request.environment.kind)
    return blocker


@pytest.mark.parametrize("target", [E.SANDBOX, E.STAGING])
@pytest.mark.parametrize("production_at", [S.NOT_STARTED, S.IN_PROGRESS])
async def test_a_refresh_waits_while_production_is_version_updated(db, target, production_at):
    """Issue 12: a sandbox refresh copied production while production was mid-upgrade."""
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(target)
    await world.drive(update.id, production_at)
    await world.schedule(refresh.id, AFTER_RUN)  # after the update's expected hour; it overruns
    assert not await dispatch(refresh.id, now=AFTER_RUN)
    assert await status_of(refresh.id) is S.SCHEDULED
    assert await blocker(refresh.id) == update.id
    if production_at is S.NOT_STARTED:
        assert await begin(update.id, now=AFTER_RUN) is not None
    await complete(update.id, now=OVERRUN_DONE)
    assert await blocker(refresh.id) is None
    assert await dispatch(refresh.id, now=OVERRUN_DONE)
    assert (await holder(world, E.PRODUCTION), await holder(world, target)) == (refresh.id, refresh.id)


async def test_production_is_not_version_updated_while_a_refresh_copies_it(db):
    world = await make_world()
    refresh = await world.request_refresh(E.SANDBOX)
    update = await world.request_version()
    await world.drive(refresh.id, S.IN_PROGRESS)
    await world.schedule(update.id, AFTER_RUN)  # after the refresh's expected hour; it overruns
    assert not await dispatch(update.id, now=AFTER_RUN)
    assert await blocker(update.id) == refresh.id
    await complete(refresh.id, now=OVERRUN_DONE)
    assert await dispatch(update.id, now=OVERRUN_DONE)


async def test_refreshes_of_sandbox_and_staging_take_turns_copying_production(db):
    world = await make_world()
    sandbox = await world.request_refresh(E.SANDBOX)
    staging = await world.request_refresh(E.STAGING)
    await world.schedule(sandbox.id)
    await world.schedule(staging.id, IN_WINDOW + timedelta(hours=1))  # slots may not overlap
    # A late scheduler finds both due at once: the first in start order wins, the other waits.
    assert await dispatch_due(now=AFTER_RUN) == [sandbox.id]
    assert await blocker(staging.id) == sandbox.id
    assert await begin(sandbox.id, now=AFTER_RUN) is not None
    await fail(sandbox.id, "The copy did not finish.", now=OVERRUN_DONE)
    assert await dispatch_due(now=OVERRUN_DONE) == [staging.id]


async def test_other_districts_and_other_sites_do_not_wait(db):
    world = await make_world()
    other = await make_world()
    update = await world.request_version()
    preview = await world.request_version(environment=E.PREVIEW)
    elsewhere = await other.request_version()
    await world.drive(update.id, S.IN_PROGRESS)
    for request in (preview, elsewhere):
        await world.schedule(request.id)
    assert sorted(await dispatch_due(now=RUN_AT)) == sorted([preview.id, elsewhere.id])


@pytest.mark.parametrize("ending", ["complete", "fail", "staff", "lease"])
async def test_every_end_of_a_run_frees_its_sites(db, ending):
    world = await make_world()
    refresh = await world.request_refresh(E.STAGING)
    await world.drive(refresh.id, S.IN_PROGRESS)
    assert (await holder(world, E.PRODUCTION), await holder(world, E.STAGING)) == (refresh.id, refresh.id)
    if ending == "complete":
        await complete(refresh.id, now=DONE_AT)
    elif ending == "fail":
        await fail(refresh.id, "The copy did not finish.", now=DONE_AT)
    elif ending == "staff":
        await world.set_status(refresh.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.")
        assert await holder(world, E.PRODUCTION) == refresh.id  # its job may be mid-step
        assert await release_stopped(refresh.id)  # the job stops and gives the sites back
    else:
        assert await reclaim_lapsed(RunPolicy(attempts=1), now=DONE_AT + timedelta(hours=1))
    assert await status_of(refresh.id) in (S.COMPLETED, S.UNABLE_TO_COMPLETE)
    assert (await holder(world, E.PRODUCTION), await holder(world, E.STAGING)) == (None, None)
    assert (await Environment.get(district_id=world.district.id, kind=E.STAGING)).online


async def test_begin_refuses_a_site_held_by_another_request(db):
    """Dispatch claims; begin claims again, so a request that reached NOT_STARTED without its claim
    (written before claims existed) cannot start on a busy site."""
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED)
    running = await world.request_version()
    await world.drive(running.id, S.IN_PROGRESS)
    legacy = await make_request(world.district, status=S.NOT_STARTED, scheduled_start=IN_WINDOW)
    assert await begin(legacy.id, now=RUN_AT) is None
    assert await status_of(legacy.id) is S.NOT_STARTED
    assert await holder(world, E.PRODUCTION) == running.id


async def test_requests_waiting_for_a_busy_site_do_not_hide_the_ones_behind_them(db):
    """Dispatch pages on (start, id): a page full of waiting requests is passed, not re-read."""
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED)
    other = await make_world(hosting_model=HostingModel.ASP_HOSTED)
    running = await world.request_version()
    await world.drive(running.id, S.IN_PROGRESS)
    waiting = [
        await make_request(
            world.district, status=S.SCHEDULED, scheduled_start=IN_WINDOW - timedelta(minutes=i)
        )
        for i in range(1, 6)
    ]
    free = await make_request(other.district, status=S.SCHEDULED, scheduled_start=IN_WINDOW)
    assert await dispatch_due(now=RUN_AT, limit=2) == [free.id]
    assert {await status_of(r.id) for r in waiting} == {S.SCHEDULED}


async def test_a_site_given_up_by_staff_mid_job_stays_held_until_that_job_has_stopped(db):
    """Staff give up production's update while its job is inside a step: the job learns it only at
    its next renewal or checkpoint, so the site must not go to the waiting refresh before then.
    It is released when the job stops (`release_stopped`), or, if the job's process died, by the
    scheduler's sweep once the job's lease would have lapsed."""
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.drive(update.id, S.IN_PROGRESS)  # begun at RUN_AT by a job: its lease is live
    await world.schedule(refresh.id, AFTER_RUN)
    given_up_at = RUN_AT + timedelta(seconds=5)
    await set_update_request_status(
        world.staff_actor, update.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.", now=given_up_at
    )
    production = await Environment.get(district_id=world.district.id, kind=E.PRODUCTION)
    assert (production.running_request_id, production.online) == (update.id, False)
    assert not await dispatch(refresh.id, now=given_up_at)
    assert await blocker(refresh.id) == update.id
    assert await release_abandoned(given_up_at) == []  # its job may still be at work
    # The job stops (its renewal is refused) and gives the site back.
    assert await release_stopped(update.id)
    production = await Environment.get(id=production.id)
    assert (production.running_request_id, production.online) == (None, True)
    assert await dispatch(refresh.id, now=AFTER_RUN)


async def test_a_stopping_job_s_release_racing_a_dispatch_for_its_site_leaves_one_holder(postgres_db):
    """Truly concurrent (PostgreSQL): the given-up update's job stops and gives production back
    (`release_stopped`) while the scheduler dispatches the refresh waiting for it. Both write the
    production row (the refresh also its own sandbox): in either order neither waits forever nor
    deadlocks, the refresh holds both sites exactly when it was dispatched, and the stopped update
    never keeps one. Rounds alternate which of the two reaches the database first."""
    for round_ in range(8):
        world = await make_world()
        update = await world.request_version()
        refresh = await world.request_refresh(E.SANDBOX)
        await world.drive(update.id, S.IN_PROGRESS)
        await world.schedule(refresh.id, AFTER_RUN)
        given_up_at = RUN_AT + timedelta(seconds=5)
        await set_update_request_status(
            world.staff_actor, update.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.", now=given_up_at
        )
        releasing, dispatching = release_stopped(update.id), dispatch(refresh.id, now=AFTER_RUN)
        if round_ % 2:  # either one reaches the database first
            dispatched, released = await asyncio.gather(dispatching, releasing)
        else:
            released, dispatched = await asyncio.gather(releasing, dispatching)
        assert released
        if dispatched:
            assert await status_of(refresh.id) is S.NOT_STARTED
        else:  # the dispatch found the site still held: it waits, and the next pass starts it
            assert await status_of(refresh.id) is S.SCHEDULED
            assert (await holder(world, E.PRODUCTION), await holder(world, E.SANDBOX)) == (None, None)
            assert await dispatch(refresh.id, now=AFTER_RUN)
        assert (await holder(world, E.PRODUCTION), await holder(world, E.SANDBOX)) == (refresh.id, refresh.id)


async def test_a_site_left_held_by_a_dead_job_is_freed_once_its_lease_would_have_lapsed(db):
    world = await make_world()
    update = await world.request_version()
    await world.drive(update.id, S.IN_PROGRESS)
    given_up_at = RUN_AT + timedelta(seconds=5)
    await set_update_request_status(
        world.staff_actor, update.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.", now=given_up_at
    )
    lapses_at = (await UpdateRequest.get(id=update.id)).lease_expires_at
    assert lapses_at is not None and lapses_at > given_up_at
    assert await release_abandoned(lapses_at - timedelta(seconds=1)) == []
    assert await release_abandoned(lapses_at) == [update.id]
    assert await holder(world, E.PRODUCTION) is None
    assert await release_abandoned(lapses_at) == []  # once


async def test_staff_giving_up_work_no_job_has_begun_frees_the_site_at_once(db):
    world = await make_world()
    update = await world.request_version()
    await world.drive(update.id, S.NOT_STARTED)  # dispatched; its lease has no holder
    await set_update_request_status(
        world.staff_actor, update.id, S.UNABLE_TO_COMPLETE, "Not tonight.", now=IN_WINDOW
    )
    assert await holder(world, E.PRODUCTION) is None
