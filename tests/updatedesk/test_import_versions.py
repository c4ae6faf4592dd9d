"""The importer keeps versions forward (issue 12, item 9): changing `currentVersion` sets
`versionUpdatedAt`; a lower version is refused with the entry's path and nothing written."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from models.enums import EnvironmentKind
from models.tables import Environment, Release
from updatedesk.importer import ImportFileError, import_document

DESIGN_EXAMPLE = Path(__file__).with_name("design-example.json")


def document(production: str, sandbox: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(json.loads(DESIGN_EXAMPLE.read_text()))
    environments = data["districts"][0]["environments"]
    environments[0]["currentVersion"] = production
    if sandbox is not None:
        environments[1]["currentVersion"] = sandbox
    return data


async def site(kind: EnvironmentKind) -> Environment:
    return await Environment.get(kind=kind)


async def test_a_new_version_records_when_it_was_installed(db):
    await import_document(document("Campus.2435.2", "Campus.2435.2"))
    assert (await site(EnvironmentKind.PRODUCTION)).version_updated_at is None
    await import_document(document("Campus.2435.4"))
    production = await site(EnvironmentKind.PRODUCTION)
    assert production.current_version == "Campus.2435.4" and production.version_updated_at is not None
    assert (await site(EnvironmentKind.SANDBOX)).version_updated_at is None  # unchanged: not touched
    again = await import_document(document("Campus.2435.4"))
    assert again.changed() == 0


async def test_an_older_version_is_refused_with_the_path_and_nothing_written(db):
    await import_document(document("Campus.2439.1", "Campus.2439.1"))
    with pytest.raises(ImportFileError) as caught:
        await import_document(document("Campus.2439.1", "Campus.2435.9"))
    assert caught.value.path == "districts[0].environments[1].currentVersion"
    assert "older" in str(caught.value)
    assert (await site(EnvironmentKind.SANDBOX)).current_version == "Campus.2439.1"


async def test_a_release_spelled_with_other_digits_is_refused(db):
    """Fullwidth digits (as an input method may type them) read as 2435.5 to int(), so such a
    release was published and ordered as Campus.2435.5 while mails and the runbook got the odd text."""
    data = document("Campus.2435.2")
    data["releases"].append(
        {"version": "Campus.\uff12\uff14\uff13\uff15.\uff15", "releasedAt": "2026-10-02T00:00:00Z"}
    )
    with pytest.raises(ImportFileError) as caught:
        await import_document(data)
    assert caught.value.path == "releases[1].version"
    assert not await Release.filter(version__startswith="Campus.\uff12").exists()
