"""The end of a run: the environment's version, refresh time and online flag, superseded requests, the
sandbox following production.
Against a real database, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.enums import (
    EnvironmentKind,
    ErrorCode,
    HostingModel,
    UpdateKind,
    UpdateStatus,
)
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.requests.leases import release_stopped
from models.tables import StatusChange, UpdateRequest
from tests.models.scenario import (
    AFTER_RUN,
    DONE_AT,
    OUTSIDE_WINDOW,
    OVERRUN_DONE,
    RUN_AT,
    environment,
    history,
    make_world,
    refused,
    status_of,
)

S = UpdateStatus
E = EnvironmentKind


@pytest.mark.parametrize("source", [S.TO_BE_SCHEDULED, S.NOT_STARTED, S.COMPLETED])
async def test_worker_cannot_complete_what_is_not_running(db, source):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, source)
    assert (await refused(complete(request.id, now=DONE_AT))).code is ErrorCode.INVALID_TRANSITION
    assert await status_of(request.id) is source


async def test_completing_the_newer_completes_the_older(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    newer = await world.request_version("Campus.2435.4")
    await world.schedule(newer.id, OUTSIDE_WINDOW, override=True)
    assert await dispatch(newer.id, now=OUTSIDE_WINDOW)
    assert await begin(newer.id, now=OUTSIDE_WINDOW) is not None
    await complete(newer.id, now=OUTSIDE_WINDOW + timedelta(hours=1))
    stored_older = await UpdateRequest.get(id=older.id)
    assert stored_older.status is S.COMPLETED
    assert stored_older.completed_at == OUTSIDE_WINDOW + timedelta(hours=1)
    assert (await history(older.id))[-1] == (S.NEW_VERSION_REQUESTED, S.COMPLETED, "SYSTEM")
    last = await StatusChange.filter(update_request_id=older.id).order_by("-id").first()
    assert last is not None
    assert last.message == "Completed together with the update of the production site to Campus.2435.4."
    production = await environment(world)
    assert production.current_version == "Campus.2435.4"


async def test_supersession_chains_complete_together(db):
    world = await make_world()
    first = await world.request_version("Campus.2435.3")
    second = await world.request_version("Campus.2435.4")
    third = await world.request_version("Campus.2435.9")
    assert (await UpdateRequest.get(id=second.id)).superseded_by_id == third.id
    await world.drive(third.id, S.COMPLETED)
    assert [await status_of(r.id) for r in (first, second, third)] == [S.COMPLETED] * 3


async def test_in_progress_takes_the_site_offline_and_completion_brings_it_back(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.NOT_STARTED)
    assert (await environment(world)).online
    claimed = await begin(request.id, now=RUN_AT)
    assert claimed is not None
    started, site = claimed
    assert started.started_at == RUN_AT and started.attempts == 1
    assert (site.district.id, site.environment.id) == (world.district.id, started.environment_id)
    assert not (await environment(world)).online
    assert (await environment(world, E.STAGING)).online  # only the environment being updated
    await complete(request.id, now=DONE_AT)
    production = await environment(world)
    assert production.online
    assert (production.current_version, production.version_updated_at) == ("Campus.2435.4", DONE_AT)
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.completed_at, stored.progress_percent) == (DONE_AT, 100)


@pytest.mark.parametrize("ending", ["complete", "fail", "staff"])
async def test_a_second_request_on_a_site_waits_until_the_first_ends(db, ending):
    """Issue 12: a staging refresh and a staging version update both reached IN_PROGRESS. The
    refresh is scheduled after the update's expected hour; the update overruns it."""
    world = await make_world()
    update = await world.request_version(environment=E.STAGING)
    refresh = await world.request_refresh(E.STAGING)
    await world.drive(update.id, S.IN_PROGRESS)
    await world.schedule(refresh.id, AFTER_RUN)
    assert not await dispatch(refresh.id, now=AFTER_RUN)
    assert await status_of(refresh.id) is S.SCHEDULED
    assert not (await environment(world, E.STAGING)).online
    if ending == "complete":
        await complete(update.id, now=OVERRUN_DONE)
    elif ending == "fail":
        await fail(update.id, "The upgrade stopped.", now=OVERRUN_DONE)
    else:
        await world.set_status(update.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.")
        assert not await dispatch(refresh.id, now=OVERRUN_DONE)  # its job may still be mid-step
        assert await release_stopped(update.id)  # the job stops and gives the site back
    staging = await environment(world, E.STAGING)
    assert staging.online and staging.running_request_id is None
    assert await dispatch(refresh.id, now=OVERRUN_DONE)
    assert (await environment(world, E.STAGING)).running_request_id == refresh.id


async def test_failure_brings_the_site_back_online_with_the_reason(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.IN_PROGRESS)
    failed = await fail(request.id, "The upgrade script stopped at step 3.", now=DONE_AT)
    assert failed.status is S.UNABLE_TO_COMPLETE
    assert failed.status_message == "The upgrade script stopped at step 3."
    production = await environment(world)
    assert production.online and production.current_version == "Campus.2435.2"
    # Staff try again from the start: checkpoints and progress are forgotten.
    await world.set_status(request.id, S.TO_BE_SCHEDULED)
    retried = await UpdateRequest.get(id=request.id)
    assert (retried.status, retried.attempts, retried.started_at, retried.completed_steps) == (
        S.TO_BE_SCHEDULED,
        0,
        None,
        [],
    )


async def test_refresh_sets_last_refreshed_at_and_keeps_the_version(db):
    world = await make_world()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.drive(refresh.id, S.COMPLETED)
    sandbox = await environment(world, E.SANDBOX)
    assert (sandbox.last_refreshed_at, sandbox.current_version, sandbox.version_updated_at) == (
        DONE_AT,
        "Campus.2435.2",
        None,
    )
    assert sandbox.online
    assert await UpdateRequest.filter(automatic=True).count() == 0


async def test_production_update_brings_an_automatic_sandbox_update(db):
    world = await make_world()
    request = await world.request_version("Campus.2435.4")
    await world.drive(request.id, S.COMPLETED)
    sandbox_env = await environment(world, E.SANDBOX)
    automatic = await UpdateRequest.get(automatic=True)
    assert (automatic.environment_id, automatic.kind, automatic.target_version, automatic.status) == (
        sandbox_env.id,
        UpdateKind.VERSION_UPDATE,
        "Campus.2435.4",
        S.SCHEDULED,
    )
    assert automatic.scheduled_start == DONE_AT
    assert automatic.requested_by_id is None
    assert await history(automatic.id) == [
        (None, S.TO_BE_SCHEDULED, "SYSTEM"),
        (S.TO_BE_SCHEDULED, S.SCHEDULED, "SYSTEM"),
    ]
    # It runs like any other request and updates the sandbox's version.
    assert await dispatch_due(now=DONE_AT) == [automatic.id]
    assert await begin(automatic.id, now=DONE_AT) is not None
    assert not (await environment(world, E.SANDBOX)).online
    later = DONE_AT + timedelta(minutes=20)
    await complete(automatic.id, now=later)
    sandbox_env = await environment(world, E.SANDBOX)
    assert (sandbox_env.current_version, sandbox_env.version_updated_at, sandbox_env.online) == (
        "Campus.2435.4",
        later,
        True,
    )
    # A sandbox update does not bring another one.
    assert await UpdateRequest.filter(automatic=True).count() == 1


@pytest.mark.parametrize("target", [E.STAGING, E.PREVIEW])
async def test_other_environments_do_not_bring_a_sandbox_update(db, target):
    world = await make_world()
    request = await world.request_version(environment=target)
    await world.drive(request.id, S.COMPLETED)
    assert await UpdateRequest.filter(automatic=True).count() == 0
    assert (await environment(world, target)).current_version == "Campus.2435.4"
    assert (await environment(world, E.PRODUCTION)).current_version == "Campus.2435.2"


async def test_no_sandbox_update_when_the_district_has_no_sandbox(db):
    world = await make_world(hosting_model=HostingModel.ASP_HOSTED, environments=(E.PRODUCTION,))
    request = await world.request_version()
    await world.drive(request.id, S.COMPLETED)
    assert await UpdateRequest.filter(automatic=True).count() == 0
