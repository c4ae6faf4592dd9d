"""An import file, checked whole before anything is written: its entries as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.enums import EnvironmentKind, GroupKind, HostingModel, Role
from models.tables import Account, District, Environment, Release, UpdateGroup
from models.text import MAX_DISTRICT_NAME_LENGTH
from models.windows import zone_info
from updatedesk.import_fields import (
    ImportFileError,
    address,
    column_limit,
    entry_object,
    enum_value,
    flag,
    instant,
    listed,
    required_text,
    text,
    version,
)


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
    #: None: the file does not say; a new account is active, an existing one keeps its state.
    active: bool | None = None


@dataclass(frozen=True)
class ImportDocument:
    groups: tuple[GroupEntry, ...]
    releases: tuple[ReleaseEntry, ...]
    districts: tuple[DistrictEntry, ...]
    accounts: tuple[AccountEntry, ...]


def _groups(data: dict[str, Any]) -> list[GroupEntry]:
    groups = []
    for i, raw in enumerate(listed(data, "updateGroups")):
        path = f"updateGroups[{i}]"
        entry = entry_object(raw, path)
        name = required_text(entry, "name", path, limit=column_limit(UpdateGroup, "name"))
        groups.append(GroupEntry(name, enum_value(GroupKind, entry, "kind", path)))
    return groups


def _releases(data: dict[str, Any]) -> list[ReleaseEntry]:
    releases = []
    for i, raw in enumerate(listed(data, "releases")):
        path = f"releases[{i}]"
        entry = entry_object(raw, path)
        releases.append(
            ReleaseEntry(
                version(entry, "version", path, limit=column_limit(Release, "version")),
                instant(entry, "releasedAt", path),
            )
        )
    return releases


def _environments(entry: dict[str, Any], path: str) -> list[EnvironmentEntry]:
    environments = []
    seen: set[EnvironmentKind] = set()
    for j, raw in enumerate(listed(entry, "environments", f"{path}.environments")):
        env_path = f"{path}.environments[{j}]"
        env = entry_object(raw, env_path)
        kind = enum_value(EnvironmentKind, env, "kind", env_path)
        if kind in seen:
            raise ImportFileError(f"{env_path}.kind", f"a second {kind.value} environment")
        seen.add(kind)
        environments.append(
            EnvironmentEntry(
                kind,
                version(env, "currentVersion", env_path, limit=column_limit(Environment, "current_version")),
                text(env, "url", env_path, required=False, limit=column_limit(Environment, "url")),
                text(
                    env,
                    "databaseUrl",
                    env_path,
                    required=False,
                    limit=column_limit(Environment, "database_url"),
                ),
            )
        )
    return environments


def _districts(data: dict[str, Any], group_names: set[str]) -> list[DistrictEntry]:
    # A district's name goes into mail subjects: shorter than its column allows.
    name_limit = min(column_limit(District, "name"), MAX_DISTRICT_NAME_LENGTH)
    districts = []
    for i, raw in enumerate(listed(data, "districts")):
        path = f"districts[{i}]"
        entry = entry_object(raw, path)
        name = required_text(entry, "name", path, limit=name_limit)
        group = text(entry, "updateGroup", path, required=False, limit=column_limit(UpdateGroup, "name"))
        if group is not None and group not in group_names:
            raise ImportFileError(f"{path}.updateGroup", f"no update group named '{group}'")
        time_zone = text(entry, "timeZone", path, required=False, limit=column_limit(District, "time_zone"))
        if time_zone is not None:
            try:
                zone_info(time_zone)
            except Exception:
                raise ImportFileError(f"{path}.timeZone", f"'{time_zone}' is not an IANA time zone") from None
        hosting_model = enum_value(HostingModel, entry, "hostingModel", path)
        districts.append(
            DistrictEntry(name, hosting_model, group, time_zone, tuple(_environments(entry, path)))
        )
    return districts


def _accounts(data: dict[str, Any], district_names: set[str]) -> list[AccountEntry]:
    accounts = []
    emails: set[str] = set()
    for i, raw in enumerate(listed(data, "accounts")):
        path = f"accounts[{i}]"
        entry = entry_object(raw, path)
        email = address(entry, "email", path)
        if email in emails:
            raise ImportFileError(f"{path}.email", f"'{email}' appears twice in the file")
        emails.add(email)
        name = required_text(entry, "name", path, limit=column_limit(Account, "name"))
        linked = entry.get("districts") or []
        if not isinstance(linked, list) or not all(isinstance(d, str) for d in linked):
            raise ImportFileError(f"{path}.districts", "must be a list of district names")
        for j, district_name in enumerate(linked):
            if district_name not in district_names:
                raise ImportFileError(f"{path}.districts[{j}]", f"no district named '{district_name}'")
        role = enum_value(Role, entry, "role", path)
        accounts.append(AccountEntry(email, name, role, tuple(linked), flag(entry, "active", path)))
    return accounts


def check_document(data: dict[str, Any], known_groups: set[str], known_districts: set[str]) -> ImportDocument:
    """Validate the whole document; refer to groups and districts in the file or the database."""
    groups = _groups(data)
    releases = _releases(data)
    districts = _districts(data, known_groups | {g.name for g in groups})
    accounts = _accounts(data, known_districts | {d.name for d in districts})
    return ImportDocument(tuple(groups), tuple(releases), tuple(districts), tuple(accounts))
