"""The demo's recent past, told through the domain: a request in every status, each with the
history, progress and site versions the service would have recorded, dated relative to the moment
the demo is loaded.

- COMPLETED: Lakeside production to CURRENT three weeks ago, its sandbox following; the River
  Valley consortium's rollout the same night, sandboxes too; a North River staging refresh.
- CANCELLED: a Lakeside staging refresh its contact no longer needed.
- NEW_VERSION_REQUESTED: the state group's preview rollout, superseded a week later by a newer
  version's rollout, whose request is placed (SCHEDULED) in its next slot.
- TO_BE_SCHEDULED: a Capital City sandbox refresh its state contact has just asked for.
- UNABLE_TO_COMPLETE: a Prairie sandbox refresh that failed while copying.
- PENDING_INPUT: a Lakeside staging update waiting for the district's answer.
- DEFERRED: the state group's production rollout, held for Capital City until after the state
  testing week.
- SCHEDULED: Lakeside production's next update, in the first maintenance window at least
  `EXAMPLES_ROOM` away (a refresh of Lakeside holds its production, so the examples' refresh
  "now" must not run into it, whatever the hour the demo loads).
- NOT_STARTED: North River's preview update from the consortium's preview rollout, which the
  dispatcher has just started (staff overrode the window for it); South River's waits its turn.
- IN_PROGRESS: a Capital City staging refresh copying its data now (the site is offline). It
  holds Capital City's production too (a refresh copies production), so one district cannot show
  both: one job per site.

Lakeside's sandbox and staging refreshes, Prairie's production and North and South River's
sandbox and staging are left free of open work, so anyone (and the browser tests) can ask for
them at once.

Plus a blackout: the State of Example's testing week, two weeks ahead.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.blackouts import BlackoutScope, create_blackout
from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from updatedesk.demo import replay
from updatedesk.demo.replay import Cast, ask, cancel, run, schedule, set_status, start, start_and_run
from updatedesk.demo.world import (
    CAPITAL,
    CONSORTIUM,
    CURRENT,
    ESA_EMAIL,
    LAKESIDE,
    NORTH_RIVER,
    PARTNER_EMAIL,
    PRAIRIE,
    STAFF_EMAIL,
    STATE_EMAIL,
    STATE_GROUP,
    TC_EMAIL,
)

VERSION = UpdateKind.VERSION_UPDATE
REFRESH = UpdateKind.DATABASE_REFRESH
PRODUCTION, SANDBOX, STAGING, PREVIEW = (
    EnvironmentKind.PRODUCTION,
    EnvironmentKind.SANDBOX,
    EnvironmentKind.STAGING,
    EnvironmentKind.PREVIEW,
)
#: The completed updates happened in the maintenance window this long before the demo loads.
UPDATED_WEEKS_AGO = 3
#: The state testing week starts on the first Monday this many days ahead.
BLACKOUT_DAYS_AHEAD = 14
STATE_TIME_ZONE = ZoneInfo("America/Chicago")
#: Lakeside production's SCHEDULED update starts no sooner than this after the demo loads: time
#: to try the examples, whose refresh holds that production site for about an hour.
EXAMPLES_ROOM = timedelta(hours=12)
#: Why the demo's Prairie refresh could not be completed (words for the district).
REFRESH_FAILURE = (
    "Copying production's data into the sandbox failed: its database server ran out of disk space. "
    "The hosting team is adding space; ask for the refresh again once they confirm."
)


async def write_history(now: datetime) -> None:
    """Every status, from three weeks ago up to `now`; then the blackout ahead."""
    cast = await replay.cast(STAFF_EMAIL)
    await _completed_updates(cast, now)
    await _withdrawn_and_superseded(cast, now)
    await _waiting_on_people(cast, now)
    await _queued_and_running(cast, now)
    await _testing_week(cast, now)


async def _completed_updates(cast: Cast, now: datetime) -> None:
    """Three weeks ago: Lakeside's production update and the consortium's rollout, each followed
    by its sandbox (these set `versionUpdatedAt`); a refresh last week (`lastRefreshedAt`)."""
    window = await replay.window_after(now - timedelta(weeks=UPDATED_WEEKS_AGO, days=1))
    lakeside = cast.districts[LAKESIDE]
    asked = await ask(
        cast.person(TC_EMAIL),
        lakeside,
        VERSION,
        PRODUCTION,
        window.start - timedelta(days=6),
        version=CURRENT,
        notes="Before the new term starts, please.",
    )
    await schedule(cast, asked, window.start, window.start - timedelta(days=5))
    done = await start_and_run(asked, window.start)
    await replay.follow_sandbox(lakeside, done)

    rolled = await replay.roll_out(
        cast, CONSORTIUM, PRODUCTION, CURRENT, window.start - timedelta(days=7),
        "The fall release for the whole consortium.",
    )  # fmt: skip
    for offset, request in enumerate(rolled):
        # One district after the other, each well inside the window.
        begins = window.start + timedelta(minutes=45 * offset)
        await schedule(cast, request.id, begins, window.start - timedelta(days=6))
        done = await start_and_run(request.id, begins)
        await replay.follow_sandbox(request.district_id, done)

    refreshed = now - timedelta(days=9)
    asked = await ask(
        cast.person(ESA_EMAIL), cast.districts[NORTH_RIVER], REFRESH, STAGING, refreshed - timedelta(hours=20)
    )
    await schedule(cast, asked, refreshed, refreshed - timedelta(hours=18))
    await start_and_run(asked, refreshed)


async def _withdrawn_and_superseded(cast: Cast, now: datetime) -> None:
    """CANCELLED; NEW_VERSION_REQUESTED and the TO_BE_SCHEDULED request that superseded it (two
    rollouts to the state group's preview sites); UNABLE_TO_COMPLETE."""
    lakeside, prairie = cast.districts[LAKESIDE], cast.districts[PRAIRIE]
    contact = cast.person(TC_EMAIL)

    asked = await ask(contact, lakeside, REFRESH, STAGING, now - timedelta(days=12))
    await schedule(cast, asked, now - timedelta(days=9), now - timedelta(days=11))
    await cancel(contact, asked, now - timedelta(days=10))

    await _roll_out(
        cast, PREVIEW, "Campus.2435.3", now - timedelta(days=6), "To try the new attendance screens."
    )
    await _roll_out(cast, PREVIEW, "Campus.2435.4", now - timedelta(days=1), "The attendance fixes.")

    failed_at = now - timedelta(days=5)
    asked = await ask(cast.person(PARTNER_EMAIL), prairie, REFRESH, SANDBOX, failed_at - timedelta(hours=3))
    await schedule(cast, asked, failed_at, failed_at - timedelta(hours=2))
    await start(asked, failed_at)
    await run(asked, failed_at, steps_done=1, progress=(35, "Copying the data"), failure=REFRESH_FAILURE)


async def _waiting_on_people(cast: Cast, now: datetime) -> None:
    """PENDING_INPUT and DEFERRED: staff wait for the district."""
    asked = await ask(
        cast.person(TC_EMAIL),
        cast.districts[LAKESIDE],
        VERSION,
        STAGING,
        now - timedelta(days=4),
        version="Campus.2435.3",
    )
    await set_status(
        cast,
        asked,
        UpdateStatus.PENDING_INPUT,
        "Staging has reports customised since its last update. Please confirm that we may replace "
        "them, or tell us which to keep.",
        now - timedelta(days=3),
    )
    [rolled] = await _roll_out(cast, PRODUCTION, "Campus.2435.3", now - timedelta(days=8), None)
    await set_status(
        cast,
        rolled,
        UpdateStatus.DEFERRED,
        "Deferred at the district's request until after the state testing week.",
        now - timedelta(days=7),
    )


async def _queued_and_running(cast: Cast, now: datetime) -> None:
    """SCHEDULED in the next maintenance window, NOT_STARTED just now, IN_PROGRESS with progress."""
    capital, state_contact = cast.districts[CAPITAL], cast.person(STATE_EMAIL)
    next_window = await replay.window_after(now + EXAMPLES_ROOM)
    asked = await ask(
        cast.person(TC_EMAIL),
        cast.districts[LAKESIDE],
        VERSION,
        PRODUCTION,
        now - timedelta(days=2),
        version="Campus.2435.3",
        notes="Please update before grading closes.",
    )
    await schedule(cast, asked, next_window.start, now - timedelta(days=1))

    previews = await replay.roll_out(
        cast, CONSORTIUM, PREVIEW, "Campus.2435.3", now - timedelta(minutes=45),
        "A preview of the attendance fixes for the consortium's trainers.",
    )  # fmt: skip
    [north] = [request.id for request in previews if request.district_id == cast.districts[NORTH_RIVER]]
    await schedule(cast, north, now - timedelta(minutes=2), now - timedelta(minutes=40), override_window=True)
    await start(north, now - timedelta(minutes=2))

    await ask(state_contact, capital, REFRESH, SANDBOX, now - timedelta(minutes=1))

    began = now - timedelta(minutes=7)
    asked = await ask(state_contact, capital, REFRESH, STAGING, began - timedelta(minutes=5))
    await schedule(cast, asked, began, began)
    await start(asked, began)
    # The snapshot is taken; the copy (the runbook's second step, 20% to 70%) is half done.
    await run(asked, began, steps_done=1, progress=(45, "Copying the data: half done"))


async def _roll_out(
    cast: Cast, environment: EnvironmentKind, version: str, at: datetime, notes: str | None
) -> list[int]:
    """Staff roll a version out to the State of Example's districts; returns the requests' ids."""
    return [
        request.id for request in await replay.roll_out(cast, STATE_GROUP, environment, version, at, notes)
    ]


async def _testing_week(cast: Cast, now: datetime) -> None:
    """A blackout over the state group: its testing week, Monday to Saturday, US Central."""
    day = (now + timedelta(days=BLACKOUT_DAYS_AHEAD)).astimezone(STATE_TIME_ZONE).date()
    monday = day + timedelta(days=-day.weekday() % 7)
    start_at = datetime.combine(monday, time(0, 0), STATE_TIME_ZONE)
    await create_blackout(
        cast.staff,
        start=start_at,
        end=start_at + timedelta(days=5),
        reason="State testing week: no updates or refreshes for the State of Example's districts.",
        scope=BlackoutScope(update_group_id=cast.groups[STATE_GROUP]),
        now=now,
    )
