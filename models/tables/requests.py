"""Update requests and their audit history."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import UpdateKind, UpdateStatus
from models.tables.accounts import Account
from models.tables.catalog import District, Environment
from models.tables.rollouts import GroupRollout


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
    dispatched_at = fields.DatetimeField(null=True)  # when it last went NOT_STARTED
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    requested_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="update_requests", null=True, on_delete=fields.SET_NULL
    )
    requested_by_id: int | None
    automatic = fields.BooleanField(default=False)
    notes = fields.TextField(null=True)
    status_message: str | None = fields.TextField(null=True)
    # Technical detail of the last move (exception text, command output, lapsed leases): hosting
    # staff only, never in a district's mail or status message.
    internal_detail: str | None = fields.TextField(null=True)
    superseded_by: fields.ForeignKeyNullableRelation[UpdateRequest] = fields.ForeignKeyField(
        "models.UpdateRequest", related_name="supersedes", null=True, on_delete=fields.SET_NULL
    )
    superseded_by_id: int | None
    idempotency_key = fields.CharField(max_length=200, null=True)
    deleted_at = fields.DatetimeField(null=True)  # soft delete: hidden from lists, kept for audit
    deleted_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="deleted_requests", null=True, on_delete=fields.SET_NULL
    )
    deleted_by_id: int | None
    # Latest progress, so a new subscriber or a list sees it without the event stream.
    progress_percent = fields.SmallIntField(null=True)
    progress_step = fields.CharField(max_length=100, null=True)
    progress_message = fields.TextField(null=True)
    progress_at = fields.DatetimeField(null=True)
    # Runbook checkpoint: names of finished steps, so a redelivered job resumes after them.
    completed_steps: fields.Field[list[str]] = fields.JSONField(default=list)
    # Jobs that began this request (took its lease); after UPDATEDESK_STEP_ATTEMPTS of them lost
    # it, the request is given up.
    attempts = fields.SmallIntField(default=0)
    # The lease (models/requests/leases.py): which job holds the request and until when. A
    # dispatched request has no holder yet and a time to begin by; a running job renews it.
    lease_token = fields.CharField(max_length=36, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    # Lapsed leases reclaimed since a job last began it (doubles the time to begin, alerts staff).
    reclaims = fields.SmallIntField(default=0)
    # Number of history rows: each move advances it in its compare-and-set, and event records
    # carry it so subscribers get one request's events in history order.
    history_seq = fields.IntField(default=0)
    # The group rollout this request is part of (models/rollouts/), if any.
    rollout: fields.ForeignKeyNullableRelation[GroupRollout] = fields.ForeignKeyField(
        "models.GroupRollout", related_name="update_requests", null=True, on_delete=fields.SET_NULL
    )
    rollout_id: int | None
    # Staff accepted this failure by resuming its halted rollout: the error budget leaves it out.
    # True only while the request is UNABLE_TO_COMPLETE: any move out of it clears the mark
    # (models/requests/moves.py), so a retried failure that fails again counts as a new one.
    failure_accepted = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "update_request"
        unique_together = (("requested_by", "idempotency_key"),)
        indexes = (
            Index(fields=("district_id", "status", "created_at")),
            Index(fields=("status", "scheduled_start")),
            Index(fields=("environment_id", "status")),
            Index(fields=("status", "lease_expires_at")),
            Index(fields=("created_at",)),
            Index(fields=("rollout_id", "status")),
            # The scheduler's looks for moves and deletes missing from the event stream
            # (workers/announcements.py).
            Index(fields=("updated_at",)),
            Index(fields=("deleted_at",)),
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
