"""The mail outbox: one row per e-mail, written in the same transaction as the change it reports."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import NotificationKind, NotificationState
from models.tables.requests import UpdateRequest


class Notification(Model):
    """The mail outbox: written in the same transaction as the change it reports."""

    id = fields.IntField(primary_key=True)
    update_request: fields.ForeignKeyNullableRelation[UpdateRequest] = fields.ForeignKeyField(
        "models.UpdateRequest", related_name="notifications", null=True, on_delete=fields.SET_NULL
    )
    update_request_id: int | None
    kind = fields.CharEnumField(NotificationKind, max_length=30)
    recipient = fields.CharField(max_length=320)
    subject = fields.CharField(max_length=300)
    body = fields.TextField()
    calendar = fields.TextField(null=True)  # iCalendar invitation, for scheduled mails
    state = fields.CharEnumField(NotificationState, max_length=20, default=NotificationState.PENDING)
    attempts = fields.SmallIntField(default=0)
    #: When the attempt now SENDING claimed the mail: a claim much older than an SMTP exchange can
    #: take means its worker died mid-send, and the mail may be tried again.
    claimed_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        indexes = (Index(fields=("state", "created_at")),)
