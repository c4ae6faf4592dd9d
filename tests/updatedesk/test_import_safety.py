"""What an import lets in, and what it tells: single addresses, plain one-line text of lengths that
fit, every access change reported, and `--dry-run` writing nothing. On both databases."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.enums import NotificationKind, Role, UpdateKind
from models.errors import DomainError
from models.notices import RequestFacts, compose_notice
from models.tables import Account, District, Notification, UpdateGroup
from models.text import MAX_DISTRICT_NAME_LENGTH
from models.tokens import authenticate, issue_token
from tests.updatedesk.test_cli import DESIGN_EXAMPLE, run_cli
from updatedesk.import_fields import column_limit
from updatedesk.importer import ImportFileError, import_document

LAKESIDE, RIVERSIDE = "Lakeside Public Schools", "Riverside Unified"


def document(**account: Any) -> dict[str, Any]:
    """The DESIGN example with a second district; `account` overrides the one account's keys."""
    data: dict[str, Any] = json.loads(DESIGN_EXAMPLE.read_text())
    riverside = copy.deepcopy(data["districts"][0])
    riverside["name"] = RIVERSIDE
    data["districts"].append(riverside)
    data["accounts"][0].update(account)
    return data


async def refusal(data: dict[str, Any]) -> ImportFileError:
    with pytest.raises(ImportFileError) as refused:
        await import_document(data)
    assert await District.all().count() == 0  # nothing half-written
    return refused.value


@pytest.mark.parametrize(
    "email",
    [
        "tc@lakeside.example, attacker@evil.example",
        "tc@lakeside.example,attacker@evil.example",
        "tc@lakeside.example;attacker@evil.example",
        "Pat Lee <tc@lakeside.example>",
        "tc@lakeside.example\r\nBcc: attacker@evil.example",
        "tc@lakeside",
    ],
)
async def test_an_email_field_holds_one_address(db, email: str) -> None:
    error = await refusal(document(email=email))
    assert error.path == "accounts[0].email"
    assert "\n" not in str(error) and "\r" not in str(error)  # the refusal is one line


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("name", "Lakeside\r\nBcc: attacker@evil.example"),
        ("name", "Lakeside\tPublic"),
        ("name", "Lakeside \u202eloohcS"),  # a right-to-left override
    ],
)
async def test_text_refuses_control_characters(db, where: str, value: str) -> None:
    data = document()
    data["districts"][0][where] = value
    error = await refusal(data)
    assert error.path == f"districts[0].{where}" and "control character" in str(error)


async def test_lengths_are_checked_against_the_columns_with_the_path(db) -> None:
    data = document()
    data["districts"][1]["name"] = "R" * (MAX_DISTRICT_NAME_LENGTH + 1)
    error = await refusal(data)
    assert error.path == "districts[1].name" and f"at most {MAX_DISTRICT_NAME_LENGTH}" in str(error)

    error = await refusal(document(name="P" * (column_limit(Account, "name") + 1)))
    assert error.path == "accounts[0].name"

    data = document()
    data["districts"][0]["environments"][0]["url"] = "https://lakeside.example/" + "x" * 500
    error = await refusal(data)
    assert error.path == "districts[0].environments[0].url"


def test_the_longest_district_name_still_fits_every_mail_subject() -> None:
    facts = RequestFacts(
        id=1,
        kind=UpdateKind.VERSION_UPDATE,
        district_name="D" * MAX_DISTRICT_NAME_LENGTH,
        environment_kind="PRODUCTION",
        target_version="Campus." + "9" * 50 + ".99",
        scheduled_start=datetime(2026, 9, 30, 5, 30, tzinfo=UTC),  # Wednesday, September: long words
        time_zone="America/Chicago",
        message=None,
    )
    longest = max(len(compose_notice(kind, facts).subject) for kind in NotificationKind)
    assert longest <= column_limit(Notification, "subject")


async def test_access_changes_are_reported_and_a_dry_run_writes_none(db) -> None:
    first = await import_document(document(districts=[LAKESIDE]))
    assert first.changes == [
        "account created: tc@lakeside.example as TECHNICAL_CONTACT",
        f"district link added: tc@lakeside.example -> {LAKESIDE}",
    ]
    token = await issue_token(await Account.get(email="tc@lakeside.example"), None)

    changed = document(role="HOSTING_STAFF", districts=[RIVERSIDE], active=False)
    dry = await import_document(changed, dry_run=True)
    expected = [
        "role changed: tc@lakeside.example: TECHNICAL_CONTACT -> HOSTING_STAFF "
        "(gains hosting staff rights over every district)",
        "account switched off: tc@lakeside.example",
        f"district link added: tc@lakeside.example -> {RIVERSIDE}",
        f"district link removed: tc@lakeside.example -> {LAKESIDE}",
    ]
    assert dry.changes == expected
    account = await Account.get(email="tc@lakeside.example")
    assert (account.role, account.active) == (Role.TECHNICAL_CONTACT, True)  # not written
    assert [d.name for d in await account.districts.all()] == [LAKESIDE]
    assert (await authenticate(token)).account.id == account.id

    real = await import_document(changed)
    assert real.changes == expected and real.summary() == dry.summary()
    account = await Account.get(email="tc@lakeside.example")
    assert (account.role, account.active) == (Role.HOSTING_STAFF, False)
    with pytest.raises(DomainError):
        await authenticate(token)  # switched off: its tokens stop at once
    again = await import_document(changed)
    assert again.changes == []  # idempotent: nothing more to report


async def test_a_file_that_leaves_active_out_keeps_an_account_switched_off(db) -> None:
    await import_document(document(active=False))
    assert not (await Account.get(email="tc@lakeside.example")).active
    report = await import_document(document())  # the nightly file, without "active"
    assert report.changes == []
    assert not (await Account.get(email="tc@lakeside.example")).active


async def test_cli_dry_run_prints_the_changes_and_writes_nothing(db, tmp_path: Path) -> None:
    assert run_cli(db, "import", str(DESIGN_EXAMPLE)).returncode == 0
    data = document(role="HOSTING_STAFF")
    data["updateGroups"].append({"name": "New Consortium", "kind": "CONSORTIUM"})
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))

    dry = run_cli(db, "import", "--dry-run", str(changed))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"Dry run of {changed}, nothing written: ")
    assert "  role changed: tc@lakeside.example: TECHNICAL_CONTACT -> HOSTING_STAFF" in dry.stdout
    assert (await Account.get(email="tc@lakeside.example")).role is Role.TECHNICAL_CONTACT
    assert not await UpdateGroup.filter(name="New Consortium").exists()
    assert not await District.filter(name=RIVERSIDE).exists()

    real = run_cli(db, "import", str(changed))
    assert real.returncode == 0, real.stderr
    assert real.stdout.splitlines()[1:] == dry.stdout.splitlines()[1:]  # the same report
    assert (await Account.get(email="tc@lakeside.example")).role is Role.HOSTING_STAFF
