"""A step of a request as the runbook hands it to an executor, and a progress recorder."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from models.enums import UpdateKind
from workers.executors import StepJob

STEP_JOB = StepJob(
    request_id=7,
    kind=UpdateKind.VERSION_UPDATE,
    step="install_version",
    step_label="Install the new version",
    district_id=3,
    district_name="Maple Valley Schools",
    environment="STAGING",
    target_version="Campus.2435.4",
)


def step_job(**changes: object) -> StepJob:
    return replace(STEP_JOB, **changes)  # type: ignore[arg-type]


@dataclass
class Progress:
    """The `report` callback of a step: keeps what the executor reported, in order."""

    reports: list[tuple[int, str | None]] = field(default_factory=list)

    async def __call__(self, percent: int, message: str | None) -> None:
        self.reports.append((percent, message))
