"""Executors: what actually happens in one runbook step.

- ``SimulatedExecutor`` (``simulated``): each step lasts ``simulated_step_seconds``.
- ``CommandExecutor`` (``command``): the operator's command per kind, once per step.
- ``DatabaseCopyExecutor`` (``dbcopy``) wraps either one and does the real copy of a refresh.
``build_executor(settings)`` assembles the one the settings ask for.
"""

from __future__ import annotations

import os

from infra.settings import Settings
from models.enums import UpdateKind
from workers.errors import ConfigurationError
from workers.executors.base import COPY_STEP, Executor, ProgressCallback, StepJob
from workers.executors.command import CommandExecutor, inherited_environment
from workers.executors.dbcopy import DatabaseCopyExecutor
from workers.executors.simulated import SimulatedExecutor


def build_executor(settings: Settings) -> Executor:
    """The executor chosen by UPDATEDESK_EXECUTOR, wrapped with the real database copy."""
    inner: Executor
    # What operator commands and the database tools inherit from this worker: no secret of it.
    environment = inherited_environment(os.environ, settings.command_passed_names)
    if settings.executor == "simulated":
        inner = SimulatedExecutor(settings.simulated_step_seconds)
    elif settings.executor == "command":
        inner = CommandExecutor(
            {
                UpdateKind.VERSION_UPDATE: settings.command_version_update,
                UpdateKind.DATABASE_REFRESH: settings.command_database_refresh,
            },
            settings.command_timeout_seconds,
            environment,
        )
    else:  # pragma: no cover - Settings validates the choice
        raise ConfigurationError(f"unknown executor {settings.executor!r}")
    return DatabaseCopyExecutor(
        inner, settings.command_timeout_seconds, environment, protected_urls=(settings.database_url,)
    )


__all__ = [
    "COPY_STEP",
    "CommandExecutor",
    "DatabaseCopyExecutor",
    "Executor",
    "ProgressCallback",
    "SimulatedExecutor",
    "StepJob",
    "build_executor",
]
