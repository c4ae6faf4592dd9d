"""Property: whatever several actors do, in whatever order, every recorded move is in the lifecycle
table, the history of each request is one unbroken chain ending at its status, a request that has
begun is never cancelled, and an environment is offline exactly while something on it runs."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from models.access import Mover
from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.lifecycle import MOVES, allowed_targets
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch, dispatch_due
from models.requests.execution import begin
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request, delete_update_request
from models.tables import Environment, StatusChange, UpdateRequest
from tests.models.scenario import T0, World, make_world

S = UpdateStatus
E = EnvironmentKind
EXAMPLES = 40
ALLOWED = {(move.source, move.target, mover.value) for move in MOVES for mover in move.movers}
BEGUN = {S.NOT_STARTED, S.IN_PROGRESS}
HAPPY_PATH = {
    (S.TO_BE_SCHEDULED, S.SCHEDULED, "STAFF"),
    (S.SCHEDULED, S.NOT_STARTED, "DISPATCHER"),
    (S.NOT_STARTED, S.IN_PROGRESS, "WORKER"),
    (S.IN_PROGRESS, S.COMPLETED, "WORKER"),
}

people = st.sampled_from(["requester", "staff"])
#: (aim at a request in a fitting status?, index among the candidates, modulo their number)
aim = st.tuples(st.sampled_from([True, True, True, False]), st.integers(min_value=0, max_value=7))
#: The natural next move of an open request, by whoever makes it in life; finishing or failing.
#: Usually it pushes the most advanced open request, so that runs reach the end of the lifecycle.
progress = st.tuples(
    st.just("progress"),
    st.one_of(st.just((True, -1)), st.just((True, -1)), aim),
    st.sampled_from(["complete", "complete", "fail"]),
)
DEPTH = [
    S.UNABLE_TO_COMPLETE,
    S.DEFERRED,
    S.PENDING_INPUT,
    S.TO_BE_SCHEDULED,
    S.SCHEDULED,
    S.NOT_STARTED,
    S.IN_PROGRESS,
]
request_version = st.tuples(
    st.just("request_version"),
    st.sampled_from(["Campus.2435.3", "Campus.2435.4", "Campus.2435.9", "Campus.2435.10"]),
    st.sampled_from([E.PRODUCTION, E.PRODUCTION, E.STAGING, E.SANDBOX]),
    people,
    st.sampled_from([None, None, "k1", "k2"]),
)
#: Half of the operations push a request along its natural path; the other half are anything at all
#: (most of those are refused, which is the point: refusals must never leave a trace).
anything = st.one_of(
    request_version,
    st.tuples(st.just("request_refresh"), st.sampled_from([E.SANDBOX, E.STAGING, E.PRODUCTION]), people),
    st.tuples(st.just("cancel"), aim, people),
    st.tuples(st.just("delete"), aim, people),
    # Often due at once (start within minutes of now), else days ahead; mostly with the override.
    st.tuples(
        st.just("schedule"),
        aim,
        st.one_of(st.integers(min_value=-10, max_value=5), st.integers(min_value=0, max_value=14 * 24 * 60)),
        st.sampled_from([True, True, False]),
    ),
    # A target the table allows staff from the request's status (usually), or any status at all.
    st.tuples(
        st.just("set_status"),
        aim,
        st.one_of(st.integers(min_value=0, max_value=5), st.sampled_from(list(S))),
        st.sampled_from([None, "Staff note.", "Staff note."]),
    ),
    st.tuples(st.just("dispatch"), aim),
    st.tuples(st.just("dispatch_due")),
    st.tuples(st.just("begin"), aim),
    st.tuples(st.just("complete"), aim),
    st.tuples(st.just("fail"), aim),
    st.tuples(st.just("advance"), st.one_of(st.integers(1, 60), st.integers(1, 7 * 24 * 60))),
)
operations = st.one_of(progress, anything)

#: The statuses in which an operation can do something, for aimed operations.
FITTING: dict[str, set[S]] = {
    "cancel": {S.TO_BE_SCHEDULED, S.SCHEDULED, S.NOT_STARTED, S.IN_PROGRESS},
    "delete": {S.COMPLETED},
    "schedule": {S.TO_BE_SCHEDULED, S.SCHEDULED, S.PENDING_INPUT, S.DEFERRED},
    "set_status": {
        S.TO_BE_SCHEDULED,
        S.SCHEDULED,
        S.PENDING_INPUT,
        S.DEFERRED,
        S.NOT_STARTED,
        S.IN_PROGRESS,
        S.UNABLE_TO_COMPLETE,
    },
    "progress": {
        S.TO_BE_SCHEDULED,
        S.SCHEDULED,
        S.NOT_STARTED,
        S.IN_PROGRESS,
        S.PENDING_INPUT,
        S.DEFERRED,
        S.UNABLE_TO_COMPLETE,
    },
    "dispatch": {S.SCHEDULED},
    "begin": {S.NOT_STARTED},
    "complete": {S.IN_PROGRESS},
    "fail": {S.IN_PROGRESS, S.NOT_STARTED},
}


class Run:
    """One example: a fresh district, its people and a clock that only moves forward."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clock = T0
        self.refusals = 0

    def actor(self, who: str) -> Any:
        return self.world.requester_actor if who == "requester" else self.world.staff_actor

    async def pick(self, name: str, aimed: bool, index: int) -> UpdateRequest | None:
        candidates = await UpdateRequest.filter(district_id=self.world.district.id).order_by("id")
        if aimed:
            candidates = [r for r in candidates if r.status in FITTING[name]] or candidates
        if index == -1:  # the most advanced one
            candidates.sort(key=lambda r: DEPTH.index(r.status) if r.status in DEPTH else -1)
        return candidates[index % len(candidates)] if candidates else None

    async def apply(self, op: tuple[Any, ...]) -> None:
        self.clock += timedelta(minutes=1)
        name, *args = op
        district_id, now = self.world.district.id, self.clock
        if name == "advance":
            self.clock += timedelta(minutes=args[0])
            return
        if name == "request_version":
            version, environment, who, key = args
            await request_update(
                self.actor(who),
                district_id=district_id,
                kind=UpdateKind.VERSION_UPDATE,
                environment=environment,
                target_version=version,
                idempotency_key=key,
                now=now,
            )
            return
        if name == "request_refresh":
            environment, who = args
            await request_update(
                self.actor(who),
                district_id=district_id,
                kind=UpdateKind.DATABASE_REFRESH,
                environment=environment,
                now=now,
            )
            return
        if name == "dispatch_due":
            await dispatch_due(now=now)
            return
        request = await self.pick(name, *args[0])
        if request is None:
            return
        request_id = request.id
        staff = self.world.staff_actor
        if name == "progress":
            await self.progress(request, args[1])
        elif name == "cancel":
            await cancel_update_request(self.actor(args[1]), request_id, now=now)
        elif name == "delete":
            await delete_update_request(self.actor(args[1]), request_id, now=now)
        elif name == "schedule":
            start = now + timedelta(minutes=args[1])
            await schedule_update_request(
                staff, request_id, start, override_maintenance_window=args[2], now=now
            )
        elif name == "set_status":
            target = args[1]
            if isinstance(target, int):
                targets = allowed_targets(request.status, Mover.STAFF) or list(S)
                target = targets[target % len(targets)]
            await set_update_request_status(staff, request_id, target, args[2], now=now)
        elif name == "dispatch":
            await dispatch(request_id, now=now)
        elif name == "begin":
            await begin(request_id, now=now)
        elif name == "complete":
            await complete(request_id, now=now)
        elif name == "fail":
            await fail(request_id, "The runbook gave up.", now=now)

    async def progress(self, request: UpdateRequest, ending: str) -> None:
        staff, status = self.world.staff_actor, request.status
        if status is S.TO_BE_SCHEDULED:
            await schedule_update_request(
                staff, request.id, self.clock, override_maintenance_window=True, now=self.clock
            )
        elif status is S.SCHEDULED:
            assert request.scheduled_start is not None
            self.clock = max(self.clock, request.scheduled_start)
            await dispatch(request.id, now=self.clock)
        elif status is S.NOT_STARTED:
            await begin(request.id, now=self.clock)
        elif status is S.IN_PROGRESS and ending == "complete":
            await complete(request.id, now=self.clock)
        elif status is S.IN_PROGRESS:
            await fail(request.id, "The runbook gave up.", now=self.clock)
        elif status in (S.PENDING_INPUT, S.DEFERRED, S.UNABLE_TO_COMPLETE):
            await set_update_request_status(staff, request.id, S.TO_BE_SCHEDULED, now=self.clock)

    async def check(self) -> None:
        district_id = self.world.district.id
        requests = {r.id: r for r in await UpdateRequest.filter(district_id=district_id)}
        rows = await StatusChange.filter(update_request_id__in=list(requests) or [0]).order_by("id")
        chains: dict[int, list[StatusChange]] = {request_id: [] for request_id in requests}
        for row in rows:
            assert (row.from_status, row.to_status, row.actor) in ALLOWED, (
                row.from_status,
                row.to_status,
                row.actor,
            )
            chains[row.update_request_id].append(row)
        for request_id, chain in chains.items():
            assert chain, f"request {request_id} has no history"
            assert chain[0].from_status is None
            for before, after in itertools.pairwise(chain):
                assert after.from_status is before.to_status
            assert chain[-1].to_status is requests[request_id].status
            assert_never_cancelled_after_it_began(request_id, chain)
        for environment in await Environment.filter(district_id=district_id):
            running = [
                r
                for r in requests.values()
                if r.environment_id == environment.id and r.status is S.IN_PROGRESS
            ]
            assert environment.online is (not running), (environment.kind, running)


