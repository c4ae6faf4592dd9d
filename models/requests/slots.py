"""Windows at the start, with the database: the rules a request's start is judged by (its hosting
model's stored windows and the expected duration), and the system's re-slot of work that can no
longer start in time. The arithmetic is `models.schedule`; this module only loads and moves."""

from __future__ import annotations

from datetime import datetime

from models.access import SYSTEM
from models.enums import UpdateStatus
from models.events import AfterCommit
from models.maintenance import windows_of
from models.notices import local_time_text
from models.requests import claims
from models.requests.moves import record_move
from models.requests.queries import Site
from models.running import RunPolicy
from models.schedule import StartRules, is_window_bound, next_start, start_conflict
from models.tables import District, UpdateRequest


async def start_rules(request: UpdateRequest, district: District, policy: RunPolicy) -> StartRules:
    """What a start of `request` is judged by: its windows when it is window-bound."""
    if not is_window_bound(request.kind, district.hosting_model):
        return StartRules((), policy.expected_duration)
    return StartRules(tuple(await windows_of(district.hosting_model)), policy.expected_duration)


def cannot_start(request: UpdateRequest, rules: StartRules, now: datetime) -> bool:
    """Whether `request` may not start at `now`. A staff override of the window holds through
    every re-check: it was given for this request's start, whenever that comes."""
    return not request.window_override and start_conflict(now, rules) is not None


async def reslot(
    request: UpdateRequest, site: Site, rules: StartRules, now: datetime, after: AfterCommit
) -> datetime | None:
    """Move `request` (SCHEDULED, or NOT_STARTED not yet begun) to the next start that fits: a
    system move with the reason in its history and a new invitation for the district. When no
    start fits at all (every window shorter than the work), a dispatched request goes back to
    SCHEDULED at its old start for staff to decide, and a scheduled one is left as it is.
    Returns the new start, or None when there is none. Must run inside a transaction."""
    later = next_start(now, rules)
    was_dispatched = request.status is UpdateStatus.NOT_STARTED
    if later is None and not was_dispatched:
        return None
    if later is None:
        message = (
            "It could not start: no maintenance window is long enough for it. "
            "Campus Hosting will choose a new time."
        )
    else:
        when = local_time_text(later, site.district.time_zone)
        message = (
            "It could no longer start in time to finish inside the maintenance window, "
            f"so it moved to {when}."
        )
    await record_move(
        request,
        UpdateStatus.SCHEDULED,
        SYSTEM,
        after,
        now=now,
        message=message,
        site=site,
        scheduled_start=later or request.scheduled_start,
        lease_token=None,
        lease_expires_at=None,
    )
    if was_dispatched:
        await claims.release(request, site.environment.kind)
    return later
