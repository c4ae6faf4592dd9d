"""The embedded database's lock file (`updatedesk.folder_lock`): one process per SQLite file, and
a refusal a person can act on when the lock cannot be taken at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from updatedesk.commands import CommandError
from updatedesk.folder_lock import FolderLock


def test_a_second_holder_of_one_file_is_refused_and_the_first_release_frees_it(tmp_path: Path) -> None:
    database = tmp_path / "updatedesk.sqlite3"
    first = FolderLock.acquire(database)
    with pytest.raises(CommandError, match="already running"):
        FolderLock.acquire(database)
    first.release()
    FolderLock.acquire(database).release()


def test_a_lock_file_that_cannot_be_made_is_a_clear_refusal(tmp_path: Path) -> None:
    """A folder that cannot hold the lock file (here a file stands where the folder should be;
    an unwritable folder fails the same way) is named, not shown as a traceback."""
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(CommandError, match="cannot create the lock file") as refused:
        FolderLock.acquire(blocker / "updatedesk.sqlite3")
    assert str(blocker) in str(refused.value)
