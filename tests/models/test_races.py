"""Races on PostgreSQL: several actors hit one request at the same moment, each in its own
transaction on its own pooled connection. The compare-and-set on the status lets exactly one win."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest

from models.enums import EnvironmentKind, ErrorCode, Role, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.requests.completion import complete
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.requests.requesting import request_update
from models.requests.withdrawing import cancel_update_request
from models.tables import Environment, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_request
from tests.models.scenario import IN_WINDOW, T0

S = UpdateStatus
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

TRIALS = 1000 if os.environ.get("UPDATEDESK_RELIABILITY_FULL") else 200
SUBMISSIONS_PER_TRIAL = 5


async def free_sites(district_id: int) -> None:
    """Between trials on one district: the last trial's request may still hold its site (one job
    per environment), which would keep the next trial's request from being dispatched at all."""
    await Environment.filter(district_id=district_id).update(running_request_id=None, online=True)


def _record(name: str, trials: int, note: str, nodeid: str) -> None:
    """A row for RELIABILITY.md (reached only when every trial held: zero illegal, zero duplicated)."""
    from tests.reliability.support import Row, record

    record(Row(name, "race", trials=trials, submitted=trials, note=note, test=nodeid))


async def test_cancel_and_dispatch_at_the_same_moment_have_one_winner(postgres_db, request):
    nodeid = request.node.nodeid  # `request` is reused for update requests below
    district = await make_district()
    requester = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    winners: Counter[str] = Counter()
    for _ in range(TRIALS):
        request = await make_request(district, status=S.SCHEDULED, scheduled_start=IN_WINDOW)
        cancelled, dispatched = await asyncio.gather(
            cancel_update_request(requester, request.id, now=IN_WINDOW),
            dispatch(request.id, now=IN_WINDOW),
            return_exceptions=True,
        )
        cancel_won = not isinstance(cancelled, BaseException)
        if not cancel_won:
            assert isinstance(cancelled, DomainError), cancelled
            assert cancelled.code is ErrorCode.INVALID_TRANSITION
        assert isinstance(dispatched, bool), dispatched
        assert cancel_won != dispatched, "exactly one of cancel and dispatch must win"
        winner = S.CANCELLED if cancel_won else S.NOT_STARTED
        loser = S.NOT_STARTED if cancel_won else S.CANCELLED
        winners[winner.value] += 1
        assert (await UpdateRequest.get(id=request.id)).status is winner
        rows = await StatusChange.filter(update_request_id=request.id)
        assert [(r.from_status, r.to_status) for r in rows] == [(S.SCHEDULED, winner)]
        assert not any(r.to_status is loser for r in rows)
        await free_sites(district.id)
    assert sum(winners.values()) == TRIALS
    _record("cancel against dispatch", TRIALS, f"winners {dict(winners)}", nodeid)


