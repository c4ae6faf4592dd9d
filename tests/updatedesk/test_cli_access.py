"""Ending access from the command line, as a real subprocess against the test database:
`tokens list`, `tokens revoke`, `accounts deactivate` / `activate`, effective at once on sign-in."""

from __future__ import annotations

import pytest

from models.enums import Role
from models.errors import DomainError
from models.tables import ApiToken
from models.tokens import authenticate
from tests.factories import make_account
from tests.updatedesk.test_cli import run_cli


def issued(db, email: str) -> str:
    result = run_cli(db, "tokens", "issue", email, "--expires-in", "7")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def signs_in(token: str) -> bool:
    try:
        await authenticate(token)
    except DomainError:
        return False
    return True


async def test_tokens_list_shows_each_token_but_never_the_token(db) -> None:
    await make_account(Role.TECHNICAL_CONTACT, email="tc@lakeside.example")
    first, second = issued(db, "tc@lakeside.example"), issued(db, "tc@lakeside.example")
    await authenticate(first)  # records its last use

    listed = run_cli(db, "tokens", "list", "TC@lakeside.example")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["id", "created", "expires", "last", "used", "revoked"]
    ids = [str(t.id) for t in await ApiToken.all().order_by("id")]
    assert [row.split()[0] for row in rows] == ids
    assert first not in listed.stdout and second not in listed.stdout
    assert rows[0].count("UTC") == 3 and rows[0].rstrip().endswith("-")  # used, not revoked
    assert rows[1].count("UTC") == 2  # never used


async def test_tokens_revoke_by_id_or_by_token_stops_it_at_once(db) -> None:
    await make_account(Role.TECHNICAL_CONTACT, email="tc@lakeside.example")
    by_id, by_token, kept = (issued(db, "tc@lakeside.example") for _ in range(3))
    token_id = (await authenticate(by_id)).token_id

    revoked = run_cli(db, "tokens", "revoke", str(token_id))
    assert revoked.returncode == 0, revoked.stderr
    assert f"Revoked token {token_id} of tc@lakeside.example" in revoked.stdout
    assert run_cli(db, "tokens", "revoke", by_token).returncode == 0
    assert not await signs_in(by_id) and not await signs_in(by_token)
    assert await signs_in(kept)
    assert "already revoked" in run_cli(db, "tokens", "revoke", str(token_id)).stdout
    listed = run_cli(db, "tokens", "list", "tc@lakeside.example").stdout.splitlines()
    assert [row.count("UTC") >= 3 for row in listed[1:3]] == [True, True]  # revoked: a date

    unknown = run_cli(db, "tokens", "revoke", "ud_" + "x" * 43)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.startswith("updatedesk: error: no such token")


async def test_deactivating_an_account_stops_every_token_and_activating_restores_them(db) -> None:
    await make_account(Role.TECHNICAL_CONTACT, email="tc@lakeside.example")
    tokens = [issued(db, "tc@lakeside.example") for _ in range(2)]

    off = run_cli(db, "accounts", "deactivate", "tc@lakeside.example")
    assert off.returncode == 0, off.stderr
    assert off.stdout.startswith("Deactivated tc@lakeside.example")
    for token in tokens:
        with pytest.raises(DomainError, match="deactivated"):
            await authenticate(token)
    assert "already deactivated" in run_cli(db, "accounts", "deactivate", "tc@lakeside.example").stdout
    refused = run_cli(db, "tokens", "issue", "tc@lakeside.example")
    assert refused.returncode == 2 and "deactivated" in refused.stderr

    on = run_cli(db, "accounts", "activate", "tc@lakeside.example")
    assert on.returncode == 0 and on.stdout.startswith("Activated tc@lakeside.example")
    assert all([await signs_in(token) for token in tokens])

    missing = run_cli(db, "accounts", "deactivate", "nobody@example.org")
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == "updatedesk: error: no account with e-mail nobody@example.org; import it first"
    )
