"""When work may happen: maintenance windows of each hosting model."""

from __future__ import annotations

import sqlite3
from datetime import time

from tortoise import fields
from tortoise.models import Model

from models.enums import HostingModel

# Tortoise registers SQLite adapters for date and datetime but not time, so without this a
# MaintenanceWindow could not be written through the ORM on SQLite (the embedded default).
sqlite3.register_adapter(time, lambda value: value.isoformat())


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
