"""The import file's `maintenanceWindows`: the windows of each hosting model it names, checked
with the path of a bad entry, written so that a second import changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.enums import HostingModel
from models.maintenance import all_rules, weekly_window
from models.tables import MaintenanceWindow
from tests.updatedesk.test_cli import DESIGN_EXAMPLE, run_cli
from updatedesk.importer import ImportFileError, import_document

WINDOWS = [
    {
        "hostingModel": "CAMPUS_CLOUD",
        "weekday": 4,
        "startTime": "00:30",
        "endTime": "03:30",
        "timeZone": "America/Chicago",
    },
    {
        "hostingModel": "CAMPUS_CLOUD",
        "weekday": 2,
        "startTime": "22:00",
        "endTime": "01:00",
        "timeZone": "America/Chicago",
    },
    {
        "hostingModel": "ASP_HOSTED",
        "weekday": 7,
        "startTime": "06:00",
        "endTime": "08:00",
        "timeZone": "America/New_York",
    },
]


def document(windows: list[dict[str, Any]]) -> dict[str, Any]:
    return {**json.loads(DESIGN_EXAMPLE.read_text()), "maintenanceWindows": windows}


async def stored() -> list[tuple[HostingModel, int, str, str, str]]:
    return [
        (
            row.hosting_model,
            row.weekday,
            f"{weekly_window(row).start:%H:%M}",
            f"{weekly_window(row).end:%H:%M}",
            row.time_zone,
        )
        for row in await all_rules()
    ]


async def test_importing_windows_twice_changes_nothing(db):
    first = await import_document(document(WINDOWS))
    assert first.counts["maintenanceWindows"] == {"created": 2, "updated": 0, "unchanged": 1, "removed": 0}
    rows = await stored()
    ids = sorted(await MaintenanceWindow.all().values_list("id", flat=True))
    assert rows == [
        (HostingModel.ASP_HOSTED, 7, "06:00", "08:00", "America/New_York"),
        (HostingModel.CAMPUS_CLOUD, 2, "22:00", "01:00", "America/Chicago"),
        (HostingModel.CAMPUS_CLOUD, 4, "00:30", "03:30", "America/Chicago"),
    ]
    second = await import_document(document(WINDOWS))
    assert second.changed() == 0
    assert second.counts["maintenanceWindows"] == {"created": 0, "updated": 0, "unchanged": 3, "removed": 0}
    assert await stored() == rows
    assert sorted(await MaintenanceWindow.all().values_list("id", flat=True)) == ids


async def test_the_file_holds_the_whole_set_of_each_hosting_model_it_names(db):
    await import_document(document(WINDOWS))
    moved = [{**WINDOWS[0], "weekday": 3}]  # Campus Cloud moves to Wednesday; ASP-hosted not named
    result = await import_document(document(moved))
    assert result.counts["maintenanceWindows"] == {"created": 1, "updated": 0, "unchanged": 0, "removed": 2}
    assert "maintenanceWindows: 1 created, 0 updated, 0 unchanged, 2 removed" in result.summary()
    assert [(r[0], r[1]) for r in await stored()] == [
        (HostingModel.ASP_HOSTED, 7),
        (HostingModel.CAMPUS_CLOUD, 3),
    ]
    untouched = await import_document(json.loads(DESIGN_EXAMPLE.read_text()))  # no key: windows stay
    assert "maintenanceWindows" not in untouched.counts
    assert len(await stored()) == 2


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"weekday": 0}, "maintenanceWindows[1].weekday"),
        ({"weekday": "4"}, "maintenanceWindows[1].weekday"),
        ({"weekday": True}, "maintenanceWindows[1].weekday"),
        ({"startTime": "7:00"}, "maintenanceWindows[1].startTime"),
        ({"endTime": "22:00"}, "maintenanceWindows[1].endTime"),
        ({"endTime": 300}, "maintenanceWindows[1].endTime"),  # YAML reads an unquoted 05:00 so
        ({"timeZone": "Mars/Olympus"}, "maintenanceWindows[1].timeZone"),
        ({"hostingModel": "ON_PREM"}, "maintenanceWindows[1].hostingModel"),
        ({"timeZone": None}, "maintenanceWindows[1].timeZone"),
        ({**WINDOWS[0]}, "maintenanceWindows[1]"),  # the same window twice
    ],
)
async def test_a_bad_window_names_its_entry_and_nothing_is_written(db, bad, path):
    with pytest.raises(ImportFileError) as caught:
        await import_document(document([WINDOWS[0], {**WINDOWS[1], **bad}]))
    assert caught.value.path == path
    assert await stored() == [(HostingModel.CAMPUS_CLOUD, 4, "00:30", "03:30", "America/Chicago")]


async def test_the_command_imports_windows_from_yaml(db, tmp_path: Path):
    yaml_file = tmp_path / "windows.yaml"
    yaml_file.write_text(
        "maintenanceWindows:\n"
        "  - {hostingModel: CAMPUS_CLOUD, weekday: 3, startTime: '23:00', endTime: '02:00',\n"
        "     timeZone: America/Chicago}\n"
    )
    result = run_cli(db, "import", str(yaml_file))
    assert result.returncode == 0, result.stderr
    assert "maintenanceWindows: 1 created, 0 updated, 0 unchanged, 1 removed" in result.stdout
    assert await stored() == [(HostingModel.CAMPUS_CLOUD, 3, "23:00", "02:00", "America/Chicago")]
    again = run_cli(db, "import", str(yaml_file))
    assert "maintenanceWindows: 0 created, 0 updated, 1 unchanged, 0 removed" in again.stdout
