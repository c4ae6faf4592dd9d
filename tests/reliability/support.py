"""Shared by the reliability trials: counts (CI vs `make reliability`), the lifecycle check on the
audit history, and one JSON line per trial group for RELIABILITY.md."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from models.enums import UpdateStatus
from models.lifecycle import MOVES
from models.tables import StatusChange

#: `make reliability` sets this; CI runs the same trials with small counts.
FULL = bool(os.environ.get("UPDATEDESK_RELIABILITY_FULL"))
REPORT_ENV = "UPDATEDESK_RELIABILITY_REPORT"
LEGAL_MOVES: frozenset[tuple[UpdateStatus | None, UpdateStatus]] = frozenset(
    (move.source, move.target) for move in MOVES
)


def count(ci: int, full: int) -> int:
    """How many trials: `full` under `make reliability`, `ci` otherwise."""
    return full if FULL else ci


@dataclass
class Row:
    """One line of the RELIABILITY.md table."""

    name: str
    kind: str  # fault | race | fuzz | attack
    trials: int = 0
    submitted: int = 0
    lost: int = 0
    duplicated: int = 0
    illegal: int = 0
    stuck: int = 0
    #: Seconds from the fault to the system working again, per trial (summarised in the table).
    recovery: list[float] = field(default_factory=list)
    note: str = ""
    test: str = ""

    def assert_clean(self) -> None:
        assert (self.lost, self.duplicated, self.illegal, self.stuck) == (0, 0, 0, 0), self


def record(row: Row) -> None:
    """Append the row to the report file named by UPDATEDESK_RELIABILITY_REPORT (if set)."""
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    line = {**asdict(row), "full": FULL, "recorded_at": time.time()}
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


async def illegal_moves(request_ids: Iterable[int] | None = None) -> list[tuple[int, str | None, str]]:
    """History rows whose (from, to) is not a move of `models.lifecycle.MOVES`."""
    rows = StatusChange.all()
    if request_ids is not None:
        rows = rows.filter(update_request_id__in=list(request_ids))
    bad = []
    for change in await rows:
        if (change.from_status, change.to_status) not in LEGAL_MOVES:
            source = change.from_status.value if change.from_status else None
            bad.append((change.update_request_id, source, change.to_status.value))
    return bad


async def broken_chains(request_ids: Iterable[int]) -> list[int]:
    """Requests whose history does not chain (each move starts where the last one ended)."""
    broken = []
    for request_id in request_ids:
        changes = await StatusChange.filter(update_request_id=request_id).order_by("at", "id")
        previous: UpdateStatus | None = None
        for change in changes:
            if change.from_status is not previous:
                broken.append(request_id)
                break
            previous = change.to_status
    return broken
