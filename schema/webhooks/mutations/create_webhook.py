"""createWebhook: register an endpoint; the answer carries its signing secret, once."""

from __future__ import annotations

import strawberry

from models.errors import DomainError
from resolvers import webhooks
from resolvers.context import Info
from schema.webhooks.payloads import WebhookPayload


@strawberry.input
class WebhookInput:
    url: str = strawberry.field(
        description="https on a public address (private, loopback and link-local addresses are refused)."
    )
    district_id: strawberry.ID | None = strawberry.field(
        default=None, description="One of your districts; leave out for every district you may see."
    )


async def create_webhook(info: Info, input: WebhookInput) -> WebhookPayload:
    try:
        created = await webhooks.create_webhook(info.context, input.url, input.district_id)
    except DomainError as error:
        return WebhookPayload.refused(error)
    return WebhookPayload.created(created)
