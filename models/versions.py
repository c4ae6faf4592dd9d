"""Release versions such as `Campus.2435.4`: ordered by their numeric parts, never as strings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from models.enums import ErrorCode, UpdateKind
from models.errors import DomainError

# ASCII digits only: `\d` alone also matches other scripts' digits (fullwidth, Arabic-Indic), which
# int() reads: such a text would pass as a version, be ordered as one, and reach mails and the
# runbook spelled so.
_VERSION_PATTERN = re.compile(
    r"^(?P<product>[A-Za-z][A-Za-z0-9_-]*)\.(?P<numbers>\d{1,9}(?:\.\d{1,9}){0,3})$", re.ASCII
)


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed version: `Campus.2435.4` is product `Campus`, release 2435, Rx pack 4."""

    product: str
    numbers: tuple[int, ...]

    @property
    def text(self) -> str:
        return ".".join([self.product, *map(str, self.numbers)])

    def _key(self) -> tuple[int, ...]:
        # Pad so that `2435` and `2435.0` compare equal and `2435.1` is newer than `2435`.
        return self.numbers + (0,) * (4 - len(self.numbers))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __str__(self) -> str:
        return self.text


def is_valid_version(text: str) -> bool:
    return _VERSION_PATTERN.match(text.strip()) is not None


def parse_version(text: str, field: str = "targetVersion") -> Version:
    """Parse a version string, refusing anything not shaped like `Product.1234.5`."""
    match = _VERSION_PATTERN.match(text.strip())
    if match is None:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"'{text}' is not a version; versions look like Campus.2435.4.",
            field,
        )
    numbers = tuple(int(part) for part in match["numbers"].split("."))
    return Version(match["product"], numbers)


def version_sort_key(text: str) -> tuple[int, ...]:
    """A key for sorting version strings numerically (unparseable ones sort first)."""
    match = _VERSION_PATTERN.match(text.strip())
    if match is None:
        return (-1,)
    return parse_version(text)._key()


def is_not_newer(target: str, current: str) -> bool:
    """Whether installing `target` over `current` would not move forward (same or older)."""
    return parse_version(target) <= parse_version(current, "currentVersion")


def nothing_to_install(kind: UpdateKind, target: str | None, current: str | None) -> bool:
    """Whether a request of `kind` to `target` on a site running `current` installs nothing: a
    version update whose target is not newer. It completes without running when it is picked up
    ("no version is ever installed over a newer one"), and since versions only go forward, it
    never will run."""
    return (
        kind is UpdateKind.VERSION_UPDATE
        and bool(target)
        and bool(current)
        and is_not_newer(target or "", current or "")
    )
