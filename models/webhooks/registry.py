"""An account's webhooks: create (the secret is returned once), delete, list, and the attempt log.

Who may: any account that may act for districts (not VIEWER; staff too). A webhook belongs to
the account that created it; everyone else, staff included, is answered as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from models.access import Actor, require_writer
from models.clock import utcnow
from models.enums import ErrorCode
from models.errors import DomainError, not_found
from models.tables import Account, District, Webhook, WebhookAttempt
from models.webhooks.addresses import (
    Resolve,
    UnresolvableHost,
    check_addresses,
    invalid_url,
    parse_target,
)
from models.webhooks.signing import new_secret

#: Endpoints one account may have; a partner needs a few, not hundreds.
MAX_WEBHOOKS_PER_ACCOUNT = 20
DEFAULT_ATTEMPTS_SHOWN = 20


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: Webhook
    #: The signing secret, returned this once.
    secret: str


def _owner_id(actor: Actor) -> int:
    require_writer(actor)
    if actor.account_id is None:
        raise DomainError(ErrorCode.FORBIDDEN, "Only an account can own a webhook.")
    return actor.account_id


async def check_url(url: str, *, allow_private: bool, resolve: Resolve) -> str:
    """The URL to store, or VALIDATION on `url` (see `models.webhooks.addresses`). A host name
    must resolve, and only to public addresses (checked again before every attempt)."""
    target = parse_target(url, allow_private=allow_private)
    if not allow_private and target.literal is None:
        try:
            addresses = await resolve(target.host, target.port)
        except UnresolvableHost:
            raise invalid_url(f"The host {target.host} does not resolve.") from None
        check_addresses(target.host, addresses)
    return target.url


async def create_webhook(
    actor: Actor,
    *,
    url: str,
    district_id: int | None,
    allow_private: bool,
    resolve: Resolve,
    now: datetime | None = None,
) -> CreatedWebhook:
    """Register an endpoint for one of the caller's districts, or (None) for all it may see."""
    owner_id = _owner_id(actor)
    if district_id is not None and (
        not actor.can_see(district_id) or not await District.filter(id=district_id).exists()
    ):
        raise not_found("district", "districtId")
    checked = await check_url(url, allow_private=allow_private, resolve=resolve)
    secret = new_secret()
    async with in_transaction():
        # The count and the insert are one step: calls of one account take turns on its row (not
        # a key lock: rows that merely refer to the account are not held up), so two at 19 never
        # both insert.
        await Account.filter(id=owner_id).select_for_update(no_key=True).first()
        if await Webhook.filter(owner_id=owner_id).count() >= MAX_WEBHOOKS_PER_ACCOUNT:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"An account can have at most {MAX_WEBHOOKS_PER_ACCOUNT} webhooks; delete one first.",
                "url",
            )
        row = await Webhook.create(
            owner_id=owner_id, district_id=district_id, url=checked, secret=secret, created_at=now or utcnow()
        )
    return CreatedWebhook(row, secret)


async def own_webhook(actor: Actor, webhook_id: int) -> Webhook | None:
    if actor.account_id is None:
        return None
    return await Webhook.get_or_none(id=webhook_id, owner_id=actor.account_id)


async def delete_webhook(actor: Actor, webhook_id: int) -> None:
    """Delete one of the caller's webhooks with its deliveries; NOT_FOUND for anyone else's. Any
    owner may, a viewer too: one made a viewer since it registered the endpoint may register no
    more, but the endpoint still gets what a viewer may read, and only its owner can stop it."""
    if actor.account_id is None:
        raise not_found("webhook")
    owner_id = actor.account_id
    deleted = await Webhook.filter(id=webhook_id, owner_id=owner_id).delete()
    # Not `!= 1`: SQLite counts the deliveries and attempts the cascade removed along with it.
    if not deleted:
        raise not_found("webhook")


async def own_webhooks(actor: Actor) -> list[Webhook]:
    """The caller's webhooks, newest first."""
    if actor.account_id is None:
        return []
    return list(await Webhook.filter(owner_id=actor.account_id).order_by("-created_at", "-id"))


async def attempts_of(webhook_id: int, limit: int = DEFAULT_ATTEMPTS_SHOWN) -> list[WebhookAttempt]:
    """The latest attempts of a webhook, newest first, each with its delivery loaded."""
    if limit <= 0:
        return []
    return list(
        await WebhookAttempt.filter(webhook_id=webhook_id)
        .order_by("-id")
        .limit(limit)
        .select_related("delivery")
    )
