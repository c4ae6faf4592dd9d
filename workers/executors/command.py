"""The command executor: runs the operator's command for the request's kind once per step.

The request's details are in ``UPDATEDESK_*`` environment variables (``UPDATEDESK_STEP`` names the
step). Lines ``PROGRESS <percent> <message>`` on its stdout report progress within the step; exit 0
finishes the step, any other exit fails it with the tail of stderr; past the time limit the whole
process group is killed and the step fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections import deque

from models.enums import UpdateKind
from workers.errors import StepFailed
from workers.executors.base import ProgressCallback, StepJob

#: How much of a failing command's stderr becomes the reason.
STDERR_TAIL_LINES = 10
STDERR_TAIL_CHARS = 800
#: Grace between SIGTERM and SIGKILL of a command past its time limit, seconds.
KILL_GRACE_SECONDS = 2.0
PROGRESS_LINE = re.compile(r"^PROGRESS\s+(\d{1,3})(?:\s+(.*))?$")


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
