"""Races on PostgreSQL for issue 12: two schedulers and two workers against one environment never
run two requests on it; a cancel of the newer request against its dispatch never strands the older
one; a request racing the dispatch of the one it would supersede is never refused on `status`;
two schedulers reclaim one lapsed lease once. Each trial in its own transactions on pooled
connections, many times."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.requests.completion import complete
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.requests.leases import reclaim_lapsed
from models.requests.requesting import request_update
from models.requests.withdrawing import cancel_update_request
from models.running import RunPolicy
from models.tables import Environment, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_request
from tests.models.scenario import IN_WINDOW, T0
from tests.reliability.support import Row, count, illegal_moves, record

S = UpdateStatus
E = EnvironmentKind
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

TRIALS = count(60, 1000)
#: The pairs of requests a trial puts on one district, alternately: the issue's staging pair, a
#: sandbox refresh against a production update (the refresh copies production), and two updates.
PAIRS = [
    ((UpdateKind.VERSION_UPDATE, E.STAGING), (UpdateKind.DATABASE_REFRESH, E.STAGING)),
    ((UpdateKind.VERSION_UPDATE, E.PRODUCTION), (UpdateKind.DATABASE_REFRESH, E.SANDBOX)),
    ((UpdateKind.VERSION_UPDATE, E.PRODUCTION), (UpdateKind.VERSION_UPDATE, E.PRODUCTION)),
]
RUNNING = (S.NOT_STARTED, S.IN_PROGRESS)


async def run_spans(request_id: int) -> list[tuple[datetime, datetime]]:
    """(dispatched, ended) of each run of a request, from its history."""
    rows = await StatusChange.filter(update_request_id=request_id).order_by("id")
    spans: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    for row in rows:
        if row.to_status is S.NOT_STARTED:
            opened = row.at
        elif opened is not None and row.to_status not in RUNNING:
            spans.append((opened, row.at))
            opened = None
    return spans


async def test_two_schedulers_and_two_workers_never_run_two_requests_on_one_site(postgres_db, request):
    await make_catalog()
    district = await make_district()
    # The sandbox is ahead already, so completed production updates bring no automatic sandbox
    # update into the trials.
    await Environment.filter(district_id=district.id, kind=E.SANDBOX).update(current_version="Campus.2439.1")
    overlaps = stuck = 0
    submitted = 0
    for trial in range(TRIALS):
        (kind_a, env_a), (kind_b, env_b) = PAIRS[trial % len(PAIRS)]
        at = IN_WINDOW + timedelta(seconds=trial)  # each trial's moves later than the last one's
        a = await make_request(
            district, kind=kind_a, environment=env_a, status=S.SCHEDULED, scheduled_start=at
        )
        b = await make_request(
            district, kind=kind_b, environment=env_b, status=S.SCHEDULED, scheduled_start=at
        )
        submitted += 2
        for step in range(2):
            now = at + timedelta(milliseconds=10 * step)
            passes = await asyncio.gather(dispatch_due(now=now), dispatch_due(now=now))
            won = [pk for one in passes for pk in one]
            assert len(won) == 1, f"trial {trial}: two schedulers dispatched {won}"
            begun = await asyncio.gather(
                *(begin(pk, now=now, token=f"w{worker}-{pk}") for pk in (a.id, b.id) for worker in (1, 2))
            )
            started = [result[0].id for result in begun if result is not None]
            states = [await UpdateRequest.get(id=pk) for pk in (a.id, b.id)]
            if sum(r.status in RUNNING for r in states) > 1:
                overlaps += 1
            if not started:
                # Two updates to one version: the second finds it installed, completes without running.
                assert (await UpdateRequest.get(id=won[0])).status is S.COMPLETED, f"trial {trial}"
                continue
            assert started == won, f"trial {trial}: workers began {started}, dispatched {won}"
            await complete(won[0], now=now + timedelta(milliseconds=5))
        if {(await UpdateRequest.get(id=pk)).status for pk in (a.id, b.id)} != {S.COMPLETED}:
            stuck += 1
        spans = sorted([*await run_spans(a.id), *await run_spans(b.id)])
        overlaps += sum(1 for (_, end), (start, _) in pairwise(spans) if start < end)
        # The next trial asks for the same versions again.
        await Environment.filter(district_id=district.id, kind__in=[E.PRODUCTION, E.STAGING]).update(
            current_version="Campus.2435.2"
        )
    illegal = len(await illegal_moves())
    note = "per trial: two due requests, two dispatch passes and four begins at once; pairs " + ", ".join(
        f"{ka.value.lower()} {ea.value.lower()} + {kb.value.lower()} {eb.value.lower()}"
        for (ka, ea), (kb, eb) in PAIRS
    )
    row = Row(
        "two requests on one environment", "race", TRIALS, submitted, note=note, test=request.node.nodeid
    )
    row.duplicated, row.stuck, row.illegal = overlaps, stuck, illegal
    record(row)
    row.assert_clean()


async def test_cancel_of_the_newer_request_against_its_dispatch_never_strands_the_older(postgres_db):
    await make_catalog()
    district = await make_district()
    requester = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    for trial in range(TRIALS // 2):
        older = await request_update(
            requester,
            district_id=district.id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.PRODUCTION,
            target_version="Campus.2435.3",
            now=T0,
        )
        newer = await request_update(
            requester,
            district_id=district.id,
            kind=UpdateKind.VERSION_UPDATE,
            environment=E.PRODUCTION,
            target_version="Campus.2435.4",
            now=T0,
        )
        await UpdateRequest.filter(id=newer.id).update(status=S.SCHEDULED, scheduled_start=IN_WINDOW)
        await asyncio.gather(
            cancel_update_request(requester, newer.id, now=IN_WINDOW),
            dispatch(newer.id, now=IN_WINDOW),
            return_exceptions=True,
        )
        if (await UpdateRequest.get(id=newer.id)).status is S.NOT_STARTED:
            assert await begin(newer.id, now=IN_WINDOW) is not None
            await complete(newer.id, now=IN_WINDOW + timedelta(minutes=1))
        pair = ((await UpdateRequest.get(id=newer.id)).status, (await UpdateRequest.get(id=older.id)).status)
        assert pair in {(S.CANCELLED, S.TO_BE_SCHEDULED), (S.COMPLETED, S.COMPLETED)}, (
            f"trial {trial}: {pair}"
        )
        await UpdateRequest.filter(district_id=district.id, status=S.TO_BE_SCHEDULED).update(
            status=S.CANCELLED
        )
        await Environment.filter(district_id=district.id).update(current_version="Campus.2435.2")


async def test_a_request_racing_the_dispatch_of_the_one_it_supersedes_is_never_refused(postgres_db):
    """Issue 12: a request racing a dispatch could get INVALID_TRANSITION on `status`."""
    await make_catalog()
    district = await make_district()
    requester = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    for trial in range(TRIALS // 2):
        older = await make_request(district, status=S.SCHEDULED, scheduled_start=IN_WINDOW)
        asked, _ = await asyncio.gather(
            request_update(
                requester,
                district_id=district.id,
                kind=UpdateKind.VERSION_UPDATE,
                environment=E.PRODUCTION,
                target_version="Campus.2435.9",
                now=IN_WINDOW,
            ),
            dispatch(older.id, now=IN_WINDOW),
            return_exceptions=True,
        )
        assert not isinstance(asked, DomainError), f"trial {trial}: {asked!r}"
        assert isinstance(asked, UpdateRequest), asked
        older_now = await UpdateRequest.get(id=older.id)
        if older_now.status is S.NOT_STARTED:
            assert older_now.superseded_by_id is None
        else:
            assert (older_now.status, older_now.superseded_by_id) == (S.NEW_VERSION_REQUESTED, asked.id)
        await UpdateRequest.filter(district_id=district.id).update(status=S.CANCELLED)
        await Environment.filter(district_id=district.id).update(running_request_id=None)


async def test_two_schedulers_reclaim_a_lapsed_lease_once(postgres_db):
    await make_catalog()
    policy = RunPolicy(lease=timedelta(seconds=60), attempts=3)
    for trial in range(TRIALS // 2):
        request = await make_request(await make_district(), status=S.SCHEDULED, scheduled_start=IN_WINDOW)
        assert await dispatch(request.id, now=IN_WINDOW, policy=policy)
        lapsed = IN_WINDOW + timedelta(minutes=5)
        first, second = await asyncio.gather(reclaim_lapsed(policy, lapsed), reclaim_lapsed(policy, lapsed))
        won = [r.request_id for r in [*first, *second] if r.request_id == request.id]
        assert won == [request.id], f"trial {trial}: {won}"
        assert (await UpdateRequest.get(id=request.id)).reclaims == 1
