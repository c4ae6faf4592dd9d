"""When work may happen: maintenance windows of each hosting model, and blackouts when none may."""

from __future__ import annotations

import sqlite3
from datetime import time

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import HostingModel
from models.tables.accounts import Account
from models.tables.catalog import District, UpdateGroup

# Tortoise registers SQLite adapters for date and datetime but not time, so without this a
# MaintenanceWindow could not be written through the ORM on SQLite (the embedded default).
sqlite3.register_adapter(time, lambda value: value.isoformat())


class MaintenanceWindow(Model):
    """A weekly window in local time, for every district of one hosting model."""

    id = fields.IntField(primary_key=True)
    hosting_model = fields.CharEnumField(HostingModel, max_length=20)
    weekday = fields.SmallIntField()  # ISO: 1 = Monday ... 7 = Sunday
    # Wall-clock times in `time_zone` (written with tzinfo=UTC only because the ORM's TIMETZ wants
    # one; read back without it). An end at or before the start runs past midnight.
    start_time = fields.TimeField()
    end_time = fields.TimeField()
    time_zone = fields.CharField(max_length=64)

    class Meta:
        table = "maintenance_window"


class Blackout(Model):
    """A period in which no work starts: for everything (no scope), or one hosting model, update
    group or district (at most one of the three is set)."""

    id = fields.IntField(primary_key=True)
    start = fields.DatetimeField()
    end = fields.DatetimeField()
    reason = fields.CharField(max_length=500)
    hosting_model = fields.CharEnumField(HostingModel, max_length=20, null=True)
    update_group: fields.ForeignKeyNullableRelation[UpdateGroup] = fields.ForeignKeyField(
        "models.UpdateGroup", related_name="blackouts", null=True, on_delete=fields.CASCADE
    )
    update_group_id: int | None
    district: fields.ForeignKeyNullableRelation[District] = fields.ForeignKeyField(
        "models.District", related_name="blackouts", null=True, on_delete=fields.CASCADE
    )
    district_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="blackouts", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None

    class Meta:
        table = "blackout"
        indexes = (Index(fields=("end", "start")),)
