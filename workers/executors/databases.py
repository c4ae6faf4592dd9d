"""What a database URL points at: its engine, how the PostgreSQL tools reach it, and which database
it is, asked of the database itself rather than read from the spelling of the URL.

Two URLs name the same database when the database says so:
- PostgreSQL: the cluster's ``system_identifier`` (``pg_control_system()``) and
  ``current_database()``, so ``postgres://`` vs ``postgresql://``, a default port left out,
  ``localhost`` vs ``127.0.0.1``, another user or a DNS alias all compare equal;
- SQLite: the file's device and inode, so a relative path, a symlink or a hard link compare equal.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

import asyncpg

from infra.logs import redact_text
from workers.errors import StepFailed

POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "postgresql+asyncpg"})
SQLITE_SCHEMES = frozenset({"sqlite"})
#: Query parameters of a database URL that libpq understands; Tortoise's own ones are dropped.
LIBPQ_QUERY_KEEP = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")
#: Longest wait for a database to say which one it is, seconds.
IDENTIFY_TIMEOUT_SECONDS = 30.0
IDENTIFY_QUERY = "SELECT (SELECT system_identifier FROM pg_control_system())::text, current_database()"


class Engine(StrEnum):
    POSTGRESQL = "PostgreSQL"
    SQLITE = "SQLite"


def engine_of(url: str) -> Engine | None:
    scheme = urlsplit(url).scheme.lower()
    if scheme in POSTGRES_SCHEMES:
        return Engine.POSTGRESQL
    if scheme in SQLITE_SCHEMES:
        return Engine.SQLITE
    return None


@dataclass(frozen=True)
class DatabaseIdentity:
    """Which database a URL reaches, as the database itself tells."""

    engine: Engine
    key: tuple[str | int, ...]


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without its password, and the environment that carries the password."""
    parts = urlsplit(url)
    env: dict[str, str] = {}
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items() if k in LIBPQ_QUERY_KEEP}
    return urlunsplit(("postgresql", netloc, parts.path, urlencode(query), "")), env


def sqlite_path(url: str) -> str:
    """`sqlite:///abs/path`, `sqlite://relative/path` (Tortoise's spelling) -> the file path."""
    rest = url.split("://", 1)[1].split("?", 1)[0]
    if not rest or rest == ":memory:":
        raise StepFailed("An in-memory SQLite database cannot be refreshed.", retryable=False)
    return rest


async def identify(url: str, what: str) -> DatabaseIdentity | None:
    """Ask the database behind `url` which it is; None for a SQLite file that does not exist yet
    (it is no other database). `what` names the site for the district ("the sandbox site")."""
    engine = engine_of(url)
    if engine is Engine.SQLITE:
        return await asyncio.to_thread(_sqlite_identity, sqlite_path(url))
    if engine is Engine.POSTGRESQL:
        return await _postgres_identity(url, what)
    return None


def _sqlite_identity(path: str) -> DatabaseIdentity | None:
    try:
        stat = os.stat(path)  # follows symlinks: a link to production is production
    except FileNotFoundError:
        return None
    return DatabaseIdentity(Engine.SQLITE, (stat.st_dev, stat.st_ino))


async def _postgres_identity(url: str, what: str) -> DatabaseIdentity:
    dsn, env = libpq_target(url)
    try:
        connection = await asyncpg.connect(
            dsn, password=env.get("PGPASSWORD"), timeout=IDENTIFY_TIMEOUT_SECONDS
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
        raise StepFailed(
            f"The database of {what} could not be reached; nothing was copied.",
            detail=redact_text(f"connecting to {dsn}: {type(error).__name__}: {error}"),
        ) from None
    try:
        row = await connection.fetchrow(IDENTIFY_QUERY)
    except asyncpg.PostgresError as error:
        raise StepFailed(
            f"The database of {what} could not be identified; nothing was copied.",
            detail=redact_text(f"{dsn}: {type(error).__name__}: {error}"),
            retryable=False,
        ) from None
    finally:
        await connection.close()
    assert row is not None
    return DatabaseIdentity(Engine.POSTGRESQL, (str(row[0]), str(row[1])))
