"""What every executor shares: one step of one request (`StepJob`), the `Executor` interface, and
the progress callback an executor reports through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from models.enums import UpdateKind

#: Progress inside a step: percent (0-100 of this step) and an optional message.
ProgressCallback = Callable[[int, str | None], Awaitable[None]]

#: The refresh step that copies data; the database-copy executor does the real copy in it.
COPY_STEP = "copy_data"


@dataclass(frozen=True)
class StepJob:
    """One step of one request, with what an executor may need to know about the request."""

    request_id: int
    kind: UpdateKind
    step: str
    step_label: str
    district_id: int
    district_name: str
    environment: str
    target_version: str | None
    #: Only for database refreshes of environments that have a database URL (staff-only data).
    source_database_url: str | None = None
    target_database_url: str | None = None
    #: The history sequence of the request's IN_PROGRESS move: progress records follow it.
    history_seq: int | None = None


class Executor(Protocol):
    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        """Do the step; raise StepFailed with a reason a person can act on when it fails."""
        ...
