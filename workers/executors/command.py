"""The command executor: runs the operator's command for the request's kind once per step.

The request's details are in ``UPDATEDESK_*`` environment variables (``UPDATEDESK_STEP`` names the
step); apart from them the command sees only an allow-listed environment (``PATH``, ``HOME``,
``LANG``, ``LC_*``, ``TZ`` and the variables the operator names in
``UPDATEDESK_COMMAND_PASS_ENV``), never the service's own secrets. Lines
``PROGRESS <percent> <message>`` on its stdout report progress within the step; exit 0 finishes
the step, any other exit fails it. The district reads a reason without the command's output; the
tail of stderr (redacted) is the failure's technical detail, for hosting staff. When the step ends
(finished, failed or past its time limit) the command's whole process group is stopped, so
nothing it started in the background outlives its step; and a guard (`guard.py`) stops it when the
worker dies without doing so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path

from infra.logs import redact_text
from infra.settings import SERVICE_SECRET_VARIABLES, SETTINGS_PREFIX
from models.enums import UpdateKind
from workers.errors import StepFailed
from workers.executors.base import ProgressCallback, StepJob

logger = logging.getLogger(__name__)

#: How much of a failing command's stderr becomes the technical detail.
STDERR_TAIL_LINES = 10
STDERR_TAIL_CHARS = 800
#: Grace between SIGTERM and SIGKILL of a command's process group, seconds.
KILL_GRACE_SECONDS = 2.0
GROUP_POLL_SECONDS = 0.02
#: After the command itself exited, how long what it started may keep its output open.
PIPE_DRAIN_SECONDS = 1.0
EXIT_POLL_SECONDS = 0.05
#: Output is read in chunks of this size; a longer line than MAX_LINE_BYTES is cut (never an error).
READ_CHUNK_BYTES = 16 * 1024
MAX_LINE_BYTES = 64 * 1024
PROGRESS_LINE = re.compile(r"^PROGRESS\s+(\d{1,3})(?:\s+(.*))?$")

#: The guard each command and tool runs under (run by its path: it imports nothing of ours).
GUARD = Path(__file__).with_name("guard.py")
#: What a command inherits from the worker's environment besides the request's variables.
INHERITED_NAMES = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR"})
INHERITED_PREFIXES = ("LC_",)


def is_service_variable(name: str) -> bool:
    """The service's secrets, and its settings (a command's UPDATEDESK_* are the request's)."""
    return name in SERVICE_SECRET_VARIABLES or name.startswith(SETTINGS_PREFIX)


def inherited_environment(source: Mapping[str, str], extra_names: Iterable[str] = ()) -> dict[str, str]:
    """The part of `source` (the worker's environment) a command may see."""
    wanted = set(INHERITED_NAMES) | set(extra_names)
    return {
        name: value
        for name, value in source.items()
        if (name in wanted or name.startswith(INHERITED_PREFIXES)) and not is_service_variable(name)
    }


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


def guarded(argv: list[str]) -> list[str]:
    """`argv` run under the guard (`guard.py`), which stops the command's process group when this
    worker dies without stopping it. Start it with `start_new_session=True`: the guard leads the
    group, so the group's id is its pid."""
    return [sys.executable, "-I", str(GUARD), str(os.getpid()), *argv]


def parse_progress(line: str) -> tuple[int, str | None] | None:
    match = PROGRESS_LINE.match(line.strip())
    if match is None:
        return None
    message = (match.group(2) or "").strip() or None
    return min(100, int(match.group(1))), message


