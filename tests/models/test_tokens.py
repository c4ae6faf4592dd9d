"""API tokens: only a SHA-256 is stored; unknown, expired, revoked tokens and deactivated accounts
are UNAUTHENTICATED."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from models.access import Mover
from models.enums import ErrorCode, Role
from models.errors import DomainError
from models.tables import Account, ApiToken
from models.tokens import (
    ACCOUNT_OFF,
    EXPIRED_TOKEN,
    LAST_USED_RESOLUTION,
    REVOKED_TOKEN,
    TOKEN_PREFIX,
    authenticate,
    ended_tokens,
    hash_token,
    issue_token,
    parse_bearer,
    revoke_token,
)
from tests.factories import make_account, make_district
from tests.support import table_names

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


async def unauthenticated(token: str | None, now: datetime = NOW) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await authenticate(token, now=now)
    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    return caught.value


async def all_stored_text() -> list[str]:
    """Every value of every column of every table, as text."""
    connection = connections.get("default")
    values: list[str] = []
    for table in table_names():
        for row in await connection.execute_query_dict(f'SELECT * FROM "{table}"'):
            values.extend(str(value) for value in row.values() if value is not None)
    return values


async def test_the_plaintext_is_stored_nowhere(db):
    account = await make_account(Role.TECHNICAL_CONTACT, [await make_district()])
    token = await issue_token(account, timedelta(days=30), now=NOW)
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    secret = token.removeprefix(TOKEN_PREFIX)
    connection = connections.get("default")
    rows = await connection.execute_query_dict("SELECT * FROM api_token")
    assert len(rows) == 1
    text_columns = {k: v for k, v in rows[0].items() if isinstance(v, str)}
    assert "token_hash" in text_columns
    for column, value in text_columns.items():
        assert secret not in value, column
        assert secret[:16] not in value, column
    assert rows[0]["token_hash"] == hash_token(token)
    assert len(rows[0]["token_hash"]) == 64
    stored = await all_stored_text()
    assert stored, "the scan must see the rows"
    assert not any(secret in value or secret[:16] in value for value in stored)


async def test_a_valid_token_gives_the_accounts_actor(db):
    first, second, foreign = await make_district(), await make_district(), await make_district()
    account = await make_account(Role.STATE_CONTACT, [first, second])
    token = await issue_token(account, timedelta(days=1), now=NOW)
    signed_in = await authenticate(token, now=NOW + timedelta(hours=1))
    assert signed_in.account.id == account.id
    assert signed_in.actor.mover is Mover.REQUESTER
    assert signed_in.actor.district_ids == frozenset({first.id, second.id})
    assert not signed_in.actor.can_see(foreign.id)


async def test_staff_tokens_see_everything(db):
    staff = await make_account(Role.HOSTING_STAFF)
    token = await issue_token(staff, None, now=NOW)
    signed_in = await authenticate(token, now=NOW + timedelta(days=3650))  # no expiry
    assert signed_in.actor.is_staff and signed_in.actor.district_ids is None


@pytest.mark.parametrize("token", [None, "", "ud_not-a-real-token", "Bearer something"])
async def test_missing_or_unknown_tokens(db, token):
    await unauthenticated(token)


async def test_expired_token(db):
    account = await make_account()
    token = await issue_token(account, timedelta(days=1), now=NOW)
    await authenticate(token, now=NOW + timedelta(days=1) - timedelta(seconds=1))
    await unauthenticated(token, now=NOW + timedelta(days=1))
    await unauthenticated(token, now=NOW + timedelta(days=30))


async def test_the_watch_of_open_sockets_ends_a_token_at_the_same_instant_as_sign_in(db):
    """`ended_tokens` (what closes idle WebSockets) and `authenticate` (HTTP, each operation) agree
    to the microsecond: a token is good until the instant it expires, stored with its fraction of a
    second on both databases, and ended from that instant on; revoked and switched-off ones too."""
    expires = NOW + timedelta(days=1, microseconds=123456)
    account = await make_account()
    token = await issue_token(account, expires - NOW, now=NOW)
    [row] = await ApiToken.filter(account_id=account.id)
    just_before = expires - timedelta(microseconds=1)
    await authenticate(token, now=just_before)
    assert await ended_tokens([row.id], now=just_before) == {}
    await unauthenticated(token, now=expires)
    assert await ended_tokens([row.id], now=expires) == {row.id: EXPIRED_TOKEN}

    other = await make_account()
    revoked = await issue_token(other, None, now=NOW)
    switched_off = await issue_token(other, None, now=NOW)
    revoked_id, off_id = [t.id for t in await ApiToken.filter(account_id=other.id).order_by("id")]
    assert await revoke_token(revoked, now=NOW)
    assert await ended_tokens([revoked_id, off_id], now=NOW) == {revoked_id: REVOKED_TOKEN}
    await Account.filter(id=other.id).update(active=False)
    assert await ended_tokens([off_id], now=NOW) == {off_id: ACCOUNT_OFF}
    await unauthenticated(switched_off)


async def test_revoked_token(db):
    account = await make_account()
    token = await issue_token(account, timedelta(days=30), now=NOW)
    other = await issue_token(account, timedelta(days=30), now=NOW)
    assert await revoke_token(token, now=NOW)
    assert not await revoke_token(token, now=NOW)  # already revoked
    await unauthenticated(token)
    assert (await authenticate(other, now=NOW)).account.id == account.id  # only that token


async def test_deactivated_account(db):
    account = await make_account()
    token = await issue_token(account, timedelta(days=30), now=NOW)
    await Account.filter(id=account.id).update(active=False)
    error = await unauthenticated(token)
    assert "deactivated" in error.message


async def test_last_used_is_written_at_most_once_per_resolution(db):
    account = await make_account()
    token = await issue_token(account, timedelta(days=30), now=NOW)
    await authenticate(token, now=NOW)
    assert (await ApiToken.get(account_id=account.id)).last_used_at == NOW
    await authenticate(token, now=NOW + LAST_USED_RESOLUTION / 2)
    assert (await ApiToken.get(account_id=account.id)).last_used_at == NOW
    later = NOW + LAST_USED_RESOLUTION
    await authenticate(token, now=later)
    assert (await ApiToken.get(account_id=account.id)).last_used_at == later


def test_hash_is_sha256_hex():
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer ud_abc", "ud_abc"),
        ("bearer   ud_abc  ", "ud_abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer    ", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_bearer(header, token):
    assert parse_bearer(header) == token
