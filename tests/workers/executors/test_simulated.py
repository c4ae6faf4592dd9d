"""The simulated executor: a step only takes its configured time and reports nothing."""

from __future__ import annotations

import asyncio

from tests.workers.executors.jobs import STEP_JOB, Progress
from workers.executors import SimulatedExecutor

STEP_SECONDS = 0.05
#: asyncio may wake a timer up to its clock resolution early; far below this.
EARLY_TOLERANCE = 0.01


async def test_a_simulated_step_takes_its_configured_time_and_reports_nothing() -> None:
    progress = Progress()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await SimulatedExecutor(STEP_SECONDS).run_step(STEP_JOB, progress)
    assert loop.time() - started >= STEP_SECONDS - EARLY_TOLERANCE
    assert progress.reports == []
