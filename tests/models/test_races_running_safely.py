"""Races on PostgreSQL for the queue's promises that the other race tests do not hit: a job finishing
just as the scheduler gives its lapsed lease up; one idempotency key sent for two districts at once
(each district locked on its own); staff returning a superseded request while the district cancels
the request that superseded it, or while that request completes; production completing while the
older automatic sandbox update is dispatched; a cancel whose read came before a system re-slot; a
newer request asked for while the one it would supersede is cancelled; a refresh and
production's update dispatched at once by two schedulers. Each trial in its own
transactions on pooled connections."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime, timedelta

import pytest

from models.access import Actor
from models.enums import EnvironmentKind, ErrorCode, NotificationKind, Role, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.requests import claims, queries, staff, withdrawing
from models.requests.completion import complete
from models.requests.dispatch import dispatch
from models.requests.execution import begin
from models.requests.leases import Reclaim, reclaim_lapsed
from models.requests.requesting import request_update
from models.requests.staff import set_update_request_status
from models.requests.withdrawing import cancel_update_request
from models.running import RunPolicy
from models.tables import Environment, Notification, StatusChange, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_request
from tests.models.scenario import IN_WINDOW, T0, make_world, status_of
from tests.reliability.support import broken_chains, count, illegal_moves

S = UpdateStatus
E = EnvironmentKind
pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

TRIALS = count(40, 400)
POLICY = RunPolicy(lease=timedelta(seconds=60), attempts=1)


async def test_a_job_finishing_as_its_lapsed_lease_is_given_up_has_one_outcome(postgres_db):
    """The job's completion and the scheduler's give-up reach the request together: exactly one
    wins, and the site, its version and the mails all tell that one story."""
    await make_catalog()
    outcomes = {S.COMPLETED: 0, S.UNABLE_TO_COMPLETE: 0}
    requester = await make_account(Role.TECHNICAL_CONTACT)
    for trial in range(TRIALS):
        district = await make_district()
        await requester.districts.add(district)
        # The sandbox is ahead: a completed production update brings no automatic sandbox update.
        await Environment.filter(district_id=district.id, kind=E.SANDBOX).update(
            current_version="Campus.2439.1"
        )
        request = await make_request(
            district, status=S.SCHEDULED, scheduled_start=IN_WINDOW, requested_by=requester
        )
        assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
        assert await begin(request.id, now=IN_WINDOW, token="job", policy=POLICY) is not None
        late = IN_WINDOW + timedelta(minutes=2)  # the lease lapsed a minute ago
        finished, reclaimed = await asyncio.gather(
            complete(request.id, now=late, lease_token="job", policy=POLICY),
            reclaim_lapsed(POLICY, now=late),
            return_exceptions=True,
        )
        stored = await UpdateRequest.get(id=request.id)
        assert stored.status in outcomes, f"trial {trial}: {stored.status}"
        outcomes[stored.status] += 1
        job_won = not isinstance(finished, BaseException)
        if not job_won:
            assert isinstance(finished, DomainError) and finished.code is ErrorCode.INVALID_TRANSITION, (
                finished
            )
        assert not isinstance(reclaimed, BaseException), reclaimed
        gave_up = [r for r in reclaimed if r.request_id == request.id and r.outcome is Reclaim.GAVE_UP]
        assert job_won != bool(gave_up), f"trial {trial}: job {finished!r}, scheduler {reclaimed!r}"
        assert stored.status is (S.COMPLETED if job_won else S.UNABLE_TO_COMPLETE)
        production = await Environment.get(district_id=district.id, kind=E.PRODUCTION)
        assert (production.online, production.running_request_id) == (True, None), f"trial {trial}"
        expected_version = "Campus.2435.4" if job_won else "Campus.2435.2"
        assert production.current_version == expected_version, f"trial {trial}"
        told = await Notification.filter(update_request_id=request.id, recipient=requester.email).values_list(
            "kind", flat=True
        )
        ending = NotificationKind.COMPLETED if job_won else NotificationKind.UNABLE_TO_COMPLETE
        assert sorted(told) == [ending], f"trial {trial}: {told}"
        rows = await StatusChange.filter(update_request_id=request.id).order_by("id")
        assert [r.to_status for r in rows][-2:] == [S.IN_PROGRESS, stored.status]
    assert await illegal_moves() == []


async def test_one_key_sent_for_two_districts_at_once_makes_one_request(postgres_db):
    """Each submission locks its own district, so nothing but the key's unique index orders them:
    one request is made and the other is refused on the key, never a second request or a crash."""
    await make_catalog()
    first, second = await make_district(), await make_district()
    actor = await actor_of(await make_account(Role.STATE_CONTACT, [first, second]))
    for trial in range(TRIALS):
        results = await asyncio.gather(
            *(
                request_update(
                    actor,
                    district_id=district.id,
                    kind=UpdateKind.DATABASE_REFRESH,
                    environment=E.SANDBOX,
                    idempotency_key=f"form-{trial}",
                    now=T0,
                )
                for district in (first, second)
            ),
            return_exceptions=True,
        )
        made = [r for r in results if isinstance(r, UpdateRequest)]
        refused = [r for r in results if not isinstance(r, UpdateRequest)]
        assert len(made) == 1 and len(refused) == 1, f"trial {trial}: {results}"
        assert isinstance(refused[0], DomainError), refused[0]
        assert (refused[0].code, refused[0].field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
        assert await UpdateRequest.filter(idempotency_key=f"form-{trial}").count() == 1
        await cancel_update_request(actor, made[0].id, now=T0)  # the next trial asks again


async def test_staff_returning_a_superseded_request_as_the_newer_is_cancelled(postgres_db):
    """The older request comes back to the queue exactly once, whoever moves it; the newer one is
    cancelled; nothing is left pointing at a cancelled request."""
    await make_catalog()
    district = await make_district()
    requester = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    touched: list[int] = []
    for trial in range(TRIALS):
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
        touched += [older.id, newer.id]
        returned, cancelled = await asyncio.gather(
            set_update_request_status(staff, older.id, S.TO_BE_SCHEDULED, "Back on its own.", now=T0),
            cancel_update_request(requester, newer.id, now=T0),
            return_exceptions=True,
        )
        assert not isinstance(cancelled, BaseException), f"trial {trial}: {cancelled!r}"
        if isinstance(returned, BaseException):  # the system returned it first
            assert isinstance(returned, DomainError) and returned.code is ErrorCode.INVALID_TRANSITION
        back = await UpdateRequest.get(id=older.id)
        assert (back.status, back.superseded_by_id) == (S.TO_BE_SCHEDULED, None), f"trial {trial}"
        assert await UpdateRequest.get(id=newer.id).values_list("status", flat=True) == S.CANCELLED
        moves = await StatusChange.filter(update_request_id=older.id, to_status=S.TO_BE_SCHEDULED).count()
        assert moves == 2, f"trial {trial}: created, then returned once; got {moves} moves there"
        await cancel_update_request(requester, older.id, now=T0)  # the next trial asks again
    assert await illegal_moves(touched) == []
    assert await broken_chains(touched) == []


async def test_a_newer_update_completing_as_staff_return_the_one_it_superseded_still_completes(postgres_db):
    """The newer request's job completes while staff take the older one back into the queue: the
    job's completion never fails for it (that would leave production offline and rerun the last
    step); the older one is either completed with it or back in the queue, never both."""
    outcomes: dict[S, int] = {S.COMPLETED: 0, S.TO_BE_SCHEDULED: 0}
    for trial in range(TRIALS):
        world = await make_world()
        await Environment.filter(district_id=world.district.id, kind=E.SANDBOX).update(
            current_version="Campus.2439.1"
        )
        older = await world.request_version("Campus.2435.3")
        newer = await world.request_version("Campus.2435.4")
        await world.schedule(newer.id)
        assert await dispatch(newer.id, now=IN_WINDOW)
        assert await begin(newer.id, now=IN_WINDOW, token="job") is not None
        done = IN_WINDOW + timedelta(minutes=30)
        finished, returned = await asyncio.gather(
            complete(newer.id, now=done, lease_token="job"),
            set_update_request_status(
                world.staff_actor, older.id, S.TO_BE_SCHEDULED, "On its own.", now=done
            ),
            return_exceptions=True,
        )
        assert not isinstance(finished, BaseException), f"trial {trial}: {finished!r}"
        assert await status_of(newer.id) is S.COMPLETED
        production = await Environment.get(district_id=world.district.id, kind=E.PRODUCTION)
        assert (production.online, production.current_version) == (True, "Campus.2435.4")
        left = await UpdateRequest.get(id=older.id)
        outcomes[left.status] += 1
        if isinstance(returned, BaseException):
            assert isinstance(returned, DomainError) and returned.code is ErrorCode.INVALID_TRANSITION
            assert left.status is S.COMPLETED, f"trial {trial}"
        else:
            assert (left.status, left.superseded_by_id) == (S.TO_BE_SCHEDULED, None), f"trial {trial}"
    assert await illegal_moves() == []


async def test_production_completing_as_the_older_sandbox_update_is_dispatched_still_completes(postgres_db):
    """Production's second update completes just as the dispatcher starts the automatic sandbox
    update the first one brought: the newer automatic update can no longer supersede a dispatched
    one, and production's completion must not fail for it; the sandbox still gets the newer one."""
    for trial in range(TRIALS):
        world = await make_world()
        first = await world.request_version("Campus.2435.4")
        await world.schedule(first.id)
        assert await dispatch(first.id, now=IN_WINDOW)
        assert await begin(first.id, now=IN_WINDOW) is not None
        await complete(first.id, now=IN_WINDOW + timedelta(minutes=10))
        follower = await UpdateRequest.get(district_id=world.district.id, automatic=True)
        assert follower.status is S.SCHEDULED
        second = await world.request_version("Campus.2435.9")
        await world.schedule(second.id, IN_WINDOW + timedelta(minutes=15))
        assert await dispatch(second.id, now=IN_WINDOW + timedelta(minutes=15))
        assert await begin(second.id, now=IN_WINDOW + timedelta(minutes=15), token="job") is not None
        race = IN_WINDOW + timedelta(minutes=30)
        finished, dispatched = await asyncio.gather(
            complete(second.id, now=race, lease_token="job"),
            dispatch(follower.id, now=race),
            return_exceptions=True,
        )
        assert not isinstance(finished, BaseException), f"trial {trial}: {finished!r}"
        assert not isinstance(dispatched, BaseException), f"trial {trial}: {dispatched!r}"
        assert await status_of(second.id) is S.COMPLETED
        older = await UpdateRequest.get(id=follower.id)
        newest = await UpdateRequest.get(
            district_id=world.district.id, automatic=True, target_version="Campus.2435.9"
        )
        if dispatched:
            assert older.status is S.NOT_STARTED, f"trial {trial}"
        else:
            assert (older.status, older.superseded_by_id) == (S.NEW_VERSION_REQUESTED, newest.id)
        assert newest.status is S.SCHEDULED
    assert await illegal_moves() == []


