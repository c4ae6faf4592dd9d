"""Slots a request holds but cannot use (`models.requests.busy`), as plain functions: no database.
A request not yet begun that its own start rules keep from starting (a blackout added since its
dispatch, a window that has closed or no longer leaves its expected hour), or that will complete
without running (its site already runs its target), holds nothing, so it never refuses other work
on its site ENVIRONMENT_BUSY. Work that has begun always holds its site."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from models.enums import EnvironmentKind, HostingModel, UpdateKind, UpdateStatus
from models.requests.busy import OVERRUN_MARGIN, DistrictRules, Holder, busy_for
from models.schedule import BlackoutPeriod
from models.tables import UpdateRequest
from models.windows import WeeklyWindow

E = EnvironmentKind
S = UpdateStatus
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
#: Thursday 2026-11-05 00:30-03:30 CST (06:30-09:30 UTC), the seeded Campus Cloud window.
THURSDAY = WeeklyWindow(4, time(0, 30), time(3, 30), "America/Chicago")
OPENS = datetime(2026, 11, 5, 6, 30, tzinfo=UTC)
CLOSES = OPENS + 3 * HOUR
IN_WINDOW = OPENS + 30 * MINUTE
RUNNING_VERSION = "Campus.2435.2"


def update(status: S, pk: int = 1, **columns: object) -> UpdateRequest:
    """A production version update of the district."""
    values: dict[str, object] = {"target_version": "Campus.2435.4", "window_override": False}
    values.update(columns)
    return UpdateRequest(id=pk, kind=UpdateKind.VERSION_UPDATE, status=status, **values)


def refresh(pk: int = 99) -> UpdateRequest:
    """A sandbox refresh, which holds production too (it copies it): the work being judged."""
    return UpdateRequest(
        id=pk, kind=UpdateKind.DATABASE_REFRESH, status=S.TO_BE_SCHEDULED, window_override=False
    )


def rules(*blackouts: BlackoutPeriod) -> DistrictRules:
    return DistrictRules(HostingModel.CAMPUS_CLOUD, HOUR, blackouts, (THURSDAY,))


def busy(row: UpdateRequest, now: datetime, district: DistrictRules, site_version: str = RUNNING_VERSION):
    """What `row` (on production) holds against a sandbox refresh at `now`: (start, end) or None."""
    found = busy_for(refresh(), E.SANDBOX, [Holder(row, E.PRODUCTION, site_version)], district, now)
    assert len(found) <= 1
    return (found[0].start, found[0].end) if found else None


# --------------------------------------------------------------- 1. dispatched, then blacked out


def test_a_dispatched_request_a_blackout_now_covers_holds_nothing_until_it_ends():
    """Dispatched at 01:00, its job still queued (workers behind) when a blackout 01:05-01:50 is
    added: it cannot begin (begin, or the scheduler's lease sweep, re-slots it), so at 01:10 a
    refresh proposed for 01:50 must not be refused for it. Once the blackout is over and it is
    still not begun, it may begin at any moment: it holds again."""
    blackout = BlackoutPeriod(IN_WINDOW + 5 * MINUTE, IN_WINDOW + 50 * MINUTE, 7, "Switch replacement")
    dispatched = update(S.NOT_STARTED, dispatched_at=IN_WINDOW, scheduled_start=IN_WINDOW)
    assert busy(dispatched, IN_WINDOW + 10 * MINUTE, rules(blackout)) is None
    after = blackout.end + MINUTE
    assert busy(dispatched, after, rules(blackout)) == (IN_WINDOW, after + OVERRUN_MARGIN)


def test_work_that_has_begun_holds_its_site_whatever_its_rules_say_now():
    """A job took the lease (begin is under way), or it runs: one job per environment holds."""
    blackout = BlackoutPeriod(IN_WINDOW + 5 * MINUTE, IN_WINDOW + 50 * MINUTE, 7, "Switch replacement")
    now = IN_WINDOW + 10 * MINUTE
    leased = update(S.NOT_STARTED, dispatched_at=IN_WINDOW, lease_token="job")
    running = update(S.IN_PROGRESS, dispatched_at=IN_WINDOW, started_at=IN_WINDOW + MINUTE)
    assert busy(leased, now, rules(blackout)) == (IN_WINDOW, IN_WINDOW + HOUR)
    assert busy(running, now, rules(blackout)) == (IN_WINDOW + MINUTE, IN_WINDOW + HOUR + MINUTE)
    # Running past its window's end, or on a site that has its version by now: still running.
    late = CLOSES + MINUTE
    assert busy(running, late, rules(), site_version="Campus.2439.1") == (
        IN_WINDOW + MINUTE,
        late + OVERRUN_MARGIN,
    )


# --------------------------------------------------------------- 2. kept from starting by its window


def test_a_due_request_its_window_no_longer_leaves_room_for_holds_nothing():
    """Scheduled for 01:00, the dispatcher late until 02:45 (45 minutes of the window left): it
    will be re-slotted to next Thursday when reached, so it does not hold 02:45-03:45."""
    late = CLOSES - 45 * MINUTE
    scheduled = update(S.SCHEDULED, scheduled_start=IN_WINDOW)
    assert busy(scheduled, late, rules()) is None
    assert busy(scheduled, CLOSES + HOUR, rules()) is None  # the window has closed
    # Dispatched before it closed, its job reached after: the same.
    dispatched = update(S.NOT_STARTED, dispatched_at=CLOSES - 70 * MINUTE)
    assert busy(dispatched, late, rules()) is None


def test_a_due_request_with_room_left_or_a_window_override_still_holds():
    """Waiting for its site with an hour of the window left, or overridden by staff: it may begin
    at any moment, so it holds its expected hour from now."""
    fits = CLOSES - HOUR
    scheduled = update(S.SCHEDULED, scheduled_start=IN_WINDOW)
    assert busy(scheduled, fits, rules()) == (IN_WINDOW, fits + HOUR)
    overridden = update(S.SCHEDULED, scheduled_start=IN_WINDOW, window_override=True)
    late = CLOSES + HOUR
    assert busy(overridden, late, rules()) == (IN_WINDOW, late + HOUR)


def test_a_scheduled_start_its_window_no_longer_allows_holds_nothing():
    """The window changed after it was scheduled (as a blackout added over it): the dispatcher
    moves it when it falls due, so its slot keeps nothing else off the site meanwhile; with no
    window set at all it has no start, and holds none."""
    thursday_morning = update(S.SCHEDULED, scheduled_start=CLOSES + HOUR)
    assert busy(thursday_morning, OPENS - 2 * HOUR, rules()) is None
    in_window = update(S.SCHEDULED, scheduled_start=IN_WINDOW)
    no_windows = DistrictRules(HostingModel.CAMPUS_CLOUD, HOUR, (), ())
    assert busy(in_window, OPENS - 2 * HOUR, no_windows) is None
    assert busy(in_window, OPENS - 2 * HOUR, rules()) == (IN_WINDOW, IN_WINDOW + HOUR)


def test_work_not_bound_to_windows_holds_outside_them():
    asp = DistrictRules(HostingModel.ASP_HOSTED, HOUR, (), (THURSDAY,))
    scheduled = update(S.SCHEDULED, scheduled_start=CLOSES + HOUR)
    assert busy(scheduled, OPENS, asp) == (CLOSES + HOUR, CLOSES + 2 * HOUR)
    sandbox_refresh = UpdateRequest(
        id=3,
        kind=UpdateKind.DATABASE_REFRESH,
        status=S.SCHEDULED,
        scheduled_start=CLOSES + HOUR,
        window_override=False,
    )
    found = busy_for(
        update(S.TO_BE_SCHEDULED, pk=98),
        E.PRODUCTION,
        [Holder(sandbox_refresh, E.SANDBOX, None)],
        rules(),
        OPENS,
    )
    assert [(s.start, s.end, s.request_id) for s in found] == [(CLOSES + HOUR, CLOSES + 2 * HOUR, 3)]


# --------------------------------------------------------------- 3. already on its target


def test_a_request_whose_site_already_runs_its_target_holds_nothing():
    """It completes without running when picked up ("no version is ever installed over a newer
    one"), so waiting for its busy site it holds nothing; versions never go back, so neither does
    one not yet due."""
    due = update(S.SCHEDULED, scheduled_start=IN_WINDOW)
    now = IN_WINDOW + 10 * MINUTE
    assert busy(due, now, rules(), site_version="Campus.2439.1") is None
    assert busy(due, now, rules(), site_version="Campus.2435.4") is None  # the same version
    assert busy(due, OPENS - HOUR, rules(), site_version="Campus.2439.1") is None
    dispatched = update(S.NOT_STARTED, dispatched_at=IN_WINDOW)
    assert busy(dispatched, now, rules(), site_version="Campus.2439.1") is None
    # An older site: it will run.
    assert busy(due, now, rules(), site_version=RUNNING_VERSION) == (IN_WINDOW, now + HOUR)
