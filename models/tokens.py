"""API tokens: random bearer secrets of which only a SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from models.access import Actor, actor_for_account
from models.clock import utcnow
from models.enums import ErrorCode, Role
from models.errors import DomainError
from models.tables import Account, ApiToken

TOKEN_PREFIX = "ud_"
#: last_used_at is written at most this often per token, to keep reads from becoming writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(account: Account, expires_in: timedelta | None, now: datetime | None = None) -> str:
    """Create a token for `account` and return its plaintext (shown once, never stored)."""
    now = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(
        account_id=account.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
    )
    return token


async def revoke_token(token: str, now: datetime | None = None) -> bool:
    updated = await ApiToken.filter(token_hash=hash_token(token), revoked_at__isnull=True).update(
        revoked_at=now or utcnow()
    )
    return updated == 1


async def revoke_token_id(token_id: int, now: datetime | None = None) -> bool:
    """Revoke a token by its id (as `tokens list` shows it); False when unknown or already revoked."""
    updated = await ApiToken.filter(id=token_id, revoked_at__isnull=True).update(revoked_at=now or utcnow())
    return updated == 1


async def find_token(token_or_id: str) -> ApiToken | None:
    """A token named by itself (`ud_...`) or by its id."""
    value = token_or_id.strip()
    if value.startswith(TOKEN_PREFIX):
        return await ApiToken.get_or_none(token_hash=hash_token(value))
    if value.isdecimal():
        return await ApiToken.get_or_none(id=int(value))
    return None


async def account_tokens(account_id: int) -> list[ApiToken]:
    """Every token of an account, oldest first (their hashes only: no token can be shown again)."""
    return await ApiToken.filter(account_id=account_id).order_by("created_at", "id")


#: Why a token no longer signs in, in words a person can act on (short: they are also WebSocket
#: close reasons, which hold at most 123 bytes).
UNKNOWN_TOKEN = "The token is unknown. Check it was copied whole, or ask the hosting team for a token."
REVOKED_TOKEN = "This token was revoked. Ask the hosting team for a new token and sign in again."
EXPIRED_TOKEN = "This token has expired. Ask the hosting team for a new token and sign in again."
ACCOUNT_OFF = "This account is deactivated. Ask the hosting team if you need access again."
#: Token ids asked about in one query by `ended_tokens`.
TOKEN_CHECK_BATCH = 500


def token_refusal(
    revoked_at: datetime | None, expires_at: datetime | None, account_active: bool, now: datetime
) -> str | None:
    """Why a token with these facts does not sign in now, or None when it does."""
    if revoked_at is not None:
        return REVOKED_TOKEN
    if expires_at is not None and expires_at <= now:
        return EXPIRED_TOKEN
    if not account_active:
        return ACCOUNT_OFF
    return None


async def ended_tokens(token_ids: Collection[int], now: datetime | None = None) -> dict[int, str]:
    """Of these tokens, those that no longer sign in, each with its reason: one query per
    TOKEN_CHECK_BATCH tokens, however many connections use them."""
    now = now or utcnow()
    ids = sorted(set(token_ids))
    ended: dict[int, str] = {token_id: UNKNOWN_TOKEN for token_id in ids}  # deleted rows stay here
    for start in range(0, len(ids), TOKEN_CHECK_BATCH):
        rows = await ApiToken.filter(id__in=ids[start : start + TOKEN_CHECK_BATCH]).values(
            "id", "revoked_at", "expires_at", "account__active"
        )
        for row in rows:
            refusal = token_refusal(row["revoked_at"], row["expires_at"], row["account__active"], now)
            if refusal is None:
                del ended[row["id"]]
            else:
                ended[row["id"]] = refusal
    return ended


@dataclass(frozen=True)
class Authenticated:
    account: Account
    actor: Actor
    token_id: int


async def authenticate(token: str | None, now: datetime | None = None) -> Authenticated:
    """The account behind a bearer token; UNAUTHENTICATED for a missing, unknown, expired or
    revoked token or a deactivated account."""
    if not token:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Sign in: send 'Authorization: Bearer <token>'.")
    now = now or utcnow()
    row = await ApiToken.get_or_none(token_hash=hash_token(token)).select_related("account")
    if row is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, UNKNOWN_TOKEN)
    account = row.account
    refusal = token_refusal(row.revoked_at, row.expires_at, account.active, now)
    if refusal is not None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, refusal)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        await ApiToken.filter(id=row.id).update(last_used_at=now)
    if account.role is Role.HOSTING_STAFF:
        district_ids: frozenset[int] = frozenset()  # staff see every district: no links to read
    else:
        district_ids = frozenset(cast(list[int], await account.districts.all().values_list("id", flat=True)))
    return Authenticated(account, actor_for_account(account.id, account.role, district_ids), row.id)


def parse_bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
