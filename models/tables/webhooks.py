"""Webhooks: the endpoints accounts register, one delivery per event and endpoint, and the log of
attempts that the `deliveries` field lists."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import EventType, WebhookDeliveryState
from models.tables.accounts import Account
from models.tables.catalog import District


class Webhook(Model):
    """An HTTPS endpoint that gets the events of one district of its owner, or of all it sees."""

    id = fields.IntField(primary_key=True)
    owner: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="webhooks", on_delete=fields.CASCADE
    )
    owner_id: int
    # None: every district the owner may see at the time of each event.
    district: fields.ForeignKeyNullableRelation[District] = fields.ForeignKeyField(
        "models.District", related_name="webhooks", null=True, on_delete=fields.CASCADE
    )
    district_id: int | None
    url = fields.CharField(max_length=2000)
    # The HMAC key. It must stay readable to sign, so it is kept as is; the API shows it once, on
    # create, and no field or log ever shows it again.
    secret = fields.CharField(max_length=100)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    # The first failed attempt since the last success; None while the endpoint answers.
    failing_since = fields.DatetimeField(null=True)
    last_delivered_at = fields.DatetimeField(null=True)
    deactivated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook"
        indexes = (Index(fields=("owner_id", "created_at")), Index(fields=("active", "district_id")))


class WebhookDelivery(Model):
    """One event for one endpoint. `uid` (the `Updatedesk-Delivery` header) and `body` stay
    the same across every attempt, so a receiver can de-duplicate."""

    id = fields.IntField(primary_key=True)
    webhook: fields.ForeignKeyRelation[Webhook] = fields.ForeignKeyField(
        "models.Webhook", related_name="deliveries", on_delete=fields.CASCADE
    )
    webhook_id: int
    uid = fields.CharField(max_length=36, unique=True)
    event_cursor = fields.CharField(max_length=200)
    event_type = fields.CharEnumField(EventType, max_length=20)
    # Plain ids, not foreign keys: the delivery log outlives what it reports on.
    update_request_id = fields.IntField()
    district_id = fields.IntField()
    body = fields.TextField()
    state = fields.CharEnumField(WebhookDeliveryState, max_length=20, default=WebhookDeliveryState.PENDING)
    attempts = fields.SmallIntField(default=0)
    # An attempt was claimed and its outcome is not recorded yet (a worker stopping leaves it set).
    in_flight = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()
    first_attempt_at = fields.DatetimeField(null=True)
    # When the next attempt may start (while in flight: when the claim lapses).
    next_attempt_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)
    last_status_code = fields.IntField(null=True)
    last_error = fields.TextField(null=True)

    class Meta:
        table = "webhook_delivery"
        unique_together = (("webhook", "event_cursor"),)
        indexes = (Index(fields=("webhook_id", "state", "id")), Index(fields=("state", "next_attempt_at")))


class WebhookAttempt(Model):
    """One POST of a delivery and what came of it."""

    id = fields.IntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[WebhookDelivery] = fields.ForeignKeyField(
        "models.WebhookDelivery", related_name="attempt_log", on_delete=fields.CASCADE
    )
    delivery_id: int
    webhook: fields.ForeignKeyRelation[Webhook] = fields.ForeignKeyField(
        "models.Webhook", related_name="attempts", on_delete=fields.CASCADE
    )
    webhook_id: int
    # 1, 2, ...; 0: no POST, the delivery was given up (skipped, or its endpoint deactivated).
    attempt = fields.SmallIntField()
    at = fields.DatetimeField()
    status_code = fields.IntField(null=True)
    error = fields.TextField(null=True)
    delivered = fields.BooleanField(default=False)
    duration_ms = fields.IntField(null=True)

    class Meta:
        table = "webhook_attempt"
        indexes = (Index(fields=("webhook_id", "id")),)


class WebhookStreamPosition(Model):
    """How far the webhook dispatcher has read the event stream (one row per reader name)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    cursor = fields.CharField(max_length=200)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhook_stream_position"
