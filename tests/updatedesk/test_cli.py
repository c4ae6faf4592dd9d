"""The `updatedesk` command run as a real subprocess against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.tables import Account, ApiToken, District, Environment, Release, UpdateGroup
from models.tokens import authenticate, hash_token

DESIGN_EXAMPLE = Path(__file__).with_name("design-example.json")


def run_cli(db, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db.url}
    return subprocess.run(
        [sys.executable, "-m", "updatedesk.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def row_counts() -> dict[str, int]:
    return {
        "groups": await UpdateGroup.all().count(),
        "releases": await Release.all().count(),
        "districts": await District.all().count(),
        "environments": await Environment.all().count(),
        "accounts": await Account.all().count(),
    }


async def test_import_twice_changes_nothing_and_token_authenticates(db):
    first = run_cli(db, "import", str(DESIGN_EXAMPLE))
    assert first.returncode == 0, first.stderr
    counts = await row_counts()
    assert counts == {"groups": 1, "releases": 1, "districts": 1, "environments": 2, "accounts": 1}

    second = run_cli(db, "import", str(DESIGN_EXAMPLE))
    assert second.returncode == 0, second.stderr
    assert await row_counts() == counts
    assert "0 created, 0 updated" in second.stdout

    issued = run_cli(db, "tokens", "issue", "tc@lakeside.example", "--expires-in", "7")
    assert issued.returncode == 0, issued.stderr
    lines = issued.stdout.splitlines()
    assert len(lines) == 1
    token = lines[0]
    auth = await authenticate(token)
    assert auth.account.email == "tc@lakeside.example"
    linked = {d.name for d in await auth.account.districts.all()}
    assert linked == {"Lakeside Public Schools"}
    # Only the hash is stored: the plaintext appears in no column of the token table.
    row = await ApiToken.get(account_id=auth.account.id)
    assert row.token_hash == hash_token(token)
    assert token not in json.dumps([str(v) for v in (await ApiToken.all().values()) for v in v.values()])


async def test_bad_file_names_the_entry_and_writes_nothing(db, tmp_path):
    document = json.loads(DESIGN_EXAMPLE.read_text())
    document["districts"][0]["environments"][1]["currentVersion"] = "Campus.latest"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    result = run_cli(db, "import", str(bad))
    assert result.returncode == 2
    assert "districts[0].environments[1].currentVersion" in result.stderr
    assert "Traceback" not in result.stderr
    assert set((await row_counts()).values()) == {0}


async def test_yaml_import_and_bad_role(db, tmp_path):
    yaml_file = tmp_path / "catalog.yaml"
    yaml_file.write_text(
        "releases:\n  - version: Campus.2435.4\n    releasedAt: '2026-10-01T00:00:00Z'\n"
        "accounts:\n  - email: boss@example.org\n    name: B\n    role: BOSS\n"
    )
    result = run_cli(db, "import", str(yaml_file))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "updatedesk: error: accounts[0].role: 'BOSS' is not one of TECHNICAL_CONTACT, STATE_CONTACT, "
        "CONSORTIUM_CONTACT, PARTNER, ESA, VIEWER, HOSTING_STAFF"
    ]
    assert await Release.all().count() == 0


async def test_unknown_email_is_one_line_exit_2(db):
    result = run_cli(db, "tokens", "issue", "nobody@example.org")
    assert result.returncode == 2
    assert result.stdout == ""
    expected = "updatedesk: error: no account with e-mail nobody@example.org; import it first"
    assert result.stderr.strip() == expected


async def test_migrate_is_idempotent(db):
    result = run_cli(db, "migrate")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


@pytest.mark.parametrize("flag", ["--processes", "--threads"])
@pytest.mark.parametrize("value", ["0", "-1"])
async def test_a_worker_count_that_is_not_positive_is_refused(db, flag: str, value: str) -> None:
    """Zero used to start the default quietly and -1 no process at all, then a traceback."""
    result = run_cli(db, "worker", flag, value)
    assert result.returncode == 2, result.stderr
    assert f"{flag} must be a positive whole number" in result.stderr
    assert "Traceback" not in result.stderr
