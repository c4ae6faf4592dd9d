"""Districts, their update groups and hosted sites, and the release catalog."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import EnvironmentKind, GroupKind, HostingModel

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
    # (`accounts`, the reverse of Account.districts, exists too; unannotated so that this module
    # needs nothing from accounts.py.)

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
    # One job per environment: the request that holds this site while it is NOT_STARTED or
    # IN_PROGRESS (a refresh also holds its district's production). Taken and released with
    # conditional UPDATEs in models/requests/claims.py; a plain id, so the two tables need no
    # foreign keys pointing at each other.
    running_request_id = fields.IntField(null=True)
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
