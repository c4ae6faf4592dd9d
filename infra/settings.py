"""All configuration, read from the environment in one place.

`load_settings()` reads it once at a process's entry point (the CLI); from there the `Settings`
object is passed explicitly to whatever needs it. Nothing reads the environment on its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.running import DEFAULT_EXPECTED_MINUTES, DEFAULT_LEASE_SECONDS, RunPolicy

DEFAULT_DATABASE_URL = "sqlite://updatedesk.sqlite3"
DEFAULT_SCHEDULER_INTERVAL = 5.0
DEFAULT_SIMULATED_STEP_SECONDS = 1.0
DEFAULT_COMMAND_TIMEOUT_SECONDS = 3600.0
DEFAULT_TOKEN_DAYS = 365
#: Prefix of every Redis key and channel of one deployment (dramatiq queues, event channel).
DEFAULT_REDIS_NAMESPACE = "updatedesk"
#: Seconds without a heartbeat before a worker counts as dead and its jobs are delivered again.
DEFAULT_WORKER_HEARTBEAT_TIMEOUT = 60.0
#: Longest idle wait (seconds) of a worker's consumer between polls of an empty queue.
DEFAULT_WORKER_IDLE_WAIT = 0.1
#: Per million broker commands, how many also requeue the jobs of dead workers.
DEFAULT_WORKER_MAINTENANCE_CHANCE = 1000
DEFAULT_WORKER_PROCESSES = 1
DEFAULT_WORKER_THREADS = 4
#: Attempts per runbook step before the request is given up as UNABLE_TO_COMPLETE.
DEFAULT_STEP_ATTEMPTS = 3
DEFAULT_STEP_RETRY_DELAY = 5.0
#: Seconds a new WebSocket may take to send `connection_init` before it is closed with 4408.
DEFAULT_WS_INIT_TIMEOUT_SECONDS = 10.0
#: Operations one WebSocket may run at once; the next subscribe gets an error message.
DEFAULT_WS_MAX_SUBSCRIPTIONS = 25
#: Events one subscription may fall behind by (progress coalesced) before its socket is closed.
DEFAULT_WS_SUBSCRIBER_QUEUE = 256
#: A subscription re-checks its connection's token and district links at most this often (s).
DEFAULT_WS_AUTH_RECHECK_SECONDS = 1.0


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
    redis_namespace: str = Field(DEFAULT_REDIS_NAMESPACE, min_length=1)
    worker_heartbeat_timeout: float = Field(DEFAULT_WORKER_HEARTBEAT_TIMEOUT, gt=0)
    worker_idle_wait: float = Field(DEFAULT_WORKER_IDLE_WAIT, gt=0)
    worker_maintenance_chance: int = Field(DEFAULT_WORKER_MAINTENANCE_CHANCE, ge=0, le=1_000_000)
    worker_processes: int = Field(DEFAULT_WORKER_PROCESSES, ge=1)
    worker_threads: int = Field(DEFAULT_WORKER_THREADS, ge=1)
    #: Port of a worker's Prometheus endpoint (worker N of `--processes` uses port + N); unset: none.
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    step_attempts: int = Field(DEFAULT_STEP_ATTEMPTS, ge=1)
    #: Expected duration of window-bound work: it starts only if this much of its window is left.
    expected_minutes: float = Field(DEFAULT_EXPECTED_MINUTES, gt=0)
    #: Lease of a started request; its worker renews it, the scheduler reclaims it once it lapses.
    lease_seconds: float = Field(DEFAULT_LEASE_SECONDS, gt=0)
    #: Alerts for the hosting team (lapsed leases given up) are mailed here; always logged.
    staff_alert_email: str | None = None
    step_retry_delay: float = Field(DEFAULT_STEP_RETRY_DELAY, ge=0)
    token_days: int = Field(DEFAULT_TOKEN_DAYS, gt=0)
    log_json: bool = True
    ws_init_timeout_seconds: float = Field(DEFAULT_WS_INIT_TIMEOUT_SECONDS, gt=0)
    ws_max_subscriptions: int = Field(DEFAULT_WS_MAX_SUBSCRIPTIONS, ge=1)
    ws_subscriber_queue: int = Field(DEFAULT_WS_SUBSCRIBER_QUEUE, ge=1)
    ws_auth_recheck_seconds: float = Field(DEFAULT_WS_AUTH_RECHECK_SECONDS, ge=0, le=1.0)

    @property
    def tortoise_db_url(self) -> str:
        return normalize_database_url(self.database_url)

    @property
    def run_policy(self) -> RunPolicy:
        """What the domain needs of these settings to run work safely."""
        return RunPolicy(
            expected_duration=timedelta(minutes=self.expected_minutes),
            lease=timedelta(seconds=self.lease_seconds),
            attempts=self.step_attempts,
            staff_alert_email=self.staff_alert_email or None,
        )

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


def load_settings() -> Settings:
    """Read the settings from the environment (entry points only; pass the result on)."""
    return Settings()
