"""Enumerations of the domain, spelled exactly as the public contract spells them."""

from __future__ import annotations

from enum import StrEnum


class HostingModel(StrEnum):
    CAMPUS_CLOUD = "CAMPUS_CLOUD"
    ASP_HOSTED = "ASP_HOSTED"


class GroupKind(StrEnum):
    STATE = "STATE"
    CONSORTIUM = "CONSORTIUM"


class EnvironmentKind(StrEnum):
    PRODUCTION = "PRODUCTION"
    SANDBOX = "SANDBOX"
    STAGING = "STAGING"
    PREVIEW = "PREVIEW"


class UpdateKind(StrEnum):
    VERSION_UPDATE = "VERSION_UPDATE"
    DATABASE_REFRESH = "DATABASE_REFRESH"


class UpdateStatus(StrEnum):
    TO_BE_SCHEDULED = "TO_BE_SCHEDULED"
    SCHEDULED = "SCHEDULED"
    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    PENDING_INPUT = "PENDING_INPUT"
    DEFERRED = "DEFERRED"
    NEW_VERSION_REQUESTED = "NEW_VERSION_REQUESTED"
    UNABLE_TO_COMPLETE = "UNABLE_TO_COMPLETE"
    CANCELLED = "CANCELLED"


class Role(StrEnum):
    TECHNICAL_CONTACT = "TECHNICAL_CONTACT"
    STATE_CONTACT = "STATE_CONTACT"
    CONSORTIUM_CONTACT = "CONSORTIUM_CONTACT"
    PARTNER = "PARTNER"
    ESA = "ESA"
    VIEWER = "VIEWER"
    HOSTING_STAFF = "HOSTING_STAFF"


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    VALIDATION = "VALIDATION"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    GROUP_MANAGED = "GROUP_MANAGED"
    ENVIRONMENT_UNAVAILABLE = "ENVIRONMENT_UNAVAILABLE"
    OUTSIDE_MAINTENANCE_WINDOW = "OUTSIDE_MAINTENANCE_WINDOW"
    VERSION_NOT_NEWER = "VERSION_NOT_NEWER"
    UNKNOWN_VERSION = "UNKNOWN_VERSION"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    WINDOW_TOO_SHORT = "WINDOW_TOO_SHORT"
    BLACKOUT = "BLACKOUT"
    ENVIRONMENT_BUSY = "ENVIRONMENT_BUSY"


class RolloutStatus(StrEnum):
    """A group rollout's rolled-up status (COMPLETED is never stored: see models.rollouts.counts)."""

    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    HALTED = "HALTED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class NotifyPreference(StrEnum):
    """Which district notices an account gets by e-mail."""

    ALL_MY_DISTRICTS = "ALL_MY_DISTRICTS"
    MY_REQUESTS = "MY_REQUESTS"
    NONE = "NONE"


class EventType(StrEnum):
    SNAPSHOT = "SNAPSHOT"
    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    PROGRESS = "PROGRESS"
    REMOVED = "REMOVED"


class NotificationState(StrEnum):
    PENDING = "PENDING"  # waiting for the mail actor
    SENDING = "SENDING"  # an attempt is talking to the SMTP server now (claimed_at says since when)
    SENT = "SENT"  # accepted by the SMTP server
    LOGGED = "LOGGED"  # no SMTP_URL configured: kept in the outbox and logged
    FAILED = "FAILED"  # retries exhausted


class NotificationKind(StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING_INPUT = "PENDING_INPUT"
    DEFERRED = "DEFERRED"
    UNABLE_TO_COMPLETE = "UNABLE_TO_COMPLETE"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"  # carries the calendar cancellation of a withdrawn invitation
    SUPERSEDED = "SUPERSEDED"  # replaced by a newer request: its invitation is cancelled
    WEBHOOK_DEACTIVATED = "WEBHOOK_DEACTIVATED"  # to a webhook's owner: its endpoint failed 24 h
    STAFF_ALERT = "STAFF_ALERT"  # to the hosting team (UPDATEDESK_STAFF_ALERT_EMAIL), not a district


class WebhookDeliveryState(StrEnum):
    """One event's delivery to one endpoint."""

    PENDING = "PENDING"  # waiting for its (next) attempt, or behind an earlier delivery
    DELIVERED = "DELIVERED"  # the endpoint answered 2xx
    FAILED = "FAILED"  # given up: a final answer (4xx), 24 h of retries, or the endpoint deactivated
    SKIPPED = "SKIPPED"  # not sent: the owner no longer sees the event's district


#: Roles that act for their linked districts (request, cancel, delete).
REQUESTER_ROLES = frozenset(
    {
        Role.TECHNICAL_CONTACT,
        Role.STATE_CONTACT,
        Role.CONSORTIUM_CONTACT,
        Role.PARTNER,
        Role.ESA,
    }
)

#: The contacts of an update group (DESIGN §1 "Group rollouts"): they see the rollouts of the groups
#: their districts belong to and may cancel those rollouts' requests for their districts.
GROUP_CONTACT_ROLES = frozenset({Role.STATE_CONTACT, Role.CONSORTIUM_CONTACT})

#: Statuses in which a version update is open but has not begun; a newer request supersedes it.
SUPERSEDABLE_STATUSES = frozenset(
    {
        UpdateStatus.TO_BE_SCHEDULED,
        UpdateStatus.SCHEDULED,
        UpdateStatus.PENDING_INPUT,
        UpdateStatus.DEFERRED,
    }
)

#: Statuses of a request still waiting for or undergoing work.
OPEN_STATUSES = SUPERSEDABLE_STATUSES | {UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS}
