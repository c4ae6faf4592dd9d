"""All configuration, read from the environment in one place.

`load_settings()` reads it once at a process's entry point (the CLI); from there the `Settings`
object is passed explicitly to whatever needs it. Nothing reads the environment on its own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.running import DEFAULT_EXPECTED_MINUTES, DEFAULT_LEASE_SECONDS, RunPolicy
from models.webhooks.retries import DEFAULT_RETRY_SECONDS, DELIVERY_TIMEOUT_SECONDS

DEFAULT_DATABASE_URL = "sqlite://updatedesk.sqlite3"
DEFAULT_SCHEDULER_INTERVAL = 5.0
DEFAULT_SIMULATED_STEP_SECONDS = 1.0
DEFAULT_COMMAND_TIMEOUT_SECONDS = 3600.0
#: Default lifetime of an issued token: long enough for a partner integration, short enough that
#: a forgotten token ends by itself (revoke one at once with `updatedesk tokens revoke`).
DEFAULT_TOKEN_DAYS = 90
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
DEFAULT_WORKER_METRICS_HOST = "127.0.0.1"
#: Attempts per runbook step before the request is given up as UNABLE_TO_COMPLETE.
DEFAULT_STEP_ATTEMPTS = 3
DEFAULT_STEP_RETRY_DELAY = 5.0
#: Seconds a new WebSocket may take to send `connection_init` before it is closed with 4408.
DEFAULT_WS_INIT_TIMEOUT_SECONDS = 10.0
#: Operations one WebSocket may run at once; the next subscribe gets an error message.
DEFAULT_WS_MAX_SUBSCRIPTIONS = 25
#: Frames one socket may fall behind by (progress coalesced) before it is closed with 1013.
DEFAULT_WS_SUBSCRIBER_QUEUE = 256
#: A subscription re-checks its connection's token and district links at most this often (s).
DEFAULT_WS_AUTH_RECHECK_SECONDS = 1.0
#: Where worker and scheduler write the liveness heartbeats `updatedesk healthcheck` reads.
DEFAULT_HEARTBEAT_DIR = Path("/tmp/updatedesk-heartbeat")
#: Largest cost (objects the answer may hold, see schema/extensions/cost.py) of one operation.
#: The README's Dashboard costs 624 (tests/schema/test_cost_calculator.py) and the web page's
#: largest query (a 100-row page with history) about 2,600: the default leaves them room; the
#: audit's 15-alias query costs millions.
DEFAULT_QUERY_MAX_COST = 10_000
#: Cost one account may spend per minute (a token bucket refilled evenly over the minute).
DEFAULT_QUERY_COST_PER_MINUTE = 200_000
#: WebSocket sockets one account, and one client address, may hold open on one API process.
DEFAULT_WS_MAX_SOCKETS_PER_ACCOUNT = 20
DEFAULT_WS_MAX_SOCKETS_PER_ADDRESS = 100
#: Subscribe messages one socket may send: a burst of this many, refilled at the rate below.
DEFAULT_WS_SUBSCRIBE_BURST = 25
DEFAULT_WS_SUBSCRIBES_PER_SECOND = 5.0
#: Seconds a client may take to send a request's headers, and then its whole body.
DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS = 10.0
DEFAULT_HTTP_BODY_TIMEOUT_SECONDS = 30.0

#: Longest a PostgreSQL statement of the service may run (or wait for a lock) before the server
#: cancels it, so that no runaway or blocked statement holds a pooled connection for ever.
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 30.0

#: Seconds the webhook dispatcher's lease lasts without renewal (renewed every third of it).
DEFAULT_WEBHOOK_DISPATCH_LEASE_SECONDS = 15.0

#: Variables that hold the service's own secrets: never handed to an operator command.
SERVICE_SECRET_VARIABLES = frozenset({"DATABASE_URL", "REDIS_URL", "SMTP_URL"})
#: Prefix of the service's settings; an operator command gets the request's variables of this name.
SETTINGS_PREFIX = "UPDATEDESK_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPDATEDESK_", populate_by_name=True, extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL", "redis_url"))
    smtp_url: str | None = Field(None, validation_alias=AliasChoices("SMTP_URL", "smtp_url"))
    #: PostgreSQL's `statement_timeout` on the service's connections (never on those that apply
    #: migrations); 0: none set. SQLite has no such limit.
    statement_timeout_seconds: float = Field(DEFAULT_STATEMENT_TIMEOUT_SECONDS, ge=0)
    #: Seconds between dispatch passes of the scheduler.
    scheduler_interval: float = Field(DEFAULT_SCHEDULER_INTERVAL, gt=0)
    executor: Literal["simulated", "command"] = "simulated"
    simulated_step_seconds: float = Field(DEFAULT_SIMULATED_STEP_SECONDS, ge=0)
    #: Operator commands for the `command` executor, one per update kind (run through the shell).
    command_version_update: str | None = None
    command_database_refresh: str | None = None
    command_timeout_seconds: float = Field(DEFAULT_COMMAND_TIMEOUT_SECONDS, gt=0)
    #: Names of further worker variables an operator command may see (comma-separated), on top of
    #: PATH, HOME, LANG, LC_* and TZ; the service's secrets and settings are refused.
    command_pass_env: str = ""
    mail_from: str = "Campus Hosting <hosting@updatedesk.invalid>"
    redis_namespace: str = Field(DEFAULT_REDIS_NAMESPACE, min_length=1)
    worker_heartbeat_timeout: float = Field(DEFAULT_WORKER_HEARTBEAT_TIMEOUT, gt=0)
    worker_idle_wait: float = Field(DEFAULT_WORKER_IDLE_WAIT, gt=0)
    worker_maintenance_chance: int = Field(DEFAULT_WORKER_MAINTENANCE_CHANCE, ge=0, le=1_000_000)
    worker_processes: int = Field(DEFAULT_WORKER_PROCESSES, ge=1)
    worker_threads: int = Field(DEFAULT_WORKER_THREADS, ge=1)
    #: Port of a worker's Prometheus endpoint (worker N of `--processes` uses port + N); unset: none.
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    #: Address the worker's metrics listen on: loopback unless the operator opens it up.
    worker_metrics_host: str = DEFAULT_WORKER_METRICS_HOST
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
    heartbeat_dir: Path = DEFAULT_HEARTBEAT_DIR
    #: Key from which calendar feed secrets are derived; unset: a key the service keeps in its
    #: database (then a copy of the database is enough to rebuild feed URLs).
    calendar_feed_key: SecretStr | None = Field(None, min_length=32)
    #: Development only: webhooks may use http and private, loopback and link-local addresses.
    webhook_allow_private: bool = False
    #: Seconds before a failed webhook delivery is tried again (doubling after each failure, 24 h).
    webhook_retry_seconds: float = Field(DEFAULT_RETRY_SECONDS, gt=0)
    #: Seconds one webhook POST may take in all; a claimed attempt lapses after three times that.
    webhook_timeout_seconds: float = Field(DELIVERY_TIMEOUT_SECONDS, gt=0)
    #: Seconds the webhook dispatcher's lease lasts unrenewed: a dead holder's successor waits this.
    webhook_dispatch_lease_seconds: float = Field(DEFAULT_WEBHOOK_DISPATCH_LEASE_SECONDS, gt=0)
    query_max_cost: int = Field(DEFAULT_QUERY_MAX_COST, ge=1)
    query_cost_per_minute: int = Field(DEFAULT_QUERY_COST_PER_MINUTE, ge=1)
    ws_max_sockets_per_account: int = Field(DEFAULT_WS_MAX_SOCKETS_PER_ACCOUNT, ge=1)
    ws_max_sockets_per_address: int = Field(DEFAULT_WS_MAX_SOCKETS_PER_ADDRESS, ge=1)
    ws_subscribe_burst: int = Field(DEFAULT_WS_SUBSCRIBE_BURST, ge=1)
    ws_subscribes_per_second: float = Field(DEFAULT_WS_SUBSCRIBES_PER_SECOND, gt=0)
    http_header_timeout_seconds: float = Field(DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS, gt=0)
    http_body_timeout_seconds: float = Field(DEFAULT_HTTP_BODY_TIMEOUT_SECONDS, gt=0)
    #: `/metrics` wants `Authorization: Bearer <this>` when set.
    metrics_token: SecretStr | None = None
    #: When set, `serve` also listens here and `/metrics` is answered on this port only.
    metrics_port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _budget_fits_one_operation(self) -> Settings:
        if self.query_cost_per_minute < self.query_max_cost:
            # Else an operation under the per-request limit could never run at all.
            raise ValueError("UPDATEDESK_QUERY_COST_PER_MINUTE must be at least UPDATEDESK_QUERY_MAX_COST")
        return self

    @field_validator("command_pass_env")
    @classmethod
    def _no_service_secrets(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        refused = [n for n in names if n in SERVICE_SECRET_VARIABLES or n.startswith(SETTINGS_PREFIX)]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} belong to the service and are never passed to operator commands"
            )
        return ",".join(names)

    @property
    def command_passed_names(self) -> tuple[str, ...]:
        return tuple(name for name in self.command_pass_env.split(",") if name)

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
