"""For runbook tests: an executor whose steps succeed, fail or wait as a test says, a request as a
job finds it, and a log of the progress a run publishes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from models.enums import EnvironmentKind, EventType, UpdateKind
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests.dispatch import dispatch
from models.tables import UpdateRequest
from tests.workers.scenario import Scene, request_and_schedule
from workers.executors import ProgressCallback, StepJob

During = Callable[[StepJob, ProgressCallback], Awaitable[None]]


class FakeExecutor:
    """Runs every step at once, except: `failures[step]` are raised by that step's next tries, in
    order, and `during(job, report)` runs inside each step first."""

    def __init__(
        self, failures: dict[str, list[Exception]] | None = None, during: During | None = None
    ) -> None:
        self.jobs: list[StepJob] = []
        self.failures = {step: list(errors) for step, errors in (failures or {}).items()}
        self.during = during

    @property
    def steps(self) -> list[str]:
        return [job.step for job in self.jobs]

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        self.jobs.append(job)
        if self.during is not None:
            await self.during(job, report)
        pending = self.failures.get(job.step)
        if pending:
            raise pending.pop(0)


async def dispatched(
    scene: Scene,
    kind: UpdateKind = UpdateKind.VERSION_UPDATE,
    environment: EnvironmentKind = EnvironmentKind.PRODUCTION,
) -> UpdateRequest:
    """A request the scheduler has handed to the workers (NOT_STARTED), as a job finds it."""
    request = await request_and_schedule(scene, kind, environment)
    assert await dispatch(request.id)
    return await UpdateRequest.get(id=request.id)


class ProgressLog:
    """An event sink keeping the (percent, message) of every progress event, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str | None]] = []
        self._awaited: dict[str, asyncio.Event] = {}

    async def __call__(self, event: UpdateRequestChanged) -> None:
        if event.type is EventType.PROGRESS and event.progress is not None:
            self.seen.append((event.progress.percent, event.progress.message))
            if event.progress.message in self._awaited:
                self._awaited[event.progress.message].set()

    async def published(self, message: str, within: float) -> None:
        """Return once progress with `message` was published (at most `within` seconds)."""
        awaited = self._awaited.setdefault(message, asyncio.Event())
        if any(seen == message for _, seen in self.seen):
            return
        await asyncio.wait_for(awaited.wait(), within)


@asynccontextmanager
async def progress_log() -> AsyncIterator[ProgressLog]:
    log = ProgressLog()
    add_event_sink(log)
    try:
        yield log
    finally:
        remove_event_sink(log)
