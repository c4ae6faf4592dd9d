"""The Subscription root."""

from __future__ import annotations

import strawberry

from schema.requests.subscriptions import RequestSubscriptions


@strawberry.type
class Subscription(RequestSubscriptions):
    pass
