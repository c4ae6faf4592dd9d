"""The `maintenanceWindows` key of the import file: the weekly windows of each hosting model it
names. For each hosting model in the list, the list is the whole set: windows already stored stay,
missing ones are created, others of that model are removed; models the file does not name keep
theirs. Importing the same file again changes nothing.

    "maintenanceWindows": [{"hostingModel": "CAMPUS_CLOUD", "weekday": 4, "startTime": "00:30",
                            "endTime": "03:30", "timeZone": "America/Chicago"}]

Refusals are `DomainError`s whose field is the path of the bad entry
(`maintenanceWindows[1].startTime`); the importer reports them like its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models.enums import ErrorCode, HostingModel
from models.errors import DomainError
from models.maintenance import WindowRule, check_rule, replace_rules

KEY = "maintenanceWindows"
#: The file's key of each input field (the same names as the GraphQL input).
FIELDS = ("hostingModel", "weekday", "startTime", "endTime", "timeZone")


def _refuse(path: str, message: str) -> DomainError:
    return DomainError(ErrorCode.VALIDATION, message, path)


def _entry(raw: Any, path: str) -> WindowRule:
    if not isinstance(raw, Mapping):
        raise _refuse(path, "must be an object")
    missing = [name for name in FIELDS if raw.get(name) in (None, "")]
    if missing:
        raise _refuse(f"{path}.{missing[0]}", "is required")
    try:
        hosting_model = HostingModel(str(raw["hostingModel"]))
    except ValueError:
        allowed = ", ".join(member.value for member in HostingModel)
        raise _refuse(f"{path}.hostingModel", f"'{raw['hostingModel']}' is not one of {allowed}") from None
    weekday = raw["weekday"]
    if isinstance(weekday, bool) or not isinstance(weekday, int):
        raise _refuse(f"{path}.weekday", "must be a whole number, 1 (Monday) to 7 (Sunday)")
    for name in ("startTime", "endTime"):
        if not isinstance(raw[name], str):
            # YAML reads an unquoted 05:00 as the number 300 (base 60).
            raise _refuse(f"{path}.{name}", 'must be a 24-hour time in quotes, like "00:30"')
    if not isinstance(raw["timeZone"], str):
        raise _refuse(f"{path}.timeZone", "must be an IANA time zone name, like America/Chicago")
    try:
        return check_rule(hosting_model, weekday, raw["startTime"], raw["endTime"], raw["timeZone"])
    except DomainError as error:
        raise _refuse(f"{path}.{error.field}" if error.field else path, error.message) from None


def check_windows(data: Mapping[str, Any]) -> dict[HostingModel, list[WindowRule]]:
    """The file's windows per hosting model (empty when the key is absent); refuses the first bad
    entry, and a window listed twice."""
    raw = data.get(KEY)
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise _refuse(KEY, "must be a list")
    rules: dict[HostingModel, list[WindowRule]] = {}
    for index, entry in enumerate(raw):
        rule = _entry(entry, f"{KEY}[{index}]")
        if rule in rules.get(rule.hosting_model, []):
            raise _refuse(f"{KEY}[{index}]", "lists the same window twice")
        rules.setdefault(rule.hosting_model, []).append(rule)
    return rules


async def write_windows(rules: Mapping[HostingModel, Sequence[WindowRule]]) -> dict[str, int]:
    """Store the checked windows (inside the importer's transaction); counts per outcome."""
    totals = {"created": 0, "unchanged": 0, "removed": 0}
    for hosting_model, model_rules in rules.items():
        for outcome, count in (await replace_rules(hosting_model, model_rules)).items():
            totals[outcome] += count
    return totals