def assert_never_cancelled_after_it_began(request_id: int, chain: list[StatusChange]) -> None:
    """No CANCELLED once the current attempt has begun. DESIGN's table (and the seed: "Requests
    with a status of To Be Scheduled or Scheduled may be canceled") let staff retry a failed
    request (UNABLE_TO_COMPLETE -> TO_BE_SCHEDULED), which starts a new attempt that has not begun;
    that retry is the only way from a begun status back to a cancellable one."""
    begun = False
    for row in chain:
        if row.to_status in BEGUN:
            begun = True
        elif (row.from_status, row.to_status) == (S.UNABLE_TO_COMPLETE, S.TO_BE_SCHEDULED):
            assert row.actor == "STAFF"
            begun = False
        elif row.to_status is S.CANCELLED:
            assert not begun, f"request {request_id} was cancelled after it began"


@pytest.fixture
def example_count(db):
    """Counts the examples hypothesis ran, and fails the test if it ran fewer than asked for."""
    counter: dict[str, Any] = {"examples": 0, "moves": 0, "seen": set()}
    yield counter
    assert counter["examples"] >= EXAMPLES, counter
    assert counter["moves"] > EXAMPLES, counter  # the sequences did move requests, not only get refused
    # Sanity: the random runs walked the whole happy path at least once.
    assert counter["seen"] >= HAPPY_PATH, HAPPY_PATH - counter["seen"]


