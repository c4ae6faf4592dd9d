"""The pre-flight (issue 13, phase 2): `schedule_check` lists every conflict of a proposed start
at once, typed, with the next start that has none (never in the past, DST-correct, through windows,
blackouts and busy slots); `schedule_conflicts` lists the scheduled requests that a later change
of windows or blackouts put in conflict, and nothing is moved. Hosting staff only.
Injected clocks; against a real database, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.blackouts import BlackoutScope, create_blackout, delete_blackout
from models.enums import EnvironmentKind, ErrorCode, Role, UpdateStatus
from models.errors import DomainError
from models.maintenance import all_rules, check_rule, update_rule
from models.requests.busy import OVERRUN_MARGIN
from models.requests.preflight import schedule_check, schedule_conflicts
from models.tables import StatusChange, UpdateRequest
from tests.factories import actor_of, make_account, make_request
from tests.models.scenario import IN_WINDOW, RUN_AT, T0, World, make_world

E = EnvironmentKind
C = ErrorCode
#: Thursday 2026-11-05 in CST: the window opens at 00:30 (06:30 UTC) and closes at 03:30.
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)
NEXT_OPENING = OPENS + timedelta(days=7)
TOO_LATE = OPENS + timedelta(hours=2, minutes=30)  # 03:00 CST: half an hour left
THURSDAY_MORNING = datetime(2026, 11, 5, 15, 0, tzinfo=UTC)  # 09:00 CST


async def check(world: World, request_id: int, start: datetime, now: datetime = T0):
    return await schedule_check(world.staff_actor, request_id, start, now=now)


def codes(verdict) -> list[ErrorCode]:
    return [f.code for f in verdict.findings]


async def test_a_start_without_conflicts(db):
    world = await make_world()
    request = await world.request_version()
    verdict = await check(world, request.id, IN_WINDOW)
    assert (verdict.findings, verdict.next_possible_start) == ([], IN_WINDOW)


@pytest.mark.parametrize(
    ("start", "code"),
    [(THURSDAY_MORNING, C.OUTSIDE_MAINTENANCE_WINDOW), (TOO_LATE, C.WINDOW_TOO_SHORT)],
)
async def test_each_window_code(db, start, code):
    world = await make_world()
    request = await world.request_version()
    verdict = await check(world, request.id, start)
    assert codes(verdict) == [code] and verdict.next_possible_start == NEXT_OPENING
    (finding,) = verdict.findings
    assert (finding.update_request_id, finding.conflicting_request_id, finding.blackout_id) == (
        request.id,
        None,
        None,
    )
    assert finding.message.endswith("The next possible start is Thursday, November 12, 2026 at 12:30 AM CST.")


async def test_blackout_and_busy_site_with_what_they_conflict_with(db):
    world = await make_world()
    update = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.schedule(update.id, IN_WINDOW)
    blackout = await create_blackout(
        world.staff_actor,
        start=IN_WINDOW + timedelta(hours=1, minutes=30),
        end=IN_WINDOW + timedelta(hours=3),
        reason="Board meeting",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    busy = await check(world, refresh.id, IN_WINDOW + timedelta(minutes=15))
    assert codes(busy) == [C.ENVIRONMENT_BUSY] and busy.findings[0].conflicting_request_id == update.id
    # The refresh is not bound to windows: the next start is after the update's hour, but that
    # runs into the blackout at 02:30 CST, so it is when the blackout ends.
    assert busy.next_possible_start == IN_WINDOW + timedelta(hours=3)
    blacked = await check(world, refresh.id, IN_WINDOW + timedelta(hours=1))
    assert codes(blacked) == [C.BLACKOUT] and blacked.findings[0].blackout_id == blackout.id
    assert "would run into a blackout (Board meeting)" in blacked.findings[0].message


async def test_several_conflicts_at_once(db):
    world = await make_world()
    staging_update = await world.request_version(environment=E.STAGING)
    staging_refresh = await world.request_refresh(E.STAGING)
    await world.schedule(staging_refresh.id, IN_WINDOW)
    # Until 00:45 CST: the refresh's slot stays clear of it (a slot a blackout covers holds nothing).
    await create_blackout(
        world.staff_actor,
        start=IN_WINDOW - timedelta(days=1),
        end=IN_WINDOW - timedelta(minutes=15),
        reason="First week of school",
        now=T0,
    )
    start = IN_WINDOW - timedelta(minutes=45)  # 00:15 CST, before the window opens
    verdict = await check(world, staging_update.id, start)
    assert codes(verdict) == [C.BLACKOUT, C.OUTSIDE_MAINTENANCE_WINDOW, C.ENVIRONMENT_BUSY]
    assert verdict.findings[2].conflicting_request_id == staging_refresh.id
    # Past the blackout and the refresh's hour, with an hour of the window left: 02:00 CST.
    assert verdict.next_possible_start == IN_WINDOW + timedelta(hours=1)
    assert all(
        f.message.endswith("The next possible start is Thursday, November 05, 2026 at 02:00 AM CST.")
        for f in verdict.findings
    )
    # Production is busy too: the staging refresh copies it. The preview site is not.
    production = await world.request_version()
    assert codes(await check(world, production.id, start))[-1] is C.ENVIRONMENT_BUSY
    preview = await world.request_version(environment=E.PREVIEW)
    assert codes(await check(world, preview.id, start)) == [C.BLACKOUT, C.OUTSIDE_MAINTENANCE_WINDOW]


async def test_a_slot_a_blackout_covers_is_no_busy_conflict_for_the_site_s_other_work(db):
    """A refresh scheduled for 01:00 CST cannot run then once a blackout until 01:30 is added: it
    will be moved when it falls due, so its slot keeps nothing else off the site. The update may
    take 01:30; the refresh itself is told of the blackout."""
    world = await make_world()
    refresh = await world.request_refresh(E.SANDBOX)
    update = await world.request_version()
    await world.schedule(refresh.id, IN_WINDOW)
    blackout = await create_blackout(
        world.staff_actor,
        start=IN_WINDOW - timedelta(hours=1),
        end=IN_WINDOW + timedelta(minutes=30),
        reason="Board meeting",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    after_it = IN_WINDOW + timedelta(minutes=30)
    assert (await check(world, update.id, after_it)).findings == []
    conflicts = await schedule_conflicts(world.staff_actor, now=T0)
    assert [(f.update_request_id, f.code, f.blackout_id) for f in conflicts] == [
        (refresh.id, C.BLACKOUT, blackout.id)
    ]


async def test_the_next_start_across_the_autumn_change_and_past_a_blackout_over_a_window(db):
    """Thursday 2026-10-29 00:30 is CDT (05:30 UTC); clocks fall back on November 1, so the next
    window opens at 06:30 UTC. A blackout over the whole October window moves the start there."""
    world = await make_world()
    request = await world.request_version()
    monday = datetime(2026, 10, 26, 14, 0, tzinfo=UTC)
    october_29 = datetime(2026, 10, 29, 5, 30, tzinfo=UTC)
    await create_blackout(
        world.staff_actor,
        start=october_29 - timedelta(hours=1),
        end=october_29 + timedelta(hours=4),
        reason="State testing week",
        now=monday,
    )
    verdict = await check(world, request.id, october_29, now=monday)
    assert codes(verdict) == [C.BLACKOUT]
    assert verdict.next_possible_start == OPENS
    assert "covers Thursday, October 29, 2026 at 12:30 AM CDT" in verdict.findings[0].message
    assert "next possible start is Thursday, November 05, 2026 at 12:30 AM CST" in verdict.findings[0].message


async def test_the_next_start_is_never_in_the_past(db):
    world = await make_world()
    request = await world.request_version()
    now = OPENS + timedelta(minutes=30)
    verdict = await check(world, request.id, OPENS - timedelta(days=7), now=now)
    assert codes(verdict) == [C.VALIDATION]
    assert verdict.next_possible_start == now


async def test_only_hosting_staff_may_check(db):
    world = await make_world()
    request = await world.request_version()
    for role in (r for r in Role if r is not Role.HOSTING_STAFF):
        actor = await actor_of(await make_account(role, [world.district]))
        with pytest.raises(DomainError) as caught:
            await schedule_check(actor, request.id, IN_WINDOW, now=T0)
        assert caught.value.code is C.FORBIDDEN
        with pytest.raises(DomainError) as caught:
            await schedule_conflicts(actor, now=T0)
        assert caught.value.code is C.FORBIDDEN


# --------------------------------------------------------------------- scheduleConflicts


async def test_a_blackout_over_a_scheduled_request_shows_and_moves_nothing(db):
    world = await make_world()
    request = await world.request_version()
    untouched = await world.request_version(environment=E.STAGING)
    await world.schedule(request.id, IN_WINDOW)
    await world.schedule(untouched.id, IN_WINDOW + timedelta(days=7))
    assert await schedule_conflicts(world.staff_actor, now=T0) == []
    history = await StatusChange.filter(update_request_id=request.id).count()
    blackout = await create_blackout(
        world.staff_actor,
        start=IN_WINDOW - timedelta(hours=1),
        end=IN_WINDOW + timedelta(days=1),
        reason="State testing week",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    (finding,) = await schedule_conflicts(world.staff_actor, now=T0)
    assert (finding.code, finding.update_request_id, finding.blackout_id) == (
        C.BLACKOUT,
        request.id,
        blackout.id,
    )
    assert (
        "A blackout (State testing week) covers Thursday, November 05, 2026 at 01:00 AM CST"
        in finding.message
    )
    stored = await UpdateRequest.get(id=request.id)
    assert stored.scheduled_start == IN_WINDOW
    assert await StatusChange.filter(update_request_id=request.id).count() == history
    await delete_blackout(world.staff_actor, blackout.id)
    assert await schedule_conflicts(world.staff_actor, now=T0) == []


async def test_a_moved_window_puts_scheduled_requests_in_conflict_but_not_overridden_ones(db):
    world = await make_world()
    request = await world.request_version()
    overridden = await world.request_version(environment=E.STAGING)
    await world.schedule(request.id, IN_WINDOW)
    await world.schedule(overridden.id, THURSDAY_MORNING, override=True)
    (seeded,) = await all_rules()
    await update_rule(
        world.staff_actor, seeded.id, check_rule(seeded.hosting_model, 3, "22:00", "01:00", "America/Chicago")
    )
    findings = await schedule_conflicts(world.staff_actor, now=T0)
    assert [(f.code, f.update_request_id) for f in findings] == [(C.OUTSIDE_MAINTENANCE_WINDOW, request.id)]
    assert "Wednesday 22:00-01:00 America/Chicago" in findings[0].message
    assert "next possible start is Wednesday, November 11, 2026 at 10:00 PM CST" in findings[0].message
    assert (await UpdateRequest.get(id=request.id)).scheduled_start == IN_WINDOW


async def test_overlapping_schedules_show_both_ways(db):
    """Two requests whose slots overlap (the automatic sandbox update, or a re-slot, may place one
    beside another): each is listed with the other."""
    world = await make_world()
    update = await world.request_version(environment=E.STAGING)
    refresh = await world.request_refresh(E.STAGING)
    await world.schedule(update.id, IN_WINDOW)
    await world.schedule(refresh.id, IN_WINDOW + timedelta(hours=1))
    await UpdateRequest.filter(id=refresh.id).update(scheduled_start=IN_WINDOW + timedelta(minutes=30))
    findings = await schedule_conflicts(world.staff_actor, now=T0)
    assert sorted((f.update_request_id, f.conflicting_request_id) for f in findings) == sorted(
        [(update.id, refresh.id), (refresh.id, update.id)]
    )
    assert {f.code for f in findings} == {C.ENVIRONMENT_BUSY}


async def test_a_running_request_holds_its_site_in_the_check(db):
    world = await make_world()
    running = await world.request_version()
    refresh = await world.request_refresh(E.SANDBOX)
    await world.drive(running.id, UpdateStatus.IN_PROGRESS)
    verdict = await check(
        world, refresh.id, RUN_AT + timedelta(minutes=30), now=RUN_AT + timedelta(minutes=5)
    )
    assert codes(verdict) == [C.ENVIRONMENT_BUSY]
    assert verdict.findings[0].conflicting_request_id == running.id
    assert "is running on it" in verdict.findings[0].message
    assert verdict.next_possible_start == RUN_AT + timedelta(hours=1)  # its expected hour
    # Overrunning, it is taken to need a while longer than now.
    late = RUN_AT + timedelta(hours=2)
    assert (await check(world, refresh.id, late, now=late)).next_possible_start == late + OVERRUN_MARGIN


async def test_a_scheduled_row_without_a_start_is_passed_over(db):
    """Found by the fuzzer: a SCHEDULED row with no start (written before starts were required)
    made scheduleConflicts fail."""
    world = await make_world()
    await make_request(world.district, status=UpdateStatus.SCHEDULED, scheduled_start=None)
    assert await schedule_conflicts(world.staff_actor, now=T0) == []
