"""Supersession chains, the sandbox following production and numeric version order, walked through
sequences staff and districts can make (DESIGN "Update requests", "Releases and versions",
"Statuses and who moves them"). Guards: each held on the code it was written against.
Against a real database, on both backends."""

from __future__ import annotations

from datetime import timedelta

from models.enums import EnvironmentKind, ErrorCode, UpdateStatus
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.tables import Environment, UpdateRequest
from tests.factories import make_catalog
from tests.models.scenario import DONE_AT, IN_WINDOW, World, environment, make_world, refused, status_of

S = UpdateStatus
E = EnvironmentKind
NEXT_WEEK = IN_WINDOW + timedelta(days=7)


async def chain(world: World) -> tuple[UpdateRequest, UpdateRequest, UpdateRequest]:
    """2435.3 superseded by 2435.4, superseded by 2435.9."""
    first = await world.request_version("Campus.2435.3")
    second = await world.request_version("Campus.2435.4")
    third = await world.request_version("Campus.2435.9")
    return first, second, third


async def test_a_failed_newest_request_tried_again_completes_the_whole_chain(db):
    world = await make_world()
    first, second, third = await chain(world)
    await world.drive(third.id, S.UNABLE_TO_COMPLETE)
    assert (await status_of(first.id), await status_of(second.id)) == (S.NEW_VERSION_REQUESTED,) * 2
    await world.set_status(third.id, S.TO_BE_SCHEDULED, "We fixed the disk; trying again.")
    await world.drive(third.id, S.COMPLETED)
    assert [await status_of(r.id) for r in (first, second, third)] == [S.COMPLETED] * 3
    assert (await environment(world)).current_version == "Campus.2435.9"


async def test_a_request_staff_took_back_while_the_newest_was_open_never_installs_over_it(db):
    """Staff return the middle request while the newest is open; the newest completes. The first
    (still under the returned one) completes with it; the returned one, when its time comes,
    completes without running instead of taking production back to 2435.4."""
    world = await make_world()
    first, second, third = await chain(world)
    await world.set_status(second.id, S.TO_BE_SCHEDULED, "The district wants this one on its own.")
    assert (await UpdateRequest.get(id=first.id)).superseded_by_id == second.id
    await world.drive(third.id, S.COMPLETED)
    assert (await status_of(first.id), await status_of(second.id)) == (S.COMPLETED, S.TO_BE_SCHEDULED)
    await world.schedule(second.id, NEXT_WEEK)
    assert await dispatch(second.id, now=NEXT_WEEK)
    assert await begin(second.id, now=NEXT_WEEK) is None  # completed when picked up, never run
    assert await status_of(second.id) is S.COMPLETED
    assert (await environment(world)).current_version == "Campus.2435.9"


async def test_versions_order_by_their_numbers_through_requests_and_the_sandbox(db):
    await make_catalog(["Campus.2435.04"])
    world = await make_world()
    await Environment.filter(district_id=world.district.id, kind=E.STAGING).update(
        current_version="Campus.2435.4"
    )
    assert (
        await refused(world.request_version("Campus.2435.04", E.STAGING))
    ).code is ErrorCode.VERSION_NOT_NEWER
    ten = await world.request_version("Campus.2435.10")
    assert (await refused(world.request_version("Campus.2435.9"))).code is ErrorCode.DUPLICATE_REQUEST
    await world.cancel(ten.id)
    nine = await world.request_version("Campus.2435.9")
    ten = await world.request_version("Campus.2435.10")
    assert (await UpdateRequest.get(id=nine.id)).superseded_by_id == ten.id
    await world.drive(ten.id, S.COMPLETED)
    assert await status_of(nine.id) is S.COMPLETED
    assert (await UpdateRequest.get(automatic=True)).target_version == "Campus.2435.10"


async def test_a_sandbox_already_on_a_newer_version_gets_no_automatic_update(db):
    world = await make_world()
    await Environment.filter(district_id=world.district.id, kind=E.SANDBOX).update(
        current_version="Campus.2435.10"
    )
    production = await world.request_version("Campus.2435.9")
    await world.drive(production.id, S.COMPLETED)
    assert not await UpdateRequest.filter(automatic=True).exists()
    assert (await environment(world, E.SANDBOX)).current_version == "Campus.2435.10"


async def test_an_automatic_sandbox_update_in_progress_finishes_and_the_newer_one_runs_after_it(db):
    world = await make_world()
    first = await world.request_version("Campus.2435.4")
    await world.drive(first.id, S.COMPLETED)
    older = await UpdateRequest.get(automatic=True)
    assert await dispatch(older.id, now=DONE_AT)
    assert await begin(older.id, now=DONE_AT + timedelta(minutes=1)) is not None
    second = await world.request_version("Campus.2435.9", now=DONE_AT)
    await world.schedule(second.id, NEXT_WEEK)
    assert await dispatch(second.id, now=NEXT_WEEK)
    assert await begin(second.id, now=NEXT_WEEK) is not None
    await complete(second.id, now=NEXT_WEEK + timedelta(minutes=20))
    newer = await UpdateRequest.get(automatic=True, target_version="Campus.2435.9")
    assert (newer.status, await status_of(older.id)) == (S.SCHEDULED, S.IN_PROGRESS)  # not superseded
    assert newer.scheduled_start is not None
    await complete(older.id, now=NEXT_WEEK + timedelta(minutes=21))
    assert (await environment(world, E.SANDBOX)).current_version == "Campus.2435.4"
    due = max(newer.scheduled_start, NEXT_WEEK + timedelta(minutes=22))
    assert await dispatch(newer.id, now=due)
    assert await begin(newer.id, now=due) is not None
    await complete(newer.id, now=due + timedelta(minutes=5))
    assert (await environment(world, E.SANDBOX)).current_version == "Campus.2435.9"