async def read_before_a_re_slot(
    module: object, move: Awaitable[object], request_id: int, at: datetime, monkeypatch: pytest.MonkeyPatch
) -> tuple[object, object]:
    """`move` (an operation of `module`, which reads the request with `get_visible_request`) reads
    the request, the dispatcher re-slots it (and commits), then `move` goes on: (the move's
    outcome, the dispatch's)."""
    re_slotted = asyncio.Event()
    reads: list[int] = []
    read = queries.get_visible_request

    async def read_then_wait(actor: Actor, pk: int, **kwargs: bool) -> UpdateRequest:
        row = await read(actor, pk, **kwargs)
        reads.append(pk)
        if len(reads) == 1:  # the move's first read waits for the re-slot to commit
            await re_slotted.wait()
        return row

    async def re_slot() -> bool:
        try:
            return await dispatch(request_id, now=at)
        finally:
            re_slotted.set()

    with monkeypatch.context() as patched:
        patched.setattr(module, "get_visible_request", read_then_wait)
        moved, dispatched = await asyncio.gather(move, re_slot(), return_exceptions=True)
    return moved, dispatched


async def test_a_cancel_read_before_the_dispatcher_re_slots_the_request_still_wins(postgres_db, monkeypatch):
    """The district's cancel has read the request (SCHEDULED) when the dispatcher finds it can no
    longer start in its window and moves it to the next slot, still SCHEDULED; then the cancel
    writes. The request was cancellable before and after that system move: the cancel wins (it is
    not refused as "SCHEDULED cannot move to CANCELLED"), and the history stays legal."""
    for trial in range(TRIALS // 4):
        world = await make_world()
        request = await world.request_version()
        await world.schedule(request.id, IN_WINDOW)
        late = IN_WINDOW + timedelta(hours=8)  # Thursday morning: outside the window, re-slotted
        cancel = cancel_update_request(world.requester_actor, request.id, now=late)
        cancelled, dispatched = await read_before_a_re_slot(
            withdrawing, cancel, request.id, late, monkeypatch
        )
        assert dispatched is False, f"trial {trial}: {dispatched!r}"
        assert not isinstance(cancelled, BaseException), f"trial {trial}: {cancelled!r}"
        history = await StatusChange.filter(update_request_id=request.id).order_by("id")
        assert [(r.from_status, r.to_status, r.actor) for r in history][-2:] == [
            (S.SCHEDULED, S.SCHEDULED, "SYSTEM"),
            (S.SCHEDULED, S.CANCELLED, "REQUESTER"),
        ], f"trial {trial}"
    assert await illegal_moves() == []


async def test_a_newer_request_racing_the_cancel_of_the_one_it_supersedes_leaves_no_older_open(postgres_db):
    """A (older) was superseded by B; the district cancels B just as it asks for C (newer still):
    whichever comes first, A never ends up open beside C, unsuperseded (it would run on its own)."""
    stranded: list[str] = []
    for trial in range(TRIALS):
        world = await make_world()
        a = await world.request_version("Campus.2435.3")
        b = await world.request_version("Campus.2435.4")
        racing = [world.cancel(b.id), world.request_version("Campus.2435.9")]
        if trial % 2:  # either one sent first
            racing.reverse()
        results = await asyncio.gather(*racing, return_exceptions=True)
        if trial % 2:
            results.reverse()
        assert not isinstance(results[1], BaseException), f"trial {trial}: {results[1]!r}"
        c = results[1]
        older = await UpdateRequest.get(id=a.id)
        if older.status in (S.TO_BE_SCHEDULED, S.SCHEDULED) and await status_of(c.id) is S.TO_BE_SCHEDULED:
            stranded.append(f"trial {trial}: A {older.status.value} beside C; cancel {results[0]!r}")
    assert stranded == []
    assert await illegal_moves() == []


@pytest.mark.parametrize("to", [S.DEFERRED, S.PENDING_INPUT])
async def test_a_staff_move_read_before_the_dispatcher_re_slots_the_request_still_wins(
    postgres_db, monkeypatch, to
):
    """As the cancel above, for staff: they defer (or ask for input on) a SCHEDULED request whose
    first read came before the dispatcher's re-slot committed. The move was legal before and after
    that system move: it is made, not refused as "SCHEDULED cannot move to DEFERRED"."""
    for trial in range(TRIALS // 4):
        world = await make_world()
        request = await world.request_version()
        await world.schedule(request.id, IN_WINDOW)
        late = IN_WINDOW + timedelta(hours=8)
        move = set_update_request_status(world.staff_actor, request.id, to, "Wait for the vendor.", now=late)
        moved, dispatched = await read_before_a_re_slot(staff, move, request.id, late, monkeypatch)
        assert dispatched is False, f"trial {trial}: {dispatched!r}"
        assert not isinstance(moved, BaseException), f"trial {trial}: {moved!r}"
        history = await StatusChange.filter(update_request_id=request.id).order_by("id")
        assert [(r.from_status, r.to_status, r.actor) for r in history][-2:] == [
            (S.SCHEDULED, S.SCHEDULED, "SYSTEM"),
            (S.SCHEDULED, to, "STAFF"),
        ], f"trial {trial}"
    assert await illegal_moves() == []


async def test_a_refresh_and_production_s_update_dispatched_at_once_take_turns(postgres_db):
    """Two schedulers reach a sandbox (or staging) refresh and its district's production version
    update, both due, at the same moment: exactly one is dispatched, it holds production (the
    refresh also its own site), and the other stays SCHEDULED waiting for it, by name."""
    for trial in range(TRIALS):
        district = await make_district()
        target = (E.SANDBOX, E.STAGING)[trial % 2]
        update = await make_request(district, status=S.SCHEDULED, scheduled_start=IN_WINDOW)
        refresh = await make_request(
            district, kind=UpdateKind.DATABASE_REFRESH, environment=target,
            status=S.SCHEDULED, scheduled_start=IN_WINDOW,
        )  # fmt: skip
        first, second = (update, refresh) if trial % 4 < 2 else (refresh, update)
        results = await asyncio.gather(
            dispatch(first.id, now=IN_WINDOW), dispatch(second.id, now=IN_WINDOW), return_exceptions=True
        )
        dispatched = [r for r in results if isinstance(r, bool)]
        assert len(dispatched) == 2 and sorted(dispatched) == [False, True], f"trial {trial}: {results!r}"
        winner, loser = (first, second) if dispatched[0] else (second, first)
        assert (await status_of(winner.id), await status_of(loser.id)) == (S.NOT_STARTED, S.SCHEDULED)
        holders = {e.kind: e.running_request_id for e in await Environment.filter(district_id=district.id)}
        assert holders[E.PRODUCTION] == winner.id, f"trial {trial}"
        assert holders[target] == (refresh.id if winner is refresh else None), f"trial {trial}"
        # What `waitingFor` names (the same read of the claims): the one that won.
        waiting = await UpdateRequest.get(id=loser.id).select_related("environment")
        _, blocker = await claims.needed_and_blocker(waiting, waiting.environment.kind)
        assert blocker == winner.id, f"trial {trial}"


async def test_one_key_sent_for_two_sites_of_one_district_at_once_makes_one_request(postgres_db):
    """Both submissions lock the same district: the second reads the first's request under the
    lock and is refused on the key (not made as a second request, not an internal error)."""
    district = await make_district()
    actor = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    for trial in range(TRIALS):
        results = await asyncio.gather(
            *(
                request_update(
                    actor,
                    district_id=district.id,
                    kind=UpdateKind.DATABASE_REFRESH,
                    environment=target,
                    idempotency_key=f"form-{trial}",
                    now=T0,
                )
                for target in (E.SANDBOX, E.STAGING)[:: 1 if trial % 2 else -1]
            ),
            return_exceptions=True,
        )
        made = [r for r in results if isinstance(r, UpdateRequest)]
        refused = [r for r in results if not isinstance(r, UpdateRequest)]
        assert len(made) == 1 and len(refused) == 1, f"trial {trial}: {results}"
        assert isinstance(refused[0], DomainError), refused[0]
        assert (refused[0].code, refused[0].field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
        assert await UpdateRequest.filter(idempotency_key=f"form-{trial}").count() == 1
        await cancel_update_request(actor, made[0].id, now=T0)  # the next trial asks again


async def test_staff_giving_up_as_the_scheduler_gives_up_a_lapsed_lease_has_one_outcome(postgres_db):
    """Staff give a request up just as the scheduler's sweep gives it up (its one attempt spent,
    its lease lapsed): one move to UNABLE_TO_COMPLETE, by one of them; the other is refused or
    finds nothing to do; the site is free and online, and the district hears it once."""
    requester = await make_account(Role.TECHNICAL_CONTACT)
    staff_actor = await actor_of(await make_account(Role.HOSTING_STAFF))
    for trial in range(TRIALS):
        district = await make_district()
        await requester.districts.add(district)
        request = await make_request(
            district, status=S.SCHEDULED, scheduled_start=IN_WINDOW, requested_by=requester
        )
        assert await dispatch(request.id, now=IN_WINDOW, policy=POLICY)
        assert await begin(request.id, now=IN_WINDOW, token="job", policy=POLICY) is not None
        late = IN_WINDOW + timedelta(minutes=2)  # the lease lapsed a minute ago
        giving_up = set_update_request_status(
            staff_actor, request.id, S.UNABLE_TO_COMPLETE, "Stopped by staff.", now=late, policy=POLICY
        )
        sweeping = reclaim_lapsed(POLICY, now=late)
        if trial % 2:  # either one reaches the database first
            reclaimed, by_staff = await asyncio.gather(sweeping, giving_up, return_exceptions=True)
        else:
            by_staff, reclaimed = await asyncio.gather(giving_up, sweeping, return_exceptions=True)
        staff_won = not isinstance(by_staff, BaseException)
        if not staff_won:
            assert isinstance(by_staff, DomainError) and by_staff.code is ErrorCode.INVALID_TRANSITION, (
                by_staff
            )
        assert not isinstance(reclaimed, BaseException), reclaimed
        gave_up = [r for r in reclaimed if r.request_id == request.id and r.outcome is Reclaim.GAVE_UP]
        assert staff_won != bool(gave_up), f"trial {trial}: staff {by_staff!r}, scheduler {reclaimed!r}"
        rows = await StatusChange.filter(update_request_id=request.id).order_by("id")
        assert [(r.to_status, r.actor) for r in rows][-2:] == [
            (S.IN_PROGRESS, "WORKER"),
            (S.UNABLE_TO_COMPLETE, "STAFF" if staff_won else "SYSTEM"),
        ], f"trial {trial}"
        production = await Environment.get(district_id=district.id, kind=E.PRODUCTION)
        assert (production.online, production.running_request_id) == (True, None), f"trial {trial}"
        told = await Notification.filter(update_request_id=request.id, recipient=requester.email).values_list(
            "kind", flat=True
        )
        assert list(told) == [NotificationKind.UNABLE_TO_COMPLETE], f"trial {trial}: {told}"
    assert await illegal_moves() == []
