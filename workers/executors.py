"""Executors: what actually happens in one runbook step.

- ``SimulatedExecutor``: each step lasts ``simulated_step_seconds`` (demos and tests).
- ``CommandExecutor``: runs the operator's command for the request's kind once per step, with the
  request in ``UPDATEDESK_*`` environment variables (``UPDATEDESK_STEP`` names the step). Lines
  ``PROGRESS <percent> <message>`` on its stdout report progress within the step; exit 0 finishes
  the step, any other exit fails it with the tail of stderr; past the time limit the whole process
  group is killed and the step fails.
- ``DatabaseCopyExecutor`` (workers.dbcopy) wraps either one and does the real copy of a refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from models.enums import UpdateKind
from updatedesk.settings import Settings
from workers.errors import ConfigurationError, StepFailed

#: Progress inside a step: percent (0-100 of this step) and an optional message.
ProgressCallback = Callable[[int, str | None], Awaitable[None]]

#: How much of a failing command's stderr becomes the reason.
STDERR_TAIL_LINES = 10
STDERR_TAIL_CHARS = 800
#: Grace between SIGTERM and SIGKILL of a command past its time limit, seconds.
KILL_GRACE_SECONDS = 2.0
PROGRESS_LINE = re.compile(r"^PROGRESS\s+(\d{1,3})(?:\s+(.*))?$")


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


class Executor(Protocol):
    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        """Do the step; raise StepFailed with a reason a person can act on when it fails."""
        ...


class SimulatedExecutor:
    def __init__(self, step_seconds: float) -> None:
        self.step_seconds = step_seconds

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        # The simulation: a step "takes" this long.
        await asyncio.sleep(self.step_seconds)


def command_environment(job: StepJob) -> dict[str, str]:
    return {
        "UPDATEDESK_REQUEST_ID": str(job.request_id),
        "UPDATEDESK_KIND": job.kind.value,
        "UPDATEDESK_STEP": job.step,
        "UPDATEDESK_STEP_LABEL": job.step_label,
        "UPDATEDESK_DISTRICT_ID": str(job.district_id),
        "UPDATEDESK_DISTRICT": job.district_name,
        "UPDATEDESK_ENVIRONMENT": job.environment,
        "UPDATEDESK_TARGET_VERSION": job.target_version or "",
    }


def parse_progress(line: str) -> tuple[int, str | None] | None:
    match = PROGRESS_LINE.match(line.strip())
    if match is None:
        return None
    message = (match.group(2) or "").strip() or None
    return min(100, int(match.group(1))), message


class CommandExecutor:
    def __init__(self, commands: dict[UpdateKind, str | None], timeout_seconds: float) -> None:
        self.commands = commands
        self.timeout_seconds = timeout_seconds

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        command = self.commands.get(job.kind)
        if not command:
            raise StepFailed(
                f"No operator command is configured for {job.kind.value} "
                f"(set UPDATEDESK_COMMAND_{job.kind.value}).",
                retryable=False,
            )
        process = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **command_environment(job)},
            start_new_session=True,  # its own process group, so a time limit kills all of it
        )
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        try:
            await asyncio.wait_for(self._communicate(process, report, stderr_tail), self.timeout_seconds)
        except TimeoutError:
            await _kill_group(process)
            raise StepFailed(
                f"Step '{job.step_label}' exceeded the time limit of {self.timeout_seconds:g} s and "
                f"was stopped.{_tail_text(stderr_tail)}"
            ) from None
        except BaseException:
            await _kill_group(process)
            raise
        if process.returncode != 0:
            raise StepFailed(
                f"Step '{job.step_label}' failed (exit status {process.returncode}).{_tail_text(stderr_tail)}"
            )

    async def _communicate(
        self, process: asyncio.subprocess.Process, report: ProgressCallback, stderr_tail: deque[str]
    ) -> None:
        assert process.stdout is not None and process.stderr is not None

        async def read_stdout() -> None:
            assert process.stdout is not None
            async for raw in process.stdout:
                parsed = parse_progress(raw.decode(errors="replace"))
                if parsed is not None:
                    await report(*parsed)

        async def read_stderr() -> None:
            assert process.stderr is not None
            async for raw in process.stderr:
                text = raw.decode(errors="replace").rstrip()
                if text:
                    stderr_tail.append(text)

        await asyncio.gather(read_stdout(), read_stderr())
        await process.wait()


def _tail_text(lines: deque[str]) -> str:
    if not lines:
        return ""
    return " Error output: " + " | ".join(lines)[-STDERR_TAIL_CHARS:]


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def build_executor(settings: Settings) -> Executor:
    """The executor chosen by UPDATEDESK_EXECUTOR, wrapped with the real database copy."""
    from workers.dbcopy import DatabaseCopyExecutor

    inner: Executor
    if settings.executor == "simulated":
        inner = SimulatedExecutor(settings.simulated_step_seconds)
    elif settings.executor == "command":
        inner = CommandExecutor(
            {
                UpdateKind.VERSION_UPDATE: settings.command_version_update,
                UpdateKind.DATABASE_REFRESH: settings.command_database_refresh,
            },
            settings.command_timeout_seconds,
        )
    else:  # pragma: no cover - Settings validates the choice
        raise ConfigurationError(f"unknown executor {settings.executor!r}")
    return DatabaseCopyExecutor(inner, settings.command_timeout_seconds)
