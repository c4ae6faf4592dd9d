"""Group rollouts: one version for every district of a state or consortium group, started in waves
under an error budget, and the districts a rollout skipped with why."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import EnvironmentKind, ErrorCode, RolloutStatus
from models.tables.accounts import Account
from models.tables.catalog import District, UpdateGroup


class GroupRollout(Model):
    """The rollout itself, whose work is ordinary update requests pointing at it (`rollout_id`).

    `status` is what staff (or the budget) decided: RUNNING, PAUSED, HALTED or CANCELLED. COMPLETED
    is never stored: it is read from the requests' statuses (models.rollouts.rules). Failures staff
    accepted by resuming a halted rollout are marked on its requests (`UpdateRequest.failure_accepted`):
    the error budget counts the others."""

    id = fields.IntField(primary_key=True)
    update_group: fields.ForeignKeyRelation[UpdateGroup] = fields.ForeignKeyField(
        "models.UpdateGroup", related_name="rollouts", on_delete=fields.CASCADE
    )
    update_group_id: int
    environment = fields.CharEnumField(EnvironmentKind, max_length=20)
    target_version = fields.CharField(max_length=64)
    #: Most of its requests started and unfinished (NOT_STARTED, IN_PROGRESS) at once.
    wave_size = fields.IntField()
    #: Requests that may end UNABLE_TO_COMPLETE before the rollout halts (one more halts it).
    max_failures = fields.IntField()
    status = fields.CharEnumField(RolloutStatus, max_length=20, default=RolloutStatus.RUNNING)
    status_message: str | None = fields.TextField(null=True)
    notes = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    # When it started or its status last changed (staff, the budget): a paused or halted rollout's
    # is the moment it stopped, which tells staff's own scheduling since from its queued work
    # (models.rollouts.staff_runs). A plain comment: Tortoise would take a `#:` one as the field's
    # description, a schema change needing a migration.
    updated_at = fields.DatetimeField()
    created_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="rollouts", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None

    skips: fields.ReverseRelation[RolloutSkip]

    class Meta:
        table = "group_rollout"
        indexes = (Index(fields=("status",)), Index(fields=("update_group_id", "created_at")))


class RolloutSkip(Model):
    """A district of the group that got no request, with the refusal's code and words."""

    id = fields.IntField(primary_key=True)
    rollout: fields.ForeignKeyRelation[GroupRollout] = fields.ForeignKeyField(
        "models.GroupRollout", related_name="skips", on_delete=fields.CASCADE
    )
    rollout_id: int
    district: fields.ForeignKeyRelation[District] = fields.ForeignKeyField(
        "models.District", related_name="rollout_skips", on_delete=fields.CASCADE
    )
    district_id: int
    code = fields.CharEnumField(ErrorCode, max_length=40)
    message = fields.TextField()

    class Meta:
        table = "rollout_skip"
        indexes = (Index(fields=("rollout_id", "district_id")),)
