"""The lifecycle table: it matches DESIGN §1 line by line, every allowed move is made by the
operation that makes it in life, and every other move is refused."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from models.access import SYSTEM, Actor, Mover, mover_for_role
from models.enums import EnvironmentKind, ErrorCode, Role, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.lifecycle import (
    CANCELLABLE_STATUSES,
    MOVES,
    allowed_targets,
    cancel_refusal,
    check_move,
    find_move,
    is_allowed,
)
from models.requests.completion import complete, fail
from models.requests.dispatch import dispatch
from models.requests.execution import begin, take_lease
from models.requests.leases import reclaim_lapsed
from models.requests.staff import schedule_update_request
from models.running import RunPolicy
from models.tables import Environment, StatusChange, UpdateRequest
from tests.models.scenario import DONE_AT, IN_WINDOW, IN_WINDOW_NEXT_WEEK, RUN_AT, T0, history, make_world

S = UpdateStatus
#: Thursday 03:00 CST: inside the window, with only 30 of the expected 60 minutes left.
TOO_LATE = IN_WINDOW + timedelta(hours=2)
R, ST, D, W, SY = Mover.REQUESTER, Mover.STAFF, Mover.DISPATCHER, Mover.WORKER, Mover.SYSTEM
NEW = None

# DESIGN §1 "Statuses and who moves them", written out again here, one diagram line at a time.
DESIGN_LINES: list[tuple[set[S | None], set[S], set[Mover], bool]] = [
    # (new) --request--> TO_BE_SCHEDULED --schedule (staff)--> SCHEDULED --due (dispatcher)--> NOT_STARTED
    ({NEW}, {S.TO_BE_SCHEDULED}, {R, ST}, False),
    ({S.TO_BE_SCHEDULED}, {S.SCHEDULED}, {ST}, False),
    ({S.SCHEDULED}, {S.NOT_STARTED}, {D}, False),
    # NOT_STARTED --worker picks up--> IN_PROGRESS --> COMPLETED | UNABLE_TO_COMPLETE
    ({S.NOT_STARTED}, {S.IN_PROGRESS}, {W}, False),
    ({S.IN_PROGRESS}, {S.COMPLETED, S.UNABLE_TO_COMPLETE}, {W}, False),
    # TO_BE_SCHEDULED | SCHEDULED --cancel--> CANCELLED (requester or staff)
    ({S.TO_BE_SCHEDULED, S.SCHEDULED}, {S.CANCELLED}, {R, ST}, False),
    # TO_BE_SCHEDULED | SCHEDULED --staff--> PENDING_INPUT | DEFERRED (message required)
    ({S.TO_BE_SCHEDULED, S.SCHEDULED}, {S.PENDING_INPUT, S.DEFERRED}, {ST}, True),
    # PENDING_INPUT --staff--> DEFERRED
    ({S.PENDING_INPUT}, {S.DEFERRED}, {ST}, False),
    # PENDING_INPUT | DEFERRED --staff--> TO_BE_SCHEDULED | SCHEDULED (resume)
    ({S.PENDING_INPUT, S.DEFERRED}, {S.TO_BE_SCHEDULED, S.SCHEDULED}, {ST}, False),
    # SCHEDULED --staff--> SCHEDULED (reschedule)
    ({S.SCHEDULED}, {S.SCHEDULED}, {ST}, False),
    # TO_BE_SCHEDULED | SCHEDULED | PENDING_INPUT | DEFERRED --newer version--> NEW_VERSION_REQUESTED
    ({S.TO_BE_SCHEDULED, S.SCHEDULED, S.PENDING_INPUT, S.DEFERRED}, {S.NEW_VERSION_REQUESTED}, {SY}, False),
    # NEW_VERSION_REQUESTED --newer one completes--> COMPLETED
    ({S.NEW_VERSION_REQUESTED}, {S.COMPLETED}, {SY}, False),
    # NEW_VERSION_REQUESTED --newer one cancelled (system), or staff--> TO_BE_SCHEDULED
    ({S.NEW_VERSION_REQUESTED}, {S.TO_BE_SCHEDULED}, {SY, ST}, False),
    # SCHEDULED | NOT_STARTED --cannot start now: window, blackout (system)--> SCHEDULED
    ({S.SCHEDULED, S.NOT_STARTED}, {S.SCHEDULED}, {SY}, False),
    # NOT_STARTED --already on the target version or newer (system)--> COMPLETED
    ({S.NOT_STARTED}, {S.COMPLETED}, {SY}, False),
    # NOT_STARTED | IN_PROGRESS --staff, message required--> UNABLE_TO_COMPLETE
    ({S.NOT_STARTED, S.IN_PROGRESS}, {S.UNABLE_TO_COMPLETE}, {ST}, True),
    # NOT_STARTED | IN_PROGRESS --lease lapsed, attempts spent (system)--> UNABLE_TO_COMPLETE
    ({S.NOT_STARTED, S.IN_PROGRESS}, {S.UNABLE_TO_COMPLETE}, {SY}, False),
    # UNABLE_TO_COMPLETE --staff--> TO_BE_SCHEDULED (try again)
    ({S.UNABLE_TO_COMPLETE}, {S.TO_BE_SCHEDULED}, {ST}, False),
]

# Movers the code adds to moves the diagram has, each justified elsewhere in DESIGN or the brief.
EXTENSIONS: set[tuple[S | None, S, Mover]] = {
    # "the system itself creates and runs an update of that district's sandbox ... marked automatic"
    (NEW, S.TO_BE_SCHEDULED, SY),
    (S.TO_BE_SCHEDULED, S.SCHEDULED, SY),
    # A dispatched job that cannot even begin fails from NOT_STARTED (the diagram gives this move
    # to staff only; the pair itself is in DESIGN).
    (S.NOT_STARTED, S.UNABLE_TO_COMPLETE, W),
}


def design_triples() -> set[tuple[S | None, S, Mover]]:
    return {
        (source, target, mover)
        for sources, targets, movers, _ in DESIGN_LINES
        for source, target, mover in itertools.product(sources, targets, movers)
    }


def design_messaged() -> set[tuple[S | None, S, Mover]]:
    return {
        (source, target, mover)
        for sources, targets, movers, needs in DESIGN_LINES
        if needs
        for source, target, mover in itertools.product(sources, targets, movers)
    }


def table_triples() -> set[tuple[S | None, S, Mover]]:
    return {(move.source, move.target, mover) for move in MOVES for mover in move.movers}


ALL_SOURCES: list[S | None] = [NEW, *UpdateStatus]


def label(triple: Any) -> str:
    source, target, mover = triple
    return f"{source.value if source else 'NEW'}->{target.value}:{mover.value}"


ALLOWED = sorted(table_triples(), key=label)


# --------------------------------------------------------------------- the table against DESIGN


def test_table_moves_are_exactly_the_design_moves():
    table_pairs = {(move.source, move.target) for move in MOVES}
    design_pairs = {(source, target) for source, target, _ in design_triples()}
    assert table_pairs == design_pairs


def test_table_movers_are_the_design_movers_plus_the_documented_extensions():
    assert table_triples() - design_triples() == EXTENSIONS
    assert design_triples() <= table_triples()


def test_requesters_move_only_what_design_lets_them():
    requester_moves = {(s, t) for s, t, m in table_triples() if m is R}
    assert requester_moves == {
        (NEW, S.TO_BE_SCHEDULED),
        (S.TO_BE_SCHEDULED, S.CANCELLED),
        (S.SCHEDULED, S.CANCELLED),
    }


def test_cancellable_statuses_are_to_be_scheduled_and_scheduled():
    assert frozenset({S.TO_BE_SCHEDULED, S.SCHEDULED}) == CANCELLABLE_STATUSES


def test_staff_may_move_into_these_statuses():
    assert {
        S.TO_BE_SCHEDULED,
        S.SCHEDULED,
        S.CANCELLED,
        S.PENDING_INPUT,
        S.DEFERRED,
        S.UNABLE_TO_COMPLETE,
    } == {move.target for move in MOVES if Mover.STAFF in move.movers}


def test_nothing_leaves_completed_or_cancelled():
    for move in MOVES:
        assert move.source not in (S.COMPLETED, S.CANCELLED)


def test_nothing_that_has_begun_can_be_cancelled():
    for source in (S.NOT_STARTED, S.IN_PROGRESS):
        assert find_move(source, S.CANCELLED) is None
        for mover in Mover:
            assert not is_allowed(source, S.CANCELLED, mover)


@pytest.mark.parametrize("triple", ALLOWED, ids=label)
def test_every_allowed_move_passes_check_move(triple):
    source, target, mover = triple
    assert is_allowed(source, target, mover)
    if source is not None:
        assert target in allowed_targets(source, mover)
    move = check_move(source, target, mover, message="Because the district asked.")
    assert (move.source, move.target) == (source, target)
    assert mover in move.movers


@pytest.mark.parametrize("triple", sorted(design_messaged(), key=label), ids=label)
def test_design_message_required_moves_refuse_without_message(triple):
    source, target, mover = triple
    for message in (None, "", "   \n"):
        with pytest.raises(DomainError) as caught:
            check_move(source, target, mover, message)
        assert (caught.value.code, caught.value.field) == (ErrorCode.VALIDATION, "message")
    assert check_move(source, target, mover, "Waiting on your SIS admin.").target is target


@pytest.mark.parametrize(
    "triple",
    sorted(table_triples() - design_messaged(), key=label),
    ids=label,
)
def test_other_moves_need_no_message(triple):
    source, target, mover = triple
    assert check_move(source, target, mover, None).target is target


REFUSED_SAMPLE = [
    (S.IN_PROGRESS, S.CANCELLED),
    (S.NOT_STARTED, S.CANCELLED),
    (S.COMPLETED, S.CANCELLED),
    (S.COMPLETED, S.TO_BE_SCHEDULED),
    (S.CANCELLED, S.TO_BE_SCHEDULED),
    (S.CANCELLED, S.SCHEDULED),
    (S.TO_BE_SCHEDULED, S.NOT_STARTED),
    (S.TO_BE_SCHEDULED, S.IN_PROGRESS),
    (S.TO_BE_SCHEDULED, S.COMPLETED),
    (S.SCHEDULED, S.IN_PROGRESS),
    (S.SCHEDULED, S.COMPLETED),
    (S.NEW_VERSION_REQUESTED, S.SCHEDULED),
    (S.NEW_VERSION_REQUESTED, S.CANCELLED),
    (S.UNABLE_TO_COMPLETE, S.SCHEDULED),
    (S.IN_PROGRESS, S.NOT_STARTED),
    (S.DEFERRED, S.PENDING_INPUT),
    (S.TO_BE_SCHEDULED, S.TO_BE_SCHEDULED),
    (NEW, S.SCHEDULED),
    (NEW, S.COMPLETED),
]


@pytest.mark.parametrize("pair", REFUSED_SAMPLE, ids=lambda p: f"{p[0] or 'NEW'}->{p[1]}")
def test_refused_moves_are_invalid_transition_for_everyone(pair):
    source, target = pair
    assert find_move(source, target) is None
    for mover in Mover:
        with pytest.raises(DomainError) as caught:
            check_move(source, target, mover, message="please")
        assert caught.value.code is ErrorCode.INVALID_TRANSITION


def test_every_move_outside_the_table_is_refused():
    allowed = table_triples()
    refusals = 0
    for source, target, mover in itertools.product(ALL_SOURCES, UpdateStatus, Mover):
        if (source, target, mover) in allowed:
            continue
        with pytest.raises(DomainError) as caught:
            check_move(source, target, mover, message="please")
        refusals += 1
        if mover is R and (source, target, ST) in allowed:
            assert caught.value.code is ErrorCode.FORBIDDEN  # a staff move asked for by a requester
        else:
            assert caught.value.code is ErrorCode.INVALID_TRANSITION
    assert refusals == len(ALL_SOURCES) * len(UpdateStatus) * len(Mover) - len(allowed)


def test_roles_map_to_movers():
    assert mover_for_role(Role.HOSTING_STAFF) is ST
    for role in (Role.TECHNICAL_CONTACT, Role.STATE_CONTACT, Role.CONSORTIUM_CONTACT, Role.PARTNER, Role.ESA):
        assert mover_for_role(role) is R
    assert mover_for_role(Role.VIEWER) is None


# --------------------------------------------------------------------- each move, made for real


async def _make_move(world, source, target, mover) -> int:
    """Bring a request to `source` and make the move `(source, target)` as `mover`, with the
    operation that makes it in life. Returns the id of the request that moved."""
    w = world
    if (source is NEW and mover is SY) or (source, target, mover) == (S.TO_BE_SCHEDULED, S.SCHEDULED, SY):
        production = await w.request_version("Campus.2435.4")
        await w.drive(production.id, S.COMPLETED)
        sandbox = await UpdateRequest.get(automatic=True)
        return sandbox.id
    if source is NEW:
        actor = w.requester_actor if mover is R else w.staff_actor
        return (await w.request_version("Campus.2435.4", actor=actor)).id
    if target is S.NEW_VERSION_REQUESTED:
        older = await w.request_version("Campus.2435.3")
        await w.drive(older.id, source, via_scheduled=True)
        await w.request_version("Campus.2435.4")
        return older.id
    if source is S.NEW_VERSION_REQUESTED:
        older = await w.request_version("Campus.2435.3")
        newer = await w.request_version("Campus.2435.4")
        if target is S.COMPLETED:
            await w.drive(newer.id, S.COMPLETED)
        elif mover is SY:
            await w.cancel(newer.id)  # the newer one cancelled: the older one is back in the queue
        else:
            await w.set_status(older.id, target, "Hosting staff take it back into the queue.")
        return older.id
    request = await w.request_version("Campus.2435.4")
    # A resume to SCHEDULED needs a start time, so pause from SCHEDULED in that case.
    await w.drive(request.id, source, via_scheduled=target is S.SCHEDULED)
    if target is S.CANCELLED:
        await w.cancel(request.id, actor=w.requester_actor if mover is R else w.staff_actor)
    elif (source, target, mover) == (S.SCHEDULED, S.NOT_STARTED, D):
        assert await dispatch(request.id, now=IN_WINDOW)
    elif (source, target, mover) == (S.NOT_STARTED, S.IN_PROGRESS, W):
        assert await begin(request.id, now=RUN_AT) is not None
    elif (source, target, mover) == (S.IN_PROGRESS, S.COMPLETED, W):
        await complete(request.id, now=DONE_AT)
    elif target is S.UNABLE_TO_COMPLETE and mover is W:
        await fail(request.id, "The runbook could not reach the site.", now=DONE_AT)
    elif target is S.UNABLE_TO_COMPLETE and mover is SY:
        # Every job that took it lost its lease: the scheduler gives it up.
        once = RunPolicy(attempts=1)
        if source is S.NOT_STARTED:  # a job took the lease and died before starting it
            assert await take_lease(request.id, "dead-job", once, RUN_AT)
        reclaimed = await reclaim_lapsed(once, now=DONE_AT + timedelta(hours=1))
        assert [r.request_id for r in reclaimed] == [request.id]
    elif (source, target, mover) == (S.NOT_STARTED, S.COMPLETED, SY):
        # The site got the version meanwhile (an import says so): picked up, nothing to install.
        await Environment.filter(id=request.environment_id).update(current_version=request.target_version)
        assert await begin(request.id, now=RUN_AT) is None
    elif (source, target, mover) == (S.SCHEDULED, S.SCHEDULED, SY):
        # The scheduler comes too late: no hour left in the window, so it moves to the next one.
        assert not await dispatch(request.id, now=TOO_LATE)
    elif (source, target, mover) == (S.NOT_STARTED, S.SCHEDULED, SY):
        assert await begin(request.id, now=TOO_LATE) is None
    elif target is S.SCHEDULED and source in (S.TO_BE_SCHEDULED, S.SCHEDULED):
        await schedule_update_request(w.staff_actor, request.id, IN_WINDOW_NEXT_WEEK, now=T0)
    elif mover is ST:
        await w.set_status(request.id, target, "Hosting staff changed the status.")
    else:
        raise AssertionError(f"no operation makes {label((source, target, mover))}")
    return request.id


@pytest.mark.parametrize("triple", ALLOWED, ids=label)
async def test_every_allowed_move_through_the_operations(db, triple):
    source, target, mover = triple
    world = await make_world()
    request_id = await _make_move(world, source, target, mover)
    rows = await history(request_id)
    assert (source, target, mover.value) in rows
    assert (await UpdateRequest.get(id=request_id)).status is target or (
        source is NEW and mover is SY  # the automatic sandbox update is scheduled right away
    )
    # The history is one unbroken chain from creation to the current status.
    assert rows[0][0] is None
    for (_, previous_to, _), (current_from, _, _) in itertools.pairwise(rows):
        assert current_from is previous_to
    assert rows[-1][1] is (await UpdateRequest.get(id=request_id)).status


async def test_history_records_who_and_what(db):
    world = await make_world()
    request = await world.request_version()
    await world.set_status(request.id, S.PENDING_INPUT, "Which sites should we update?")
    await world.set_status(request.id, S.TO_BE_SCHEDULED)
    await world.drive(request.id, S.COMPLETED)
    rows = await StatusChange.filter(update_request_id=request.id).order_by("id")
    assert [(r.from_status, r.to_status, r.actor, r.by_id) for r in rows] == [
        (None, S.TO_BE_SCHEDULED, "REQUESTER", world.requester.id),
        (S.TO_BE_SCHEDULED, S.PENDING_INPUT, "STAFF", world.staff.id),
        (S.PENDING_INPUT, S.TO_BE_SCHEDULED, "STAFF", world.staff.id),
        (S.TO_BE_SCHEDULED, S.SCHEDULED, "STAFF", world.staff.id),
        (S.SCHEDULED, S.NOT_STARTED, "DISPATCHER", None),
        (S.NOT_STARTED, S.IN_PROGRESS, "WORKER", None),
        (S.IN_PROGRESS, S.COMPLETED, "WORKER", None),
    ]
    assert rows[1].message == "Which sites should we update?"
    assert [r.at for r in rows[3:]] == [T0, IN_WINDOW, RUN_AT, DONE_AT]


async def test_system_moves_record_no_account(db):
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    await world.request_version("Campus.2435.4")
    rows = await StatusChange.filter(update_request_id=older.id).order_by("id")
    assert (rows[-1].to_status, rows[-1].actor, rows[-1].by_id) == (S.NEW_VERSION_REQUESTED, "SYSTEM", None)
    assert SYSTEM.account_id is None


async def test_a_refresh_walks_the_same_table(db):
    world = await make_world()
    refresh = await world.request_refresh(EnvironmentKind.STAGING)
    assert refresh.kind is UpdateKind.DATABASE_REFRESH
    await world.drive(refresh.id, S.COMPLETED)
    assert [(f, t) for f, t, _ in await history(refresh.id)] == [
        (None, S.TO_BE_SCHEDULED),
        (S.TO_BE_SCHEDULED, S.SCHEDULED),
        (S.SCHEDULED, S.NOT_STARTED),
        (S.NOT_STARTED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.COMPLETED),
    ]
    staging = await Environment.get(district_id=world.district.id, kind=EnvironmentKind.STAGING)
    assert staging.last_refreshed_at == DONE_AT


# --------------------------------------------------------------------------- who may cancel what


@dataclass(frozen=True)
class Queued:
    """A request as the cancel rule sees it."""

    status: UpdateStatus = S.SCHEDULED
    deleted_at: datetime | None = None
    district_id: int = 1
    automatic: bool = False
    rollout_id: int | None = None


CONTACT = Actor(Mover.REQUESTER, account_id=5, role=Role.TECHNICAL_CONTACT, district_ids=frozenset({1}))
STAFF = Actor(Mover.STAFF, account_id=6, role=Role.HOSTING_STAFF)


def test_the_automatic_sandbox_update_is_cancelled_by_staff_only():
    automatic = Queued(automatic=True)
    refusal = cancel_refusal(CONTACT, automatic)
    assert refusal is not None and refusal.code is ErrorCode.FORBIDDEN
    assert "hosting team" in refusal.message
    assert cancel_refusal(STAFF, automatic) is None
    assert cancel_refusal(CONTACT, Queued()) is None  # the district's own requests: as before
    # A foreign one is still answered as missing, never as "forbidden".
    stranger = Actor(Mover.REQUESTER, account_id=7, role=Role.TECHNICAL_CONTACT, district_ids=frozenset())
    foreign = cancel_refusal(stranger, automatic)
    assert foreign is not None and foreign.code is ErrorCode.NOT_FOUND


def test_a_group_rollouts_requests_are_cancelled_by_staff_and_the_groups_contacts():
    """Never by a district's technical contact (nor a partner or ESA) alone."""
    part_of_rollout = Queued(rollout_id=9)
    for role in (Role.TECHNICAL_CONTACT, Role.PARTNER, Role.ESA):
        contact = Actor(Mover.REQUESTER, account_id=5, role=role, district_ids=frozenset({1}))
        refusal = cancel_refusal(contact, part_of_rollout)
        assert refusal is not None and refusal.code is ErrorCode.FORBIDDEN, role
        assert "group's contact" in refusal.message
        assert cancel_refusal(contact, Queued()) is None  # outside a rollout: as before
    for role in (Role.STATE_CONTACT, Role.CONSORTIUM_CONTACT):
        group_contact = Actor(Mover.REQUESTER, account_id=8, role=role, district_ids=frozenset({1, 2}))
        assert cancel_refusal(group_contact, part_of_rollout, in_rollout_group=True) is None, role
        # Its district has left the rollout's group: no contact of that group is linked to it.
        left = cancel_refusal(group_contact, part_of_rollout, in_rollout_group=False)
        assert left is not None and left.code is ErrorCode.FORBIDDEN, role
        # A district the contact is not linked to is answered as missing, as everywhere.
        foreign = cancel_refusal(group_contact, Queued(rollout_id=9, district_id=3))
        assert foreign is not None and foreign.code is ErrorCode.NOT_FOUND
        # Begun work is never cancelled, by anyone.
        begun = cancel_refusal(
            group_contact, Queued(rollout_id=9, status=S.IN_PROGRESS), in_rollout_group=True
        )
        assert begun is not None and begun.code is ErrorCode.INVALID_TRANSITION
    assert cancel_refusal(STAFF, part_of_rollout) is None
