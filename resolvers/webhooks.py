"""Webhooks: the caller's own, created, deleted, and their delivery log. A webhook is its owner's
alone: anyone else (staff too) is answered as if it did not exist."""

from __future__ import annotations

import strawberry

from infra.outbound import resolve_host
from models.tables import District, Webhook, WebhookAttempt
from models.webhooks import registry, visibility
from models.webhooks.registry import DEFAULT_ATTEMPTS_SHOWN, CreatedWebhook
from resolvers.access import visible_district
from resolvers.context import GraphQLContext
from resolvers.ids import require_id
from resolvers.pagination import check_first


async def webhooks(context: GraphQLContext) -> list[Webhook]:
    return await registry.own_webhooks(context.actor)


async def webhook(context: GraphQLContext, pk: int) -> Webhook | None:
    return await registry.own_webhook(context.actor, pk)


async def create_webhook(
    context: GraphQLContext, url: str, district_id: strawberry.ID | None
) -> CreatedWebhook:
    district_pk = (
        None if district_id is None else require_id(district_id, "District", "district", "districtId")
    )
    return await registry.create_webhook(
        context.actor,
        url=url,
        district_id=district_pk,
        allow_private=context.settings.webhook_allow_private,
        resolve=resolve_host,
    )


async def delete_webhook(context: GraphQLContext, id: strawberry.ID) -> None:
    await registry.delete_webhook(context.actor, require_id(id, "Webhook", "webhook"))


async def district_of(context: GraphQLContext, row: Webhook) -> District | None:
    return await visible_district(context, row.district_id)


def receiving(context: GraphQLContext, row: Webhook) -> bool:
    """`active` as the owner is shown it: false too while it is for a district the owner lost."""
    return visibility.receiving(context.actor, row.active, row.district_id)


async def deliveries(context: GraphQLContext, row: Webhook, first: int | None) -> list[WebhookAttempt]:
    """The latest attempts of one of the caller's webhooks (reached only through its own)."""
    limit = check_first(first, DEFAULT_ATTEMPTS_SHOWN)
    return await registry.attempts_of(row.id, limit)