async def test_a_started_request_is_never_cancelled_by_a_race(postgres_db):
    """The worker's begin racing a cancel on a NOT_STARTED request: the cancel always loses."""
    district = await make_district()
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    for _ in range(TRIALS // 4):
        request = await make_request(district, status=S.SCHEDULED, scheduled_start=IN_WINDOW)
        _, dispatched = await asyncio.gather(
            cancel_update_request(staff, request.id, now=IN_WINDOW),
            dispatch(request.id, now=IN_WINDOW),
            return_exceptions=True,
        )
        if dispatched is True:
            results = await asyncio.gather(
                cancel_update_request(staff, request.id, now=IN_WINDOW),
                begin(request.id, now=IN_WINDOW),
                return_exceptions=True,
            )
            assert isinstance(results[0], DomainError) and results[0].code is ErrorCode.INVALID_TRANSITION
            assert (await UpdateRequest.get(id=request.id)).status is S.IN_PROGRESS
        statuses = [r.to_status for r in await StatusChange.filter(update_request_id=request.id)]
        assert not (S.CANCELLED in statuses and S.NOT_STARTED in statuses)
        await free_sites(district.id)


async def test_several_dispatchers_dispatch_each_request_once(postgres_db):
    # One site each: requests on one site would wait for each other (one job per environment).
    ids = [
        (await make_request(await make_district(), status=S.SCHEDULED, scheduled_start=IN_WINDOW)).id
        for _ in range(40)
    ]
    passes = await asyncio.gather(*(dispatch_due(now=IN_WINDOW) for _ in range(4)))
    dispatched = [request_id for one_pass in passes for request_id in one_pass]
    assert sorted(dispatched) == sorted(ids)
    assert await StatusChange.filter(to_status=S.NOT_STARTED).count() == len(ids)


async def test_concurrent_submissions_with_one_key_collapse_to_one_request(postgres_db, request):
    await make_catalog()
    district = await make_district()
    actor = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    for trial in range(TRIALS):
        results = await asyncio.gather(
            *(
                request_update(
                    actor,
                    district_id=district.id,
                    kind=UpdateKind.VERSION_UPDATE,
                    environment=EnvironmentKind.PRODUCTION,
                    target_version="Campus.2435.4",
                    idempotency_key=f"submit-{trial}",
                    now=T0,
                )
                for _ in range(SUBMISSIONS_PER_TRIAL)
            ),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        ids = {r.id for r in results if isinstance(r, UpdateRequest)}
        assert len(ids) == 1
        request_id = ids.pop()
        assert await UpdateRequest.filter(idempotency_key=f"submit-{trial}").count() == 1
        assert await StatusChange.filter(update_request_id=request_id).count() == 1
        # Clear the way for the next trial, which asks for the same version with a new key.
        await cancel_update_request(actor, request_id, now=T0)
    assert await UpdateRequest.filter(district_id=district.id).count() == TRIALS
    note = f"{SUBMISSIONS_PER_TRIAL} simultaneous request_update per key (domain level)"
    _record("same idempotency key sent concurrently (domain)", TRIALS, note, request.node.nodeid)


async def test_concurrent_different_requests_for_one_environment_pass_the_duplicate_check_once(postgres_db):
    """Without an idempotency key, simultaneous same-version asks: one request, the rest refused."""
    district = await make_district()
    actors = [await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district])) for _ in range(3)]
    for _ in range(TRIALS // 2):
        results = await asyncio.gather(
            *(
                request_update(
                    actor,
                    district_id=district.id,
                    kind=UpdateKind.DATABASE_REFRESH,
                    environment=EnvironmentKind.SANDBOX,
                    now=T0,
                )
                for actor in actors
            ),
            return_exceptions=True,
        )
        created = [r for r in results if isinstance(r, UpdateRequest)]
        refused = [r for r in results if isinstance(r, DomainError)]
        assert len(created) == 1 and len(refused) == 2, results
        assert {e.code for e in refused} == {ErrorCode.DUPLICATE_REQUEST}
        open_ones = UpdateRequest.filter(district_id=district.id, status=S.TO_BE_SCHEDULED)
        assert [r.id for r in await open_ones] == [created[0].id]
        await cancel_update_request(actors[0], created[0].id, now=T0)


async def test_two_requests_begun_together_on_one_site_never_both_run(postgres_db):
    """A version update and a refresh of one staging site, both NOT_STARTED without claims (as
    requests dispatched before claims existed), begun by two workers at the same moment: begin's
    own claim lets exactly one run; when it ends the site is online and free again."""
    await make_catalog()
    district = await make_district()
    staging = await Environment.get(district_id=district.id, kind=EnvironmentKind.STAGING)
    for _ in range(TRIALS // 4):
        update = await make_request(
            district,
            environment=EnvironmentKind.STAGING,
            status=S.NOT_STARTED,
            target_version="Campus.2435.4",
        )
        refresh = await make_request(
            district,
            kind=UpdateKind.DATABASE_REFRESH,
            environment=EnvironmentKind.STAGING,
            status=S.NOT_STARTED,
        )
        begun = await asyncio.gather(begin(update.id, now=IN_WINDOW), begin(refresh.id, now=IN_WINDOW))
        started = [result[0] for result in begun if result is not None]
        assert len(started) == 1, begun
        winner = started[0]
        assert (await Environment.get(id=staging.id)).running_request_id == winner.id
        await complete(winner.id, now=IN_WINDOW)
        site = await Environment.get(id=staging.id)
        assert site.online and site.running_request_id is None
        loser = refresh if winner.id == update.id else update
        await UpdateRequest.filter(id=loser.id).update(status=S.CANCELLED)  # out of the way
        await Environment.filter(id=staging.id).update(current_version="Campus.2435.2")
