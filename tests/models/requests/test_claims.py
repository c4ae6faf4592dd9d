"""Claims and releases of two sites (a refresh holds production and its own site): all or none,
only the rows the request holds, and on PostgreSQL (where the rows of one claim or release are one
statement) still one row at a time in the claim's order, production first, so that transactions
never wait on each other in a circle."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from asyncpg.exceptions import LockNotAvailableError
from tortoise.exceptions import OperationalError
from tortoise.transactions import in_transaction

from models.enums import EnvironmentKind
from models.requests import claims
from models.tables import Environment, UpdateRequest
from tests import support
from tests.models.scenario import World, make_world

E = EnvironmentKind
#: Bounds a wait for the claim to reach the row another transaction holds.
WITHIN = 10.0
REFRESHED_AT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


async def site(world: World, kind: E) -> Environment:
    return await Environment.get(district_id=world.district.id, kind=kind)


async def refresh_of_sandbox(world: World) -> tuple[UpdateRequest, list[int]]:
    """A sandbox refresh with the ids it claims, in claim order (production first)."""
    refresh = await world.request_refresh(E.SANDBOX)
    production, sandbox = await site(world, E.PRODUCTION), await site(world, E.SANDBOX)
    return refresh, [production.id, sandbox.id]


async def test_a_claim_of_two_sites_takes_both_and_the_own_site_goes_offline(
    db: support.TestDatabase,
) -> None:
    world = await make_world()
    refresh, ids = await refresh_of_sandbox(world)
    async with in_transaction():
        await claims.claim(refresh, E.SANDBOX, environment_ids=ids, online=False)
    production, sandbox = await site(world, E.PRODUCTION), await site(world, E.SANDBOX)
    assert (production.running_request_id, sandbox.running_request_id) == (refresh.id, refresh.id)
    assert (production.online, sandbox.online) == (True, False)


@pytest.mark.parametrize("busy", [E.PRODUCTION, E.SANDBOX])
async def test_a_claim_takes_neither_site_when_one_is_held(db: support.TestDatabase, busy: E) -> None:
    world = await make_world()
    refresh, ids = await refresh_of_sandbox(world)
    other = await world.request_version(environment=E.STAGING)  # any request, to hold it
    await Environment.filter(id=(await site(world, busy)).id).update(running_request_id=other.id)
    with pytest.raises(claims.EnvironmentBusy) as refused:
        async with in_transaction():
            await claims.claim(refresh, E.SANDBOX, environment_ids=ids, online=False)
    assert refused.value.blocker_id == other.id
    production, sandbox = await site(world, E.PRODUCTION), await site(world, E.SANDBOX)
    holders = {E.PRODUCTION: production.running_request_id, E.SANDBOX: sandbox.running_request_id}
    assert holders == {kind: (other.id if kind is busy else None) for kind in holders}
    assert sandbox.online


async def test_a_release_writes_the_own_site_s_changes_there_only(db: support.TestDatabase) -> None:
    world = await make_world()
    refresh, ids = await refresh_of_sandbox(world)
    staging_run = await world.request_version(environment=E.STAGING)
    await Environment.filter(id=(await site(world, E.STAGING)).id).update(running_request_id=staging_run.id)
    async with in_transaction():
        await claims.claim(refresh, E.SANDBOX, environment_ids=ids, online=False)
    before = await site(world, E.PRODUCTION)

    await claims.release(refresh, E.SANDBOX, last_refreshed_at=REFRESHED_AT)

    production, sandbox, staging = [await site(world, kind) for kind in (E.PRODUCTION, E.SANDBOX, E.STAGING)]
    assert (production.running_request_id, sandbox.running_request_id) == (None, None)
    assert (sandbox.online, sandbox.last_refreshed_at) == (True, REFRESHED_AT)
    assert (production.online, production.last_refreshed_at) == (before.online, before.last_refreshed_at)
    assert staging.running_request_id == staging_run.id  # held by another request: untouched


async def test_a_release_of_an_own_site_held_by_another_still_writes_its_changes(
    db: support.TestDatabase,
) -> None:
    """Never in order (the claim forbids it), but what completing changes must not be lost."""
    world = await make_world()
    refresh, _ = await refresh_of_sandbox(world)
    other = await world.request_version(environment=E.STAGING)
    sandbox_id = (await site(world, E.SANDBOX)).id
    await Environment.filter(id=sandbox_id).update(running_request_id=other.id, online=False)
    await claims.release(refresh, E.SANDBOX, last_refreshed_at=REFRESHED_AT)
    sandbox = await Environment.get(id=sandbox_id)
    assert (sandbox.running_request_id, sandbox.online, sandbox.last_refreshed_at) == (
        other.id,
        False,
        REFRESHED_AT,
    )


# --------------------------------------------------------------------------- order (PostgreSQL)


async def locks_in_order(world: World, first: E, then: E, change: Callable[[], Awaitable[None]]) -> None:
    """While another transaction holds `then`'s row, `change` (in a transaction) must already hold
    `first`'s row: it took the rows in that order. Fails when it waits on `then` holding nothing."""
    first_id, then_id = (await site(world, first)).id, (await site(world, then)).id
    holding, let_go = asyncio.Event(), asyncio.Event()

    async def hold_then() -> None:
        async with in_transaction():
            await Environment.filter(id=then_id).select_for_update().first()
            holding.set()
            await let_go.wait()

    async def changing() -> None:
        async with in_transaction():
            await change()

    holder = asyncio.create_task(hold_then())
    await asyncio.wait_for(holding.wait(), WITHIN)
    task = asyncio.create_task(changing())
    try:
        async with asyncio.timeout(WITHIN):
            while True:  # the change reaches `first` before it blocks on `then`
                try:
                    async with in_transaction():
                        await Environment.filter(id=first_id).select_for_update(nowait=True).first()
                except (OperationalError, LockNotAvailableError):
                    break  # locked: by the change, which now waits for `then`
                await asyncio.sleep(0.005)
        assert not task.done()
    finally:
        let_go.set()
        await holder
        await asyncio.wait_for(task, WITHIN)


async def test_a_claim_of_two_sites_locks_production_before_the_own_site(
    postgres_db: support.TestDatabase,
) -> None:
    world = await make_world()
    refresh, ids = await refresh_of_sandbox(world)
    await locks_in_order(
        world,
        E.PRODUCTION,
        E.SANDBOX,
        lambda: claims.claim(refresh, E.SANDBOX, environment_ids=ids, online=False),
    )
    assert (await site(world, E.SANDBOX)).running_request_id == refresh.id


async def test_a_release_of_two_sites_frees_production_before_the_own_site(
    postgres_db: support.TestDatabase,
) -> None:
    world = await make_world()
    refresh, ids = await refresh_of_sandbox(world)
    async with in_transaction():
        await claims.claim(refresh, E.SANDBOX, environment_ids=ids, online=False)
    await locks_in_order(
        world,
        E.PRODUCTION,
        E.SANDBOX,
        lambda: claims.release(refresh, E.SANDBOX, last_refreshed_at=REFRESHED_AT),
    )
    production, sandbox = await site(world, E.PRODUCTION), await site(world, E.SANDBOX)
    assert (production.running_request_id, sandbox.running_request_id) == (None, None)
