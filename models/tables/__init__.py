"""Tortoise models: the tables of the service, one module per area. Rules live outside this
package, in the plain modules of `models/`.

Everything is re-exported here because Tortoise discovers the models of the `models` app by
importing this one module (`infra.db.MODEL_MODULES`).
"""

from models.tables.accounts import Account, ApiToken
from models.tables.calendars import CalendarFeed, ServiceKey
from models.tables.catalog import District, Environment, Release, UpdateGroup
from models.tables.outbox import Notification
from models.tables.requests import StatusChange, UpdateRequest
from models.tables.rollouts import GroupRollout, RolloutSkip
from models.tables.schedule import Blackout, MaintenanceWindow
from models.tables.webhooks import Webhook, WebhookAttempt, WebhookDelivery, WebhookStreamPosition

__all__ = [
    "Account",
    "ApiToken",
    "Blackout",
    "CalendarFeed",
    "District",
    "Environment",
    "GroupRollout",
    "MaintenanceWindow",
    "Notification",
    "Release",
    "RolloutSkip",
    "ServiceKey",
    "StatusChange",
    "UpdateGroup",
    "UpdateRequest",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookStreamPosition",
]