PUSH = ("progress", (True, -1), "complete")
PUSH_TO_FAILURE = ("progress", (True, -1), "fail")
#: Always run first: the whole happy path, supersession, the automatic sandbox update, a failure,
#: a retry and a cancel of the retried request, a delete and some refusals on the way.
WALKTHROUGH = [
    ("request_version", "Campus.2435.3", E.PRODUCTION, "requester", None),
    PUSH,  # scheduled
    ("request_version", "Campus.2435.4", E.PRODUCTION, "requester", "k1"),  # supersedes it
    ("request_version", "Campus.2435.4", E.PRODUCTION, "staff", None),  # duplicate: refused
    PUSH,  # newer scheduled
    PUSH,  # dispatched
    ("cancel", (True, 0), "requester"),  # refused: it has begun
    PUSH,  # in progress
    PUSH,  # completed with the older one; sandbox update scheduled
    PUSH,  # sandbox dispatched
    PUSH,  # sandbox in progress
    PUSH_TO_FAILURE,  # sandbox failed
    ("delete", (True, 0), "requester"),
    PUSH,  # staff retry
    ("cancel", (True, 0), "staff"),  # a retried request has not begun: cancellable
    ("request_refresh", E.STAGING, "requester"),
    ("set_status", (True, 0), S.PENDING_INPUT, None),  # refused: needs a message
    ("set_status", (True, 0), 2, "Staff note."),
    PUSH,
]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=10, max_size=40))
@example(ops=WALKTHROUGH)
async def test_random_operations_keep_the_lifecycle(db, example_count, ops):
    run = Run(await make_world())
    for op in ops:
        try:
            await run.apply(op)
        except DomainError:
            run.refusals += 1
        await run.check()
    assert run.refusals <= len(ops)
    rows = await StatusChange.filter(update_request__district_id=run.world.district.id)
    example_count["examples"] += 1
    example_count["moves"] += len(rows)
    example_count["seen"].update((row.from_status, row.to_status, row.actor) for row in rows)
