"""All configuration, read from the environment in one place."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite://updatedesk.sqlite3"
DEFAULT_SCHEDULER_INTERVAL = 5.0
DEFAULT_SIMULATED_STEP_SECONDS = 1.0
DEFAULT_COMMAND_TIMEOUT_SECONDS = 3600.0
DEFAULT_TOKEN_DAYS = 365


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPDATEDESK_", populate_by_name=True, extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL", "redis_url"))
    smtp_url: str | None = Field(None, validation_alias=AliasChoices("SMTP_URL", "smtp_url"))
    #: Seconds between dispatch passes of the scheduler.
    scheduler_interval: float = Field(DEFAULT_SCHEDULER_INTERVAL, gt=0)
    executor: Literal["simulated", "command"] = "simulated"
    simulated_step_seconds: float = Field(DEFAULT_SIMULATED_STEP_SECONDS, ge=0)
    #: Operator commands for the `command` executor, one per update kind (run through the shell).
    command_version_update: str | None = None
    command_database_refresh: str | None = None
    command_timeout_seconds: float = Field(DEFAULT_COMMAND_TIMEOUT_SECONDS, gt=0)
    mail_from: str = "Campus Hosting <hosting@updatedesk.invalid>"
    token_days: int = Field(DEFAULT_TOKEN_DAYS, gt=0)
    log_json: bool = True

    @property
    def tortoise_db_url(self) -> str:
        return normalize_database_url(self.database_url)

    @property
    def embedded(self) -> bool:
        """No Redis: queue, bus and scheduler run inside the one process."""
        return not self.redis_url


def normalize_database_url(url: str) -> str:
    """Accept the usual `postgresql://` spelling as well as Tortoise's `postgres://`."""
    for prefix in ("postgresql+asyncpg://", "postgresql://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
