"""Tortoise configuration and life cycle: one place that knows how the ORM is started."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api.migrate import migrate as tortoise_migrate

from infra.settings import Settings, load_settings

APP_LABEL = "models"
MODEL_MODULES = ["models.tables"]
MIGRATIONS_MODULE = "models.migrations"
ASYNCPG_ENGINE = "tortoise.backends.asyncpg"


async def keep_session(connection: Any) -> None:
    """What a PostgreSQL connection going back to the pool needs beyond asyncpg's own rollback of
    an open transaction: nothing. asyncpg's default reset sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` on every release, one more round trip for every statement
    outside a transaction, and this service holds no session state (advisory locks are
    transaction-scoped, no LISTEN, no cursor outside a transaction, no SET)."""


def connection_config(database_url: str, statement_timeout: float = 0.0) -> str | dict[str, Any]:
    """The connection as Tortoise takes it: the URL, or for PostgreSQL its parts plus the pool's
    reset (`keep_session`) and, when `statement_timeout` (seconds) is set, the server's
    `statement_timeout` for every connection of the pool (asyncpg's `server_settings`, sent when
    each connection opens: no round trip per statement). SQLite has no such setting."""
    config = expand_db_url(database_url)
    if config["engine"] != ASYNCPG_ENGINE:
        return database_url
    config["credentials"]["reset"] = keep_session
    if statement_timeout > 0:
        config["credentials"]["server_settings"] = {
            "statement_timeout": str(max(1, round(statement_timeout * 1000)))
        }
    return config


def tortoise_config(database_url: str, statement_timeout: float = 0.0) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(database_url, statement_timeout)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # `tortoise makemigrations` reads `infra.db.TORTOISE_ORM` (see pyproject.toml).
    if name == "TORTOISE_ORM":
        return tortoise_config(load_settings().tortoise_db_url)
    raise AttributeError(name)


def service_config(settings: Settings) -> dict[str, Any]:
    """The Tortoise configuration the service runs with: a statement that runs or waits for a lock
    longer than `statement_timeout_seconds` is cancelled by the server, so none holds a pooled
    connection (and the rows it locked) for ever."""
    return tortoise_config(settings.tortoise_db_url, settings.statement_timeout_seconds)


def migration_config(settings: Settings) -> dict[str, Any]:
    """The Tortoise configuration migrations run with: no statement timeout, since rebuilding an
    index or a column of a big table may rightly take longer than any answer should."""
    return tortoise_config(settings.tortoise_db_url)


async def init_orm(settings: Settings) -> None:
    await Tortoise.init(config=service_config(settings), _enable_global_fallback=True)


async def close_orm() -> None:
    await Tortoise.close_connections()


async def apply_migrations(settings: Settings) -> None:
    """Bring the schema up to date, then seed what the service needs to run."""
    await tortoise_migrate(config=migration_config(settings))
