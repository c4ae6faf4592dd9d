"""One embedded process per SQLite file.

The embedded default keeps its event stream, its webhook dispatcher's position and its running
jobs in the process's memory. A second `updatedesk dev` (or embedded `serve`) started on the same
file by mistake would run a second scheduler beside it, show its subscribers none of the first
one's events, and with `--reset` delete the database from under it. So the process holds an
exclusive lock on a file beside the database for as long as it runs, and a second one is refused
before it touches anything. The operating system drops the lock when the holder dies, `kill -9`
included, so a crash never leaves a lock that blocks the next start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from infra.settings import Settings
from updatedesk.commands import CommandError

SQLITE_PREFIX = "sqlite://"
#: The lock file beside the database (`updatedesk.sqlite3-lock`); `--reset` leaves it alone.
LOCK_SUFFIX = "-lock"


class FolderLock:
    """Held from `acquire` until `release` (or the process's end)."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    @classmethod
    def acquire(cls, database: Path) -> FolderLock:
        """Take the lock of `database`, or raise `CommandError` naming the process that holds it."""
        path = database.with_name(database.name + LOCK_SUFFIX)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:  # an unwritable folder, a file where the folder should be
            raise CommandError(
                f"cannot create the lock file {path}: {error.strerror or error}; the database's "
                "folder must be one this process can write to"
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise CommandError(
                f"another updatedesk process (pid {holder}) is already running on {database.resolve()}; "
                "stop it first (Ctrl-C), or start this one in another folder or with another "
                "DATABASE_URL"
            ) from None
        # Who holds it, for the refusal of the next one (read only while it is held).
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        return cls(path, descriptor)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # closing the descriptor drops the lock
            self._descriptor = None


def sqlite_file(database_url: str) -> Path | None:
    """The file of a `sqlite://path` URL; None for another database or an in-memory one."""
    if not database_url.startswith(SQLITE_PREFIX):
        return None
    name = database_url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    return None if name in ("", ":memory:") else Path(name)


def lock_embedded_database(settings: Settings) -> FolderLock | None:
    """The lock of an embedded process's SQLite file (None when there is no file to share: another
    database, which is made for several processes, or SQLite in memory)."""
    database = sqlite_file(settings.database_url)
    return FolderLock.acquire(database) if database is not None else None
