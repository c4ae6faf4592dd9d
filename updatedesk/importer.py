"""`updatedesk import FILE`: upsert groups, releases, districts, environments and accounts.

The whole file is checked before anything is written, and written in one transaction, so a bad
file is refused with the path of its bad entry (e.g. `districts[2].environments[0].kind`) and
nothing is half-written. Importing the same file twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.clock import utcnow
from models.enums import EnvironmentKind, GroupKind, HostingModel, Role
from models.tables import Account, District, Environment, Release, UpdateGroup
from models.versions import is_not_newer, is_valid_version, parse_version
from models.windows import zone_info


class ImportFileError(Exception):
    """The file cannot be imported; `path` names the entry at fault."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


@dataclass
class ImportCounts:
    """How many rows of each kind were created, changed, or already as the file says."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str) -> None:
        per_kind = self.counts.setdefault(kind, {"created": 0, "updated": 0, "unchanged": 0})
        per_kind[outcome] += 1

    def changed(self) -> int:
        return sum(c["created"] + c["updated"] for c in self.counts.values())

    def summary(self) -> str:
        parts = [
            f"{kind}: {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged"
            for kind, c in sorted(self.counts.items())
        ]
        return "; ".join(parts) or "nothing to import"


async def _upsert(model: type[ModelT], lookup: dict[str, Any], values: dict[str, Any]) -> tuple[ModelT, str]:
    """Create the row, or update only the fields that differ: a second import writes nothing."""
    row = await model.get_or_none(**lookup)
    if row is None:
        return await model.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(row, name) != value]
    if not changed:
        return row, "unchanged"
    for name in changed:
        setattr(row, name, values[name])
    await row.save(update_fields=changed)
    return row, "updated"


def load_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImportFileError("", f"cannot read {path}: {error.strerror}") from error
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ImportFileError("", f"{path} is not valid JSON or YAML: {error}") from error
    if not isinstance(data, dict):
        raise ImportFileError(
            "", "the file must hold an object with updateGroups, releases, districts, accounts"
        )
    return data


# --------------------------------------------------------------------------- checking


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ImportFileError(key, "must be a list")
    return value


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ImportFileError(path, "must be an object")
    return value


def _text(
    entry: dict[str, Any], key: str, path: str, *, required: bool = True, limit: int = 320
) -> str | None:
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ImportFileError(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise ImportFileError(f"{path}.{key}", "must be a string")
    if len(value) > limit:
        raise ImportFileError(f"{path}.{key}", f"is longer than {limit} characters")
    return value.strip()


E = TypeVar("E", GroupKind, HostingModel, EnvironmentKind, Role)
ModelT = TypeVar("ModelT", bound=Model)


def _enum(enum: type[E], entry: dict[str, Any], key: str, path: str) -> E:
    value = entry.get(key)
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ImportFileError(f"{path}.{key}", f"'{value}' is not one of {allowed}") from None


def _version(entry: dict[str, Any], key: str, path: str) -> str:
    value = _text(entry, key, path, limit=64)
    assert value is not None
    if not is_valid_version(value):
        raise ImportFileError(f"{path}.{key}", f"'{value}' is not a version like Campus.2435.4")
    return value


def _datetime(entry: dict[str, Any], key: str, path: str) -> datetime:
    value = _text(entry, key, path, limit=64)
    assert value is not None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ImportFileError(f"{path}.{key}", f"'{value}' is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ImportFileError(f"{path}.{key}", "must carry a UTC offset, e.g. 2026-10-01T00:00:00Z")
    return parsed


@dataclass(frozen=True)
class GroupEntry:
    name: str
    kind: GroupKind


@dataclass(frozen=True)
class ReleaseEntry:
    version: str
    released_at: datetime


@dataclass(frozen=True)
class EnvironmentEntry:
    kind: EnvironmentKind
    current_version: str
    url: str | None
    database_url: str | None


@dataclass(frozen=True)
class DistrictEntry:
    name: str
    hosting_model: HostingModel
    update_group: str | None
    time_zone: str | None
    environments: tuple[EnvironmentEntry, ...]


@dataclass(frozen=True)
class AccountEntry:
    email: str
    name: str
    role: Role
    districts: tuple[str, ...]


@dataclass(frozen=True)
class ImportDocument:
    groups: tuple[GroupEntry, ...]
    releases: tuple[ReleaseEntry, ...]
    districts: tuple[DistrictEntry, ...]
    accounts: tuple[AccountEntry, ...]


def check_document(data: dict[str, Any], known_groups: set[str], known_districts: set[str]) -> ImportDocument:
    """Validate the whole document; refer to groups and districts in the file or the database."""
    groups = []
    for i, raw in enumerate(_list(data, "updateGroups")):
        path = f"updateGroups[{i}]"
        entry = _object(raw, path)
        name = _text(entry, "name", path, limit=200)
        assert name is not None
        groups.append(GroupEntry(name, _enum(GroupKind, entry, "kind", path)))
    releases = []
    for i, raw in enumerate(_list(data, "releases")):
        path = f"releases[{i}]"
        entry = _object(raw, path)
        releases.append(ReleaseEntry(_version(entry, "version", path), _datetime(entry, "releasedAt", path)))
    group_names = known_groups | {g.name for g in groups}
    districts = []
    for i, raw in enumerate(_list(data, "districts")):
        path = f"districts[{i}]"
        entry = _object(raw, path)
        name = _text(entry, "name", path, limit=200)
        assert name is not None
        group = _text(entry, "updateGroup", path, required=False, limit=200)
        if group is not None and group not in group_names:
            raise ImportFileError(f"{path}.updateGroup", f"no update group named '{group}'")
        time_zone = _text(entry, "timeZone", path, required=False, limit=64)
        if time_zone is not None:
            try:
                zone_info(time_zone)
            except Exception:
                raise ImportFileError(f"{path}.timeZone", f"'{time_zone}' is not an IANA time zone") from None
        environments = []
        seen: set[EnvironmentKind] = set()
        raw_environments = entry.get("environments") or []
        if not isinstance(raw_environments, list):
            raise ImportFileError(f"{path}.environments", "must be a list")
        for j, raw_env in enumerate(raw_environments):
            env_path = f"{path}.environments[{j}]"
            env = _object(raw_env, env_path)
            kind = _enum(EnvironmentKind, env, "kind", env_path)
            if kind in seen:
                raise ImportFileError(f"{env_path}.kind", f"a second {kind.value} environment")
            seen.add(kind)
            environments.append(
                EnvironmentEntry(
                    kind,
                    _version(env, "currentVersion", env_path),
                    _text(env, "url", env_path, required=False, limit=500),
                    _text(env, "databaseUrl", env_path, required=False, limit=1000),
                )
            )
        districts.append(
            DistrictEntry(
                name, _enum(HostingModel, entry, "hostingModel", path), group, time_zone, tuple(environments)
            )
        )
    district_names = known_districts | {d.name for d in districts}
    accounts = []
    for i, raw in enumerate(_list(data, "accounts")):
        path = f"accounts[{i}]"
        entry = _object(raw, path)
        email = _text(entry, "email", path)
        assert email is not None
        if "@" not in email:
            raise ImportFileError(f"{path}.email", f"'{email}' is not an e-mail address")
        name = _text(entry, "name", path, limit=200)
        assert name is not None
        linked = entry.get("districts") or []
        if not isinstance(linked, list) or not all(isinstance(d, str) for d in linked):
            raise ImportFileError(f"{path}.districts", "must be a list of district names")
        for j, district_name in enumerate(linked):
            if district_name not in district_names:
                raise ImportFileError(f"{path}.districts[{j}]", f"no district named '{district_name}'")
        accounts.append(AccountEntry(email.lower(), name, _enum(Role, entry, "role", path), tuple(linked)))
    return ImportDocument(tuple(groups), tuple(releases), tuple(districts), tuple(accounts))


# --------------------------------------------------------------------------- writing


async def import_document(data: dict[str, Any]) -> ImportCounts:
    """Check, then upsert everything in one transaction."""
    known_groups = {str(n) for n in await UpdateGroup.all().values_list("name", flat=True)}
    known_districts = {str(n) for n in await District.all().values_list("name", flat=True)}
    document = check_document(data, known_groups, known_districts)
    counts = ImportCounts()
    now = utcnow()
    async with in_transaction():
        for group in document.groups:
            _, outcome = await _upsert(UpdateGroup, {"name": group.name}, {"kind": group.kind})
            counts.add("updateGroups", outcome)
        for release in document.releases:
            _, outcome = await _upsert(
                Release, {"version": release.version}, {"released_at": release.released_at}
            )
            counts.add("releases", outcome)
        for i, entry in enumerate(document.districts):
            group_row = await UpdateGroup.get(name=entry.update_group) if entry.update_group else None
            values: dict[str, Any] = {
                "hosting_model": entry.hosting_model,
                "update_group_id": group_row.id if group_row else None,
            }
            if entry.time_zone:
                values["time_zone"] = entry.time_zone
            district, outcome = await _upsert(District, {"name": entry.name}, values)
            counts.add("districts", outcome)
            for j, env in enumerate(entry.environments):
                env_values: dict[str, Any] = {"current_version": env.current_version, "url": env.url}
                if env.database_url is not None:
                    env_values["database_url"] = env.database_url
                path = f"districts[{i}].environments[{j}].currentVersion"
                env_values.update(await _version_change(district.id, env, path, now))
                _, outcome = await _upsert(
                    Environment, {"district_id": district.id, "kind": env.kind}, env_values
                )
                counts.add("environments", outcome)
        for account_entry in document.accounts:
            account, outcome = await _upsert(
                Account,
                {"email": account_entry.email},
                {"name": account_entry.name, "role": account_entry.role},
            )
            wanted = {d.id: d for d in await District.filter(name__in=list(account_entry.districts))}
            linked = {d.id for d in await account.districts.all()}
            if set(wanted) != linked:
                await account.districts.clear()
                if wanted:
                    await account.districts.add(*wanted.values())
                outcome = "updated" if outcome == "unchanged" else outcome
            counts.add("accounts", outcome)
    return counts


async def _version_change(
    district_id: int, env: EnvironmentEntry, path: str, now: datetime
) -> dict[str, Any]:
    """A site may move forward (recording when), never back: refused naming the entry."""
    row = await Environment.get_or_none(district_id=district_id, kind=env.kind)
    if row is None or parse_version(row.current_version) == parse_version(env.current_version):
        return {}
    if is_not_newer(env.current_version, row.current_version):
        raise ImportFileError(path, f"{env.current_version} is older than the site's {row.current_version}")
    return {"version_updated_at": now}


async def import_file(path: Path) -> ImportCounts:
    return await import_document(load_document(path))
