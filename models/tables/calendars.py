"""Private calendar feeds: one per account, found by the digest of its secret."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.tables.accounts import Account


class CalendarFeed(Model):
    """An account's feed. The secret in its URL is derived from `nonce` with the deployment's feed
    key and only its SHA-256 is stored, so the database alone gives no usable feed URL; a new
    nonce (rotation) makes the old URL unknown."""

    id = fields.IntField(primary_key=True)
    account: fields.OneToOneRelation[Account] = fields.OneToOneField(
        "models.Account", related_name="calendar_feed", on_delete=fields.CASCADE
    )
    account_id: int
    nonce = fields.CharField(max_length=64)
    secret_hash = fields.CharField(max_length=64, unique=True)
    rotated_at = fields.DatetimeField()

    class Meta:
        table = "calendar_feed"


class ServiceKey(Model):
    """A key the service made for itself when the deployment configured none (e.g. the calendar
    feed key without UPDATEDESK_CALENDAR_FEED_KEY). Created once; every process reads the same."""

    name = fields.CharField(max_length=64, primary_key=True)
    value = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service_key"
