"""Accounts, their district links and their API tokens."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import NotifyPreference, Role
from models.tables.catalog import District


class Account(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=30)
    active = fields.BooleanField(default=True)
    hide_completed = fields.BooleanField(default=False)  # the saved "Hide Complete" choice
    # Which notices this account gets; None: the default of its role (models.preferences).
    notify = fields.CharEnumField(NotifyPreference, max_length=20, null=True)
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
