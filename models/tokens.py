"""API tokens: random bearer secrets of which only a SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import secrets
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
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "The token is unknown, expired or revoked.")
    account = row.account
    if not account.active:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "This account is deactivated.")
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
