"""`updatedesk import [--dry-run] FILE`: upsert groups, releases, districts, environments,
accounts and maintenance windows (`updatedesk.import_windows`).

The whole file is checked before anything is written (`import_document.check_document`), and
written in one transaction, so a bad file is refused with the path of its bad entry (e.g.
`districts[2].environments[0].kind`) and nothing is half-written. Importing the same file twice
changes nothing. Every role change, district link added or removed and account switched off or on
is reported; `--dry-run` runs the same import and rolls it back, so it reports exactly what a real
run would do.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.clock import utcnow
from models.errors import DomainError
from models.start_lock import hold_for_rule_change
from models.tables import Account, District, Environment, Release, UpdateGroup
from models.versions import is_not_newer, parse_version
from updatedesk.import_document import (
    AccountEntry,
    DistrictEntry,
    EnvironmentEntry,
    ImportDocument,
    check_document,
)
from updatedesk.import_fields import ImportFileError
from updatedesk.import_report import ImportReport
from updatedesk.import_windows import check_windows, write_windows

ModelT = TypeVar("ModelT", bound=Model)

__all__ = ["ImportFileError", "ImportReport", "import_document", "import_file", "load_document"]


class _RollBack(Exception):
    """Raised at the end of a dry run: the transaction is rolled back, the report kept."""


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
    except UnicodeDecodeError as error:
        raise ImportFileError("", f"{path} is not UTF-8 text") from error
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ImportFileError("", f"{path} is not valid JSON or YAML: {error}") from error
    if not isinstance(data, dict):
        raise ImportFileError(
            "", "the file must hold an object with updateGroups, releases, districts, accounts"
        )
    return data


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


async def _write_district(index: int, entry: DistrictEntry, report: ImportReport, now: datetime) -> None:
    group_row = await UpdateGroup.get(name=entry.update_group) if entry.update_group else None
    values: dict[str, Any] = {
        "hosting_model": entry.hosting_model,
        "update_group_id": group_row.id if group_row else None,
    }
    if entry.time_zone:
        values["time_zone"] = entry.time_zone
    district, outcome = await _upsert(District, {"name": entry.name}, values)
    report.add("districts", outcome)
    for env_index, env in enumerate(entry.environments):
        env_values: dict[str, Any] = {"current_version": env.current_version, "url": env.url}
        if env.database_url is not None:
            env_values["database_url"] = env.database_url
        path = f"districts[{index}].environments[{env_index}].currentVersion"
        env_values.update(await _version_change(district.id, env, path, now))
        _, outcome = await _upsert(Environment, {"district_id": district.id, "kind": env.kind}, env_values)
        report.add("environments", outcome)


async def _write_account(entry: AccountEntry, report: ImportReport) -> None:
    account = await Account.get_or_none(email=entry.email)
    values: dict[str, Any] = {"name": entry.name, "role": entry.role}
    if entry.active is not None:
        values["active"] = entry.active
    if account is None:
        account, outcome = await _upsert(Account, {"email": entry.email}, values)
        report.account_created(entry.email, entry.role)
        if not account.active:
            report.switched(entry.email, False)
    else:
        old_role, old_active = account.role, account.active
        account, outcome = await _upsert(Account, {"email": entry.email}, values)
        if old_role is not account.role:
            report.role_changed(entry.email, old_role, account.role)
        if old_active != account.active:
            report.switched(entry.email, account.active)
    wanted = {d.name: d for d in await District.filter(name__in=list(entry.districts))}
    linked = {d.name: d for d in await account.districts.all()}
    added = sorted(set(wanted) - set(linked))
    removed = sorted(set(linked) - set(wanted))
    if added:
        await account.districts.add(*(wanted[name] for name in added))
    if removed:
        await account.districts.remove(*(linked[name] for name in removed))
    for name in added:
        report.link_added(entry.email, name)
    for name in removed:
        report.link_removed(entry.email, name)
    if (added or removed) and outcome == "unchanged":
        outcome = "updated"
    report.add("accounts", outcome)


async def _write(document: ImportDocument, report: ImportReport) -> None:
    for group in document.groups:
        _, outcome = await _upsert(UpdateGroup, {"name": group.name}, {"kind": group.kind})
        report.add("updateGroups", outcome)
    for release in document.releases:
        _, outcome = await _upsert(
            Release, {"version": release.version}, {"released_at": release.released_at}
        )
        report.add("releases", outcome)
    now = utcnow()
    for index, district in enumerate(document.districts):
        await _write_district(index, district, report, now)
    for account in document.accounts:
        await _write_account(account, report)


async def _moves_districts(districts: tuple[DistrictEntry, ...]) -> bool:
    """Whether the file moves a stored district to another hosting model or update group: that
    changes which windows and blackouts hold for its work, a rule change like a window's."""
    stored = {
        name: (model, group)
        for name, model, group in await District.filter(name__in=[d.name for d in districts]).values_list(
            "name", "hosting_model", "update_group__name"
        )
    }
    return any(
        entry.name in stored and stored[entry.name] != (entry.hosting_model, entry.update_group)
        for entry in districts
    )


async def import_document(data: dict[str, Any], *, dry_run: bool = False) -> ImportReport:
    """Check, then upsert everything in one transaction (rolled back under `dry_run`)."""
    known_groups = {str(n) for n in await UpdateGroup.all().values_list("name", flat=True)}
    known_districts = {str(n) for n in await District.all().values_list("name", flat=True)}
    document = check_document(data, known_groups, known_districts)
    try:
        windows = check_windows(data)
    except DomainError as error:
        raise ImportFileError(error.field or "", error.message) from None
    report = ImportReport(dry_run=dry_run)
    try:
        async with in_transaction():
            if windows or await _moves_districts(document.districts):
                # A rule change: start decisions and it take turns (`models.start_lock`). Taken
                # first, before the rows below are locked, as every holder of the lock does.
                await hold_for_rule_change()
            await _write(document, report)
            if windows:  # a file without the key leaves the windows (and the report) alone
                for outcome, count in (await write_windows(windows)).items():
                    report.add("maintenanceWindows", outcome, count)
            if dry_run:
                raise _RollBack
    except _RollBack:
        pass
    return report


async def import_file(path: Path, *, dry_run: bool = False) -> ImportReport:
    return await import_document(load_document(path), dry_run=dry_run)
