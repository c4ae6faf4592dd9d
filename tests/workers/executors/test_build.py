"""`build_executor`: the executor UPDATEDESK_EXECUTOR names, always wrapped by the database copy."""

from __future__ import annotations

from infra.settings import Settings
from models.enums import UpdateKind
from workers.executors import CommandExecutor, DatabaseCopyExecutor, SimulatedExecutor, build_executor


def test_the_simulated_executor_is_the_default_and_wrapped_by_the_copy() -> None:
    built = build_executor(Settings(simulated_step_seconds=0.25, command_timeout_seconds=90))
    assert isinstance(built, DatabaseCopyExecutor)
    assert built.timeout_seconds == 90
    assert isinstance(built.inner, SimulatedExecutor) and built.inner.step_seconds == 0.25


def test_the_command_executor_gets_one_command_per_kind_and_the_time_limit() -> None:
    settings = Settings(
        executor="command",
        command_version_update="/opt/ops/update.sh",
        command_database_refresh="/opt/ops/refresh.sh",
        command_timeout_seconds=90,
    )
    built = build_executor(settings)
    assert isinstance(built, DatabaseCopyExecutor) and built.timeout_seconds == 90
    assert isinstance(built.inner, CommandExecutor)
    assert built.inner.commands == {
        UpdateKind.VERSION_UPDATE: "/opt/ops/update.sh",
        UpdateKind.DATABASE_REFRESH: "/opt/ops/refresh.sh",
    }
    assert built.inner.timeout_seconds == 90
