"""Webhook and its delivery log (WebhookDelivery: one attempt each), backed by the rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import Parent

from models.requests.queries import related
from models.tables import Webhook as WebhookRow
from models.tables import WebhookAttempt as WebhookAttemptRow
from models.tables import WebhookDelivery as WebhookDeliveryRow
from resolvers import webhooks
from resolvers.context import Info
from schema.enums import EventType
from schema.nodes import Node, rows_of

# Types of other feature slices are resolved by `strawberry.lazy`; to the type checker they are Any.
if TYPE_CHECKING:
    DistrictType = Any


def _delivery(root: WebhookAttemptRow) -> WebhookDeliveryRow:
    return related(root, "delivery", WebhookDeliveryRow)


@strawberry.type(
    name="WebhookDelivery",
    description="One attempt to deliver one event to the endpoint, and its answer; or, with "
    "attempt 0, an event given up without a (further) attempt: the endpoint was deactivated, or "
    "its owner no longer sees the event's district (error says which). Every line of one event "
    "carries the same deliveryId (the Updatedesk-Delivery header).",
)
class WebhookDeliveryType:
    at: datetime = strawberry.field(description="When the attempt started (attempt 0: when it was given up).")
    attempt: int = strawberry.field(
        description="1 for the first POST of the event, 2 for its first retry...; 0: not sent."
    )
    status_code: int | None = strawberry.field(description="The endpoint's HTTP status, if it answered.")
    error: str | None = strawberry.field(description="Why there was no success (no answer, refused, 4xx...).")
    delivered: bool
    is_type_of = staticmethod(rows_of(WebhookAttemptRow))

    @strawberry.field(description="The cursor of the event record delivered.")
    def event_cursor(self, root: Parent[WebhookAttemptRow]) -> str:
        return _delivery(root).event_cursor

    @strawberry.field(description="The Updatedesk-Delivery header: the same on every retry.")
    def delivery_id(self, root: Parent[WebhookAttemptRow]) -> str:
        return _delivery(root).uid

    @strawberry.field(description="The Updatedesk-Event header: the event's type.")
    def event_type(self, root: Parent[WebhookAttemptRow]) -> EventType:
        return _delivery(root).event_type


@strawberry.type(
    name="Webhook",
    description="An HTTPS endpoint that gets a signed POST for each event of its district (or of "
    "every district its owner may see).",
)
class WebhookType(Node):
    url: str
    created_at: datetime
    failing_since: datetime | None = strawberry.field(
        description="When the current run of failed attempts began; null while deliveries succeed."
    )
    deactivated_at: datetime | None
    is_type_of = staticmethod(rows_of(WebhookRow))

    @strawberry.field(
        description="Whether it gets events now. False once deactivated after failing for 24 hours "
        "(deactivatedAt says when; delete it and create it anew), while it is for one district "
        "that its owner no longer sees, and while it is for every district and its owner sees "
        "none (deactivatedAt null; true again if the access returns)."
    )
    def active(self, root: Parent[WebhookRow], info: Info) -> bool:
        return webhooks.receiving(info.context, root)

    @strawberry.field(
        description="The one district it is for. Null: every district its owner may see, or (active "
        "false, deactivatedAt null) a district its owner no longer sees, which is not named."
    )
    async def district(
        self, root: Parent[WebhookRow], info: Info
    ) -> Annotated[DistrictType, strawberry.lazy("schema.districts.types")] | None:
        return await webhooks.district_of(info.context, root)

    @strawberry.field(description="The latest delivery attempts, newest first (first ≤ 100).")
    async def deliveries(
        self, root: Parent[WebhookRow], info: Info, first: int | None = 20
    ) -> list[WebhookDeliveryType]:
        return cast(list[WebhookDeliveryType], await webhooks.deliveries(info.context, root, first))
