"""The domain enums exposed as GraphQL enums: one definition, names exactly as the contract has them.

`strawberry.enum` registers the domain class itself, so resolvers pass domain values straight through.
"""

from __future__ import annotations

import strawberry

from models.enums import (
    EnvironmentKind,
    ErrorCode,
    EventType,
    GroupKind,
    HostingModel,
    NotifyPreference,
    Role,
    RolloutStatus,
    UpdateKind,
    UpdateStatus,
)

for _enum in (
    HostingModel,
    GroupKind,
    EnvironmentKind,
    UpdateKind,
    UpdateStatus,
    Role,
    ErrorCode,
    EventType,
    NotifyPreference,
    RolloutStatus,
):
    strawberry.enum(_enum)

__all__ = [
    "EnvironmentKind",
    "ErrorCode",
    "EventType",
    "GroupKind",
    "HostingModel",
    "NotifyPreference",
    "Role",
    "RolloutStatus",
    "UpdateKind",
    "UpdateStatus",
]
