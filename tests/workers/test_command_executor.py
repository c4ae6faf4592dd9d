"""The command executor as the operator sees it: what a command may see of the worker, what a
district reads when it fails, and that nothing it starts outlives its step."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from infra.settings import Settings
from models.enums import UpdateKind, UpdateStatus
from models.tables import UpdateRequest
from tests import support
from tests.workers.conftest import wait_until
from tests.workers.scenario import make_scene, request_and_schedule
from tests.workers.test_embedded import WITHIN, settings_for
from workers.errors import StepFailed
from workers.executors import build_executor
from workers.executors.base import StepJob
from workers.executors.command import CommandExecutor, inherited_environment
from workers.runtime import embedded_runtime

SECRETS = {
    "DATABASE_URL": "postgresql://updatedesk:db-hunter2@db.internal:5432/updatedesk",
    "REDIS_URL": "redis://:redis-hunter2@cache.internal:6379/0",
    "SMTP_URL": "smtp+starttls://mailer:smtp-hunter2@smtp.internal:587",
    "AWS_SECRET_ACCESS_KEY": "aws-hunter2",
}
JOB = StepJob(
    request_id=7,
    kind=UpdateKind.VERSION_UPDATE,
    step="install_version",
    step_label="Install the new version",
    district_id=3,
    district_name="Lakeside Public Schools",
    environment="PRODUCTION",
    target_version="Campus.2435.4",
)


async def _no_progress(percent: int, message: str | None) -> None:
    return None


def _environment_of(output: Path) -> dict[str, str]:
    names_values = [line.split("=", 1) for line in output.read_text().splitlines() if "=" in line]
    return {name: value for name, value in names_values}


async def test_a_command_sees_the_request_and_an_allow_list_never_the_services_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAMPUS_DEPLOY_HOST", "deploy.internal")  # an operator's own variable
    monkeypatch.setenv("UPDATEDESK_COMMAND_TIMEOUT_SECONDS", "99")  # a setting of the service
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    output = tmp_path / "env.txt"
    settings = Settings(
        executor="command",
        command_version_update=f"env > {output}",
        command_pass_env="CAMPUS_DEPLOY_HOST",
    )
    await build_executor(settings).run_step(JOB, _no_progress)

    seen = _environment_of(output)
    assert seen["UPDATEDESK_REQUEST_ID"] == "7" and seen["UPDATEDESK_STEP"] == "install_version"
    assert seen["UPDATEDESK_DISTRICT"] == "Lakeside Public Schools"
    assert seen["UPDATEDESK_TARGET_VERSION"] == "Campus.2435.4"
    assert seen["PATH"] == os.environ["PATH"] and seen["LC_ALL"] == "C.UTF-8"
    assert seen["CAMPUS_DEPLOY_HOST"] == "deploy.internal"  # named by the operator
    assert not set(SECRETS) & set(seen)
    assert "UPDATEDESK_COMMAND_TIMEOUT_SECONDS" not in seen
    assert "hunter2" not in output.read_text()


def test_the_service_secrets_cannot_be_named_for_commands() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        Settings(command_pass_env="PGHOST, DATABASE_URL")
    assert inherited_environment({"SMTP_URL": "x", "PATH": "/bin"}, ["SMTP_URL"]) == {"PATH": "/bin"}


async def test_a_failing_command_that_traces_itself_tells_the_district_no_secret(
    db: support.TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`set -x` and `env` on stderr, then a failure: the district's reason carries neither, the
    staff detail is redacted, and no secret of the worker was there to leak in the first place."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    scene = await make_scene()
    script = tmp_path / "operator.sh"
    script.write_text(
        "#!/bin/sh\nset -x\nenv >&2\n"
        'echo "pg_restore: connection to server at db-prod-7.internal failed for user campus_admin" >&2\n'
        'echo "retrying with postgresql://campus_admin:op-hunter2@db-prod-7.internal/campus" >&2\n'
        "exit 4\n"
    )
    settings = settings_for(db, executor="command", command_version_update=f"sh {script}", step_attempts=1)
    async with embedded_runtime(settings):
        request = await request_and_schedule(scene)

        async def failed() -> bool:
            return (await UpdateRequest.get(id=request.id)).status is UpdateStatus.UNABLE_TO_COMPLETE

        await wait_until(failed, WITHIN, "the failure")
    row = await UpdateRequest.get(id=request.id)
    assert row.status_message is not None and "Back up the site" in row.status_message
    assert "db-prod-7" not in row.status_message and "exit status" not in row.status_message
    # The technical detail reaches staff (internalDetail and the log), the operator's password
    # blanked and no worker secret in it.
    detail = row.internal_detail or ""
    assert "exit status 4" in detail and "db-prod-7.internal" in detail and "hunter2" not in detail
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "hunter2" not in logged


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


async def test_a_child_left_holding_the_pipe_is_stopped_with_its_step(tmp_path: Path) -> None:
    """The shell exits at once; the `sleep` it started keeps stdout open. The step ends when the
    shell does (not at the time limit) and the sleep does not outlive it."""
    pid_file = tmp_path / "child.pid"
    executor = CommandExecutor(
        {UpdateKind.VERSION_UPDATE: f"sleep 120 & echo $! > {pid_file}"}, timeout_seconds=30
    )
    started = time.monotonic()
    await executor.run_step(JOB, _no_progress)
    assert time.monotonic() - started < 10
    child = int(pid_file.read_text())
    assert not _alive(child)


async def test_a_time_limit_stops_the_whole_group_even_after_the_shell_exited(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = f"(trap '' TERM; sleep 120) > /dev/null 2>&1 & echo $! > {pid_file}; sleep 30"
    executor = CommandExecutor({UpdateKind.VERSION_UPDATE: command}, timeout_seconds=0.5)
    with pytest.raises(StepFailed, match="time limit"):
        await executor.run_step(JOB, _no_progress)
    assert not _alive(int(pid_file.read_text()))  # it ignored SIGTERM: SIGKILL followed


async def test_a_line_longer_than_64_kib_is_read_without_error(tmp_path: Path) -> None:
    reported: list[tuple[int, str | None]] = []

    async def report(percent: int, message: str | None) -> None:
        reported.append((percent, message))

    command = (
        "head -c 200000 /dev/zero | tr '\\0' x; echo; echo 'PROGRESS 40 after the long line'; "
        "head -c 100000 /dev/zero | tr '\\0' y >&2; echo 'PROGRESS 80 done'"
    )
    executor = CommandExecutor({UpdateKind.VERSION_UPDATE: command}, timeout_seconds=30)
    await executor.run_step(JOB, report)
    assert reported == [(40, "after the long line"), (80, "done")]
