"""Tortoise configuration and life cycle: one place that knows how the ORM is started."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate as tortoise_migrate

from updatedesk.settings import Settings, get_settings

APP_LABEL = "models"
MODEL_MODULES = ["models.tables"]
MIGRATIONS_MODULE = "models.migrations"


def tortoise_config(database_url: str | None = None) -> dict[str, Any]:
    url = database_url or get_settings().tortoise_db_url
    return {
        "connections": {"default": url},
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
    # `tortoise makemigrations` reads `updatedesk.db.TORTOISE_ORM` (see pyproject.toml).
    if name == "TORTOISE_ORM":
        return tortoise_config()
    raise AttributeError(name)


async def init_orm(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    await Tortoise.init(config=tortoise_config(settings.tortoise_db_url), _enable_global_fallback=True)


async def close_orm() -> None:
    await Tortoise.close_connections()


async def apply_migrations(settings: Settings | None = None) -> None:
    """Bring the schema up to date, then seed what the service needs to run."""
    settings = settings or get_settings()
    await tortoise_migrate(config=tortoise_config(settings.tortoise_db_url))
