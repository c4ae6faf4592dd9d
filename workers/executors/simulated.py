"""The simulated executor: each step just takes `simulated_step_seconds` (demos and tests)."""

from __future__ import annotations

import asyncio

from workers.executors.base import ProgressCallback, StepJob


class SimulatedExecutor:
    def __init__(self, step_seconds: float) -> None:
        self.step_seconds = step_seconds

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        # The simulation: a step "takes" this long.
        await asyncio.sleep(self.step_seconds)
