"""The payload of createWebhook."""

from __future__ import annotations

from typing import cast

import strawberry

from models.errors import DomainError
from models.webhooks.registry import CreatedWebhook
from schema.errors import UserError
from schema.webhooks.types import WebhookType


@strawberry.type
class WebhookPayload:
    webhook: WebhookType | None
    secret: str | None = strawberry.field(
        description="The signing secret, in the answer to createWebhook only: it is never shown again."
    )
    errors: list[UserError]

    @classmethod
    def created(cls, created: CreatedWebhook) -> WebhookPayload:
        return cls(webhook=cast(WebhookType, created.webhook), secret=created.secret, errors=[])

    @classmethod
    def refused(cls, error: DomainError) -> WebhookPayload:
        return cls(webhook=None, secret=None, errors=[UserError.from_domain(error)])
