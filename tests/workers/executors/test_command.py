"""The command executor: PROGRESS lines, the request's environment, and real shell commands that
succeed, fail, report, run past their time limit or are cancelled."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from models.enums import UpdateKind
from tests.workers.conftest import wait_until
from tests.workers.executors.jobs import STEP_JOB, Progress, step_job
from workers.errors import StepFailed
from workers.executors import command as command_module
from workers.executors.command import (
    STDERR_TAIL_CHARS,
    STDERR_TAIL_LINES,
    CommandExecutor,
    command_environment,
    parse_progress,
)

#: Generous: only a broken kill makes a test wait this long for a process to go.
GONE_WITHIN = 10.0
#: A command that reports its shell's pid and its background child's pid, then waits forever. The
#: child lets go of the pipes, so only a signal to the whole group can end it.
LINGERING = 'echo "still migrating" >&2; sleep 30 >/dev/null 2>&1 & echo "PROGRESS 1 $$ $!"; wait'
#: A command that ignores SIGTERM (the ignoring survives the exec): only SIGKILL ends it.
DEAF = "trap '' TERM; echo \"PROGRESS 1 $$ $$\"; exec sleep 30"


# --------------------------------------------------------------------------- parse_progress


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("PROGRESS 40 Copying files", (40, "Copying files")),
        ("PROGRESS 40", (40, None)),
        ("PROGRESS 40   \n", (40, None)),
        ("  PROGRESS 7 two  spaces kept \r\n", (7, "two  spaces kept")),
        ("PROGRESS\t55\ttabbed", (55, "tabbed")),
        ("PROGRESS 0 start", (0, "start")),
        ("PROGRESS 100", (100, None)),
        ("PROGRESS 250 too far", (100, "too far")),
        ("PROGRESS 007 padded", (7, "padded")),
    ],
)
def test_parse_progress_reads_percent_and_message(line: str, expected: tuple[int, str | None]) -> None:
    assert parse_progress(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "Copying files",
        "progress 40 lower case",
        "PROGRESS40",
        "PROGRESS",
        "PROGRESS -5",
        "PROGRESS 1000",
        "PROGRESS 40.5",
        "PROGRESS forty",
        "echo PROGRESS 40",
    ],
)
def test_parse_progress_ignores_other_lines(line: str) -> None:
    assert parse_progress(line) is None


# --------------------------------------------------------------------------- command_environment


def test_command_environment_names_the_request_and_step() -> None:
    assert command_environment(STEP_JOB) == {
        "UPDATEDESK_REQUEST_ID": "7",
        "UPDATEDESK_KIND": "VERSION_UPDATE",
        "UPDATEDESK_STEP": "install_version",
        "UPDATEDESK_STEP_LABEL": "Install the new version",
        "UPDATEDESK_DISTRICT_ID": "3",
        "UPDATEDESK_DISTRICT": "Maple Valley Schools",
        "UPDATEDESK_ENVIRONMENT": "STAGING",
        "UPDATEDESK_TARGET_VERSION": "Campus.2435.4",
    }


def test_command_environment_of_a_refresh_has_an_empty_target_version() -> None:
    job = step_job(kind=UpdateKind.DATABASE_REFRESH, target_version=None)
    environment = command_environment(job)
    assert environment["UPDATEDESK_KIND"] == "DATABASE_REFRESH"
    assert environment["UPDATEDESK_TARGET_VERSION"] == ""


# --------------------------------------------------------------------------- run_step


def executor(command: str | None, timeout: float = 10.0) -> CommandExecutor:
    return CommandExecutor({UpdateKind.VERSION_UPDATE: command}, timeout)


async def failure_of(command: str, time_limit: float = 10.0) -> StepFailed:
    with pytest.raises(StepFailed) as caught:
        await executor(command, time_limit).run_step(STEP_JOB, Progress())
    return caught.value


def is_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return status.rsplit(")", 1)[1].split()[0] == "Z"


async def all_gone(*pids: int) -> None:
    async def gone() -> bool:
        return all(is_gone(pid) for pid in pids)

    await wait_until(gone, GONE_WITHIN, f"processes {pids} to end")


def reported_pids(progress: Progress) -> tuple[int, int]:
    message = progress.reports[0][1]
    assert message is not None
    shell, child = message.split()
    return int(shell), int(child)


async def test_exit_zero_finishes_the_step() -> None:
    progress = Progress()
    await executor("true").run_step(STEP_JOB, progress)
    assert progress.reports == []


async def test_error_output_alone_does_not_fail_the_step() -> None:
    await executor("echo 'deprecated option' >&2; exit 0").run_step(STEP_JOB, Progress())


async def test_the_command_sees_its_request_in_the_environment() -> None:
    progress = Progress()
    command = 'echo "PROGRESS 5 $UPDATEDESK_REQUEST_ID/$UPDATEDESK_STEP/$UPDATEDESK_TARGET_VERSION"'
    await executor(command).run_step(STEP_JOB, progress)
    assert progress.reports == [(5, "7/install_version/Campus.2435.4")]


async def test_progress_lines_are_reported_in_order_and_other_output_ignored() -> None:
    progress = Progress()
    command = (
        "printf 'PROGRESS 10 first\\nunpacking...\\nPROGRESS 40\\n"
        "  PROGRESS 70 third  \\nPROGRESS 150 over\\n'"
    )
    await executor(command).run_step(STEP_JOB, progress)
    assert progress.reports == [(10, "first"), (40, None), (70, "third"), (100, "over")]


async def test_a_non_zero_exit_fails_with_the_status_and_keeps_the_error_output_for_staff() -> None:
    failure = await failure_of("echo 'disk full on /srv/campus' >&2; echo 'rolled back' >&2; exit 3")
    assert failure.retryable
    assert "Install the new version" in failure.reason
    assert "exit status 3" in failure.reason
    # The district reads the step and the status; the command's words are for hosting staff.
    assert "disk full" not in failure.reason
    assert failure.detail == "disk full on /srv/campus | rolled back"


async def test_a_silent_failure_has_no_detail() -> None:
    failure = await failure_of("exit 4")
    assert "exit status 4" in failure.reason and failure.detail is None


async def test_only_the_last_error_lines_make_the_detail() -> None:
    lines = STDERR_TAIL_LINES + 5
    failure = await failure_of(
        f"for i in $(seq -w 1 {lines}); do echo \"err-$i\" >&2; done; printf '\\n' >&2; exit 1"
    )
    kept = [f"err-{i:02d}" for i in range(lines - STDERR_TAIL_LINES + 1, lines + 1)]
    assert failure.detail == " | ".join(kept)


async def test_a_long_error_output_is_cut_to_its_tail() -> None:
    failure = await failure_of("head -c 3000 /dev/zero | tr '\\0' x >&2; echo >&2; echo end >&2; exit 1")
    assert failure.detail is not None
    assert len(failure.detail) == STDERR_TAIL_CHARS and failure.detail.endswith("x | end")


@pytest.mark.parametrize(
    "commands",
    [{UpdateKind.VERSION_UPDATE: None}, {UpdateKind.VERSION_UPDATE: ""}, {}],
    ids=["unset", "empty", "absent"],
)
async def test_a_missing_command_fails_for_good_naming_the_setting(
    commands: dict[UpdateKind, str | None],
) -> None:
    with pytest.raises(StepFailed) as caught:
        await CommandExecutor(commands, 10.0).run_step(STEP_JOB, Progress())
    assert not caught.value.retryable
    assert "UPDATEDESK_COMMAND_VERSION_UPDATE" in caught.value.reason


async def test_a_command_past_its_time_limit_fails_the_step() -> None:
    started = asyncio.get_running_loop().time()
    failure = await failure_of("exec sleep 30", time_limit=0.2)
    assert asyncio.get_running_loop().time() - started < 10
    assert failure.retryable
    assert "Install the new version" in failure.reason
    assert "time limit of 0.2 s" in failure.reason


async def test_the_time_limit_stops_the_whole_process_group() -> None:
    progress = Progress()
    with pytest.raises(StepFailed, match="time limit") as caught:
        await executor(LINGERING, timeout=1.0).run_step(STEP_JOB, progress)
    assert "still migrating" in (caught.value.detail or "")
    await all_gone(*reported_pids(progress))


async def test_a_command_that_ignores_the_stop_signal_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command_module, "KILL_GRACE_SECONDS", 0.1)
    progress = Progress()
    with pytest.raises(StepFailed, match="time limit"):
        await asyncio.wait_for(executor(DEAF, timeout=1.0).run_step(STEP_JOB, progress), GONE_WITHIN)
    await all_gone(*reported_pids(progress))


async def test_a_cancelled_step_stops_its_command() -> None:
    progress = Progress()
    reported = asyncio.Event()

    async def report(percent: int, message: str | None) -> None:
        await progress(percent, message)
        reported.set()

    running = asyncio.create_task(executor(LINGERING).run_step(STEP_JOB, report))
    await asyncio.wait_for(reported.wait(), GONE_WITHIN)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await all_gone(*reported_pids(progress))