class CommandExecutor:
    def __init__(
        self,
        commands: dict[UpdateKind, str | None],
        timeout_seconds: float,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.commands = commands
        self.timeout_seconds = timeout_seconds
        #: What every command inherits (see `inherited_environment`); the request's variables are added.
        self.environment = dict(environment) if environment is not None else inherited_environment(os.environ)

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        command = self.commands.get(job.kind)
        if not command:
            raise StepFailed(
                f"No operator command is configured for {job.kind.value} "
                f"(set UPDATEDESK_COMMAND_{job.kind.value}).",
                retryable=False,
            )
        process = await asyncio.create_subprocess_exec(
            *guarded(["/bin/sh", "-c", command]),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**self.environment, **command_environment(job)},
            start_new_session=True,  # its own process group, so all of it can be stopped
        )
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        try:
            await asyncio.wait_for(_communicate(process, report, stderr_tail), self.timeout_seconds)
        except TimeoutError:
            raise StepFailed(
                f"Step '{job.step_label}' exceeded the time limit of {self.timeout_seconds:g} s and "
                "was stopped.",
                detail=tail_text(stderr_tail),
            ) from None
        finally:
            await stop_group(process)
        if process.returncode != 0:
            raise StepFailed(
                f"Step '{job.step_label}' failed (exit status {process.returncode}).",
                detail=tail_text(stderr_tail),
            )


async def _communicate(
    process: asyncio.subprocess.Process, report: ProgressCallback, stderr_tail: deque[str]
) -> None:
    assert process.stdout is not None and process.stderr is not None

    async def on_stdout(line: str) -> None:
        parsed = parse_progress(line)
        if parsed is not None:
            await report(*parsed)

    async def on_stderr(line: str) -> None:
        if text := line.rstrip():
            stderr_tail.append(text)

    readers = asyncio.gather(read_lines(process.stdout, on_stdout), read_lines(process.stderr, on_stderr))
    try:
        # Process.wait() also waits for the pipes to close (Python 3.11), which a child left
        # behind may hold open for ever: watch the exit status instead.
        while process.returncode is None and not readers.done():
            await asyncio.wait({readers}, timeout=EXIT_POLL_SECONDS)
        # What it left behind gets a moment to finish its output; then the caller stops the group.
        await asyncio.wait({readers}, timeout=PIPE_DRAIN_SECONDS)
        if readers.done():
            readers.result()
    finally:
        if not readers.done():
            readers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await readers


async def read_lines(stream: asyncio.StreamReader, handle: Callable[[str], Awaitable[None]]) -> None:
    """Each line of `stream` to `handle`, read in chunks; a line longer than MAX_LINE_BYTES is
    handed on cut to that length and the rest of it skipped."""
    buffer = b""
    skipping = False  # inside the rest of an over-long line
    while chunk := await stream.read(READ_CHUNK_BYTES):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if skipping:
                skipping = False
                continue
            await handle(line.decode(errors="replace"))
        if len(buffer) > MAX_LINE_BYTES:
            if not skipping:
                await handle(buffer[:MAX_LINE_BYTES].decode(errors="replace"))
            skipping, buffer = True, b""
    if buffer and not skipping:
        await handle(buffer.decode(errors="replace"))


def tail_text(lines: Iterable[str]) -> str | None:
    """The technical detail of a failure: the last lines of output, secrets blanked."""
    text = " | ".join(lines)[-STDERR_TAIL_CHARS:]
    return redact_text(text) if text else None


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its identity: nothing more we can do
        return False
    return True


async def _group_gone(pgid: int, within: float) -> bool:
    """Wait up to `within` seconds for the group to have no process left."""
    deadline = time.monotonic() + within
    # Nothing signals that a group emptied (its members are not our children): poll.
    while _signal_group(pgid, 0):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(GROUP_POLL_SECONDS)
    return True


async def stop_group(process: asyncio.subprocess.Process) -> None:
    """Stop every process of the command's group (the shell may be gone, its children not):
    SIGTERM, up to KILL_GRACE_SECONDS for them to go, then SIGKILL; and reap the shell."""
    pgid = process.pid  # start_new_session: the shell leads its own group
    if _signal_group(pgid, signal.SIGTERM) and not await _group_gone(pgid, KILL_GRACE_SECONDS):
        logger.warning("command of process group %s ignored SIGTERM; killing it", pgid)
        _signal_group(pgid, signal.SIGKILL)
        await _group_gone(pgid, KILL_GRACE_SECONDS)
    try:
        await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
    except TimeoutError:  # a process that left the group still holds its output open
        logger.warning("command of process group %s left a process outside its group behind", pgid)
