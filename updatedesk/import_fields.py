"""Reading the fields of an import file: each reader checks one value and names where it is
(`districts[2].environments[0].kind`) when it refuses it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from tortoise.models import Model

from models.enums import EnvironmentKind, GroupKind, HostingModel, Role
from models.text import check_address, check_line
from models.versions import is_valid_version

E = TypeVar("E", GroupKind, HostingModel, EnvironmentKind, Role)


class ImportFileError(Exception):
    """The file cannot be imported; `path` names the entry at fault."""

    def __init__(self, path: str, message: str) -> None:
        message = message.replace("\r", "\\r").replace("\n", "\\n")  # a refusal is one line
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def column_limit(model: type[Model], field: str) -> int:
    """The length of a text column: no value longer than it is accepted."""
    limit = model._meta.fields_map[field].max_length  # type: ignore[attr-defined]
    assert isinstance(limit, int)
    return limit


def listed(data: dict[str, Any], key: str, path: str | None = None) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ImportFileError(path or key, "must be a list")
    return value


def entry_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ImportFileError(path, "must be an object")
    return value


def text(entry: dict[str, Any], key: str, path: str, *, limit: int, required: bool = True) -> str | None:
    """A one-line text: no control characters, at most `limit` characters; stripped."""
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ImportFileError(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise ImportFileError(f"{path}.{key}", "must be a string")
    try:
        return check_line(value, limit)
    except ValueError as error:
        raise ImportFileError(f"{path}.{key}", str(error)) from None


def required_text(entry: dict[str, Any], key: str, path: str, *, limit: int) -> str:
    value = text(entry, key, path, limit=limit)
    assert value is not None
    return value


def address(entry: dict[str, Any], key: str, path: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ImportFileError(f"{path}.{key}", "is required: one e-mail address")
    try:
        return check_address(value)
    except ValueError as error:
        raise ImportFileError(f"{path}.{key}", str(error)) from None


def flag(entry: dict[str, Any], key: str, path: str) -> bool | None:
    """true / false, or None when the entry leaves it out."""
    value = entry.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ImportFileError(f"{path}.{key}", "must be true or false")


def enum_value(enum: type[E], entry: dict[str, Any], key: str, path: str) -> E:
    value = entry.get(key)
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ImportFileError(f"{path}.{key}", f"'{value}' is not one of {allowed}") from None


def version(entry: dict[str, Any], key: str, path: str, *, limit: int) -> str:
    value = required_text(entry, key, path, limit=limit)
    if not is_valid_version(value):
        raise ImportFileError(f"{path}.{key}", f"'{value}' is not a version like Campus.2435.4")
    return value


def instant(entry: dict[str, Any], key: str, path: str) -> datetime:
    value = required_text(entry, key, path, limit=64)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ImportFileError(f"{path}.{key}", f"'{value}' is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ImportFileError(f"{path}.{key}", "must carry a UTC offset, e.g. 2026-10-01T00:00:00Z")
    return parsed
