"""Tortoise models: the tables of the service. Rules live in the plain modules beside this one."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, time

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import (
    EnvironmentKind,
    GroupKind,
    HostingModel,
    NotificationKind,
    NotificationState,
    Role,
    UpdateKind,
    UpdateStatus,
)

# Tortoise registers SQLite adapters for date and datetime but not time, so without this a
# MaintenanceWindow could not be written through the ORM on SQLite (the embedded default).
sqlite3.register_adapter(time, lambda value: value.isoformat())

#: The time zone used for district-facing dates when a district names none.
DEFAULT_TIME_ZONE = "America/Chicago"


class UpdateGroup(Model):
    """A state or consortium whose districts are version-updated together."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    kind = fields.CharEnumField(GroupKind, max_length=20)
    created_at = fields.DatetimeField(auto_now_add=True)

    districts: fields.ReverseRelation[District]

    class Meta:
        table = "update_group"


class District(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    hosting_model = fields.CharEnumField(HostingModel, max_length=20)
    update_group: fields.ForeignKeyNullableRelation[UpdateGroup] = fields.ForeignKeyField(
        "models.UpdateGroup", related_name="districts", null=True, on_delete=fields.SET_NULL
    )
    update_group_id: int | None
    time_zone = fields.CharField(max_length=64, default=DEFAULT_TIME_ZONE)
    created_at = fields.DatetimeField(auto_now_add=True)

    environments: fields.ReverseRelation[Environment]
    accounts: fields.ManyToManyRelation[Account]

    class Meta:
        table = "district"


class Environment(Model):
    """One hosted site of a district, at most one of each kind per district."""

    id = fields.IntField(primary_key=True)
    district: fields.ForeignKeyRelation[District] = fields.ForeignKeyField(
        "models.District", related_name="environments", on_delete=fields.CASCADE
    )
    district_id: int
    kind = fields.CharEnumField(EnvironmentKind, max_length=20)
    url = fields.CharField(max_length=500, null=True)
    current_version = fields.CharField(max_length=64)
    version_updated_at = fields.DatetimeField(null=True)
    last_refreshed_at = fields.DatetimeField(null=True)
    online = fields.BooleanField(default=True)
    # Staff-only: where this site's database lives, for real refresh copies. Never exposed.
    database_url = fields.CharField(max_length=1000, null=True)

    class Meta:
        table = "environment"
        unique_together = (("district", "kind"),)


class Release(Model):
    id = fields.IntField(primary_key=True)
    version = fields.CharField(max_length=64, unique=True)
    released_at = fields.DatetimeField()

    class Meta:
        table = "release"


class MaintenanceWindow(Model):
    """A weekly window in local time, for every district of one hosting model."""

    id = fields.IntField(primary_key=True)
    hosting_model = fields.CharEnumField(HostingModel, max_length=20)
    weekday = fields.SmallIntField()  # 0 = Monday ... 6 = Sunday
    start_time = fields.TimeField()
    end_time = fields.TimeField()
    time_zone = fields.CharField(max_length=64)

    class Meta:
        table = "maintenance_window"


class Account(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=30)
    active = fields.BooleanField(default=True)
    hide_completed = fields.BooleanField(default=False)  # the saved "Hide Complete" choice
    districts: fields.ManyToManyRelation[District] = fields.ManyToManyField(
        "models.District", related_name="accounts", through="account_district"
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    tokens: fields.ReverseRelation[ApiToken]

    class Meta:
        table = "account"


class ApiToken(Model):
    """A bearer token. Only its SHA-256 is stored, so a database leak reveals no usable token."""

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="tokens", on_delete=fields.CASCADE
    )
    account_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


class UpdateRequest(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(UpdateKind, max_length=20)
    status = fields.CharEnumField(UpdateStatus, max_length=30)
    district: fields.ForeignKeyRelation[District] = fields.ForeignKeyField(
        "models.District", related_name="update_requests", on_delete=fields.CASCADE
    )
    district_id: int
    environment: fields.ForeignKeyRelation[Environment] = fields.ForeignKeyField(
        "models.Environment", related_name="update_requests", on_delete=fields.CASCADE
    )
    environment_id: int
    target_version = fields.CharField(max_length=64, null=True)
    preferred_start = fields.DatetimeField(null=True)
    scheduled_start = fields.DatetimeField(null=True)
    window_override = fields.BooleanField(default=False)
    started_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    dispatched_at = fields.DatetimeField(null=True)  # when it went NOT_STARTED (lost-job detection)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    requested_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="update_requests", null=True, on_delete=fields.SET_NULL
    )
    requested_by_id: int | None
    automatic = fields.BooleanField(default=False)
    notes = fields.TextField(null=True)
    status_message: str | None = fields.TextField(null=True)
    superseded_by: fields.ForeignKeyNullableRelation[UpdateRequest] = fields.ForeignKeyField(
        "models.UpdateRequest", related_name="supersedes", null=True, on_delete=fields.SET_NULL
    )
    superseded_by_id: int | None
    idempotency_key = fields.CharField(max_length=200, null=True)
    deleted_at = fields.DatetimeField(null=True)  # soft delete: hidden from lists, kept for audit
    # Latest progress, so a new subscriber or a list sees it without the event stream.
    progress_percent = fields.SmallIntField(null=True)
    progress_step = fields.CharField(max_length=100, null=True)
    progress_message = fields.TextField(null=True)
    progress_at = fields.DatetimeField(null=True)
    # Runbook checkpoint: names of finished steps, so a redelivered job resumes after them.
    completed_steps: fields.Field[list[str]] = fields.JSONField(default=list)
    attempts = fields.SmallIntField(default=0)

    class Meta:
        table = "update_request"
        unique_together = (("requested_by", "idempotency_key"),)
        indexes = (
            Index(fields=("district_id", "status", "created_at")),
            Index(fields=("status", "scheduled_start")),
            Index(fields=("environment_id", "status")),
            Index(fields=("created_at",)),
        )


class StatusChange(Model):
    """The audit history: one row per status move, never deleted."""

    id = fields.IntField(primary_key=True)
    update_request: fields.ForeignKeyRelation[UpdateRequest] = fields.ForeignKeyField(
        "models.UpdateRequest", related_name="history", on_delete=fields.CASCADE
    )
    update_request_id: int
    from_status = fields.CharEnumField(UpdateStatus, max_length=30, null=True)
    to_status = fields.CharEnumField(UpdateStatus, max_length=30)
    at = fields.DatetimeField()
    by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="status_changes", null=True, on_delete=fields.SET_NULL
    )
    by_id: int | None
    actor = fields.CharField(max_length=20)  # Mover: REQUESTER, STAFF, DISPATCHER, WORKER, SYSTEM
    message = fields.TextField(null=True)
    window_override = fields.BooleanField(default=False)

    class Meta:
        table = "status_change"
        indexes = (Index(fields=("update_request_id", "at")),)


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
    last_error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        indexes = (Index(fields=("state", "created_at")),)


def utcnow() -> datetime:
    return datetime.now(UTC)
