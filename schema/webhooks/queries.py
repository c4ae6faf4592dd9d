"""The `webhooks` query."""

from __future__ import annotations

from typing import cast

import strawberry

from resolvers import webhooks
from resolvers.context import Info
from schema.webhooks.types import WebhookType


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The caller's own webhooks, newest first.")
    async def webhooks(self, info: Info) -> list[WebhookType]:
        return cast(list[WebhookType], await webhooks.webhooks(info.context))
