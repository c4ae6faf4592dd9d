"""Words for the conflicts of a start (`models.schedule`): what is wrong, in the district's own
time, and the next start that has none, so that a person can act on it. Also what a district
reads when the system moved its work because it could not start."""

from __future__ import annotations

from datetime import datetime

from models.enums import ErrorCode
from models.notices import local_time_text
from models.schedule import Conflict, StartRules
from models.windows import describe_windows


def _minutes(rules: StartRules) -> int:
    return round(rules.expected.total_seconds() / 60)


def _when(instant: datetime, rules: StartRules) -> str:
    return local_time_text(instant, rules.time_zone)


def next_start_text(upcoming: datetime | None, rules: StartRules) -> str:
    if upcoming is None and rules.window_bound and not rules.windows:
        return "There is no possible start until a window is set."
    if upcoming is None:
        return "No maintenance window is long enough for this work: change the windows or override."
    return f"The next possible start is {_when(upcoming, rules)}."


def _what(conflict: Conflict, start: datetime, rules: StartRules) -> str:
    when = _when(start, rules)
    if conflict.blackout is not None:
        blackout = conflict.blackout
        until = _when(blackout.end, rules)
        if blackout.start <= start:
            return (
                f"A blackout ({blackout.reason}) covers {when} (it lasts until {until}); "
                "it cannot be overridden."
            )
        return (
            f"This work is expected to take about {_minutes(rules)} minutes: starting {when}, it would run "
            f"into a blackout ({blackout.reason}) from {_when(blackout.start, rules)} until {until}; "
            "it cannot be overridden."
        )
    if conflict.busy is not None:
        busy = conflict.busy
        if busy.running:
            return (
                f"The site is busy at {when}: {busy.work} is running on it and is expected to take until "
                f"about {_when(busy.end, rules)}."
            )
        return (
            f"The site is taken at {when}: {busy.work} is scheduled for {_when(busy.start, rules)}, and "
            f"this work, expected to take about {_minutes(rules)} minutes, would overlap it."
        )
    if not rules.windows:
        return (
            "No maintenance window is set for Campus Cloud districts, and their version updates start "
            "only inside one: staff add it under maintenance windows. Staff may override the window."
        )
    windows = describe_windows(rules.windows)
    if conflict.code is ErrorCode.WINDOW_TOO_SHORT:
        return (
            f"This work is expected to take about {_minutes(rules)} minutes and, starting {when}, would run "
            f"past the end of the maintenance window ({windows}). Staff may override the window."
        )
    return (
        f"A start at {when} is outside the maintenance window ({windows}): version updates of Campus "
        "Cloud districts start inside it. Staff may override the window."
    )


def conflict_message(
    conflict: Conflict, start: datetime, rules: StartRules, upcoming: datetime | None
) -> str:
    """A sentence staff can act on: what is wrong with `start`, and the next start with no conflict."""
    return f"{_what(conflict, start, rules)} {next_start_text(upcoming, rules)}"


def reslot_message(leading: Conflict, rules: StartRules, later: datetime | None) -> str:
    """What the district reads when the system moved work that could not start (its history and
    status message): why, and when it will start instead."""
    if leading.blackout is not None:
        blackout = leading.blackout
        why = f"It could not start during a blackout ({blackout.reason}, until {_when(blackout.end, rules)})"
    elif leading.code is ErrorCode.WINDOW_TOO_SHORT or leading.code is ErrorCode.OUTSIDE_MAINTENANCE_WINDOW:
        why = "It could no longer start in time to finish inside the maintenance window"
    else:
        why = "It could not start then"
    if later is None:
        if rules.window_bound and not rules.windows:
            why = f"{why}, and no maintenance window is set"
        elif rules.window_bound:
            why = f"{why}, and no maintenance window is long enough for it"
        else:
            why = f"{why}, and no later start is free"
        return f"{why}. Campus Hosting will choose a new time."
    return f"{why}, so it moved to {_when(later, rules)}."
