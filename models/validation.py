"""Validation of a new update request, as a pure function over what the database holds."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from models.enums import (
    OPEN_STATUSES,
    SUPERSEDABLE_STATUSES,
    EnvironmentKind,
    ErrorCode,
    UpdateKind,
    UpdateStatus,
)
from models.errors import DomainError
from models.versions import parse_version

#: Longest free text a requester may attach; more is refused, not truncated.
MAX_NOTES_LENGTH = 4000
MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_MESSAGE_LENGTH = 4000

VERSION_UPDATE_TARGETS = frozenset(
    {EnvironmentKind.PRODUCTION, EnvironmentKind.STAGING, EnvironmentKind.PREVIEW}
)
REFRESH_TARGETS = frozenset({EnvironmentKind.SANDBOX, EnvironmentKind.STAGING})


@dataclass(frozen=True)
class OpenRequest:
    """An open request on the same environment, as validation needs to see it."""

    id: int
    kind: UpdateKind
    status: UpdateStatus
    target_version: str | None


@dataclass(frozen=True)
class Asked:
    """What a request asks for: what an idempotency key is bound to."""

    district_id: int
    kind: UpdateKind
    environment: EnvironmentKind
    target_version: str | None


def check_replay(earlier: Asked, now_asked: Asked) -> None:
    """An idempotency key replays only the very request it made; refuse it for anything else."""
    if earlier != now_asked:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotencyKey was already used for a different request. Send a new key for a new request.",
            "idempotencyKey",
        )


@dataclass(frozen=True)
class RequestPlan:
    """What creating the request entails: older requests it supersedes."""

    supersede_ids: tuple[int, ...] = ()


def check_text(value: str | None, field: str, limit: int) -> str | None:
    """The text as kept (trimmed; None when nothing is left), refused when that is over `limit`."""
    if value is None:
        return None
    kept = value.strip()
    if len(kept) > limit:
        raise DomainError(ErrorCode.VALIDATION, f"{field} is longer than {limit} characters.", field)
    return kept or None


def check_preferred_start(preferred_start: datetime | None, now: datetime) -> None:
    if preferred_start is None:
        return
    if preferred_start.tzinfo is None:
        raise DomainError(ErrorCode.VALIDATION, "preferredStart must carry a UTC offset.", "preferredStart")
    if preferred_start < now:
        raise DomainError(ErrorCode.VALIDATION, "preferredStart is in the past.", "preferredStart")


def plan_new_request(
    *,
    kind: UpdateKind,
    environment: EnvironmentKind,
    available_environments: Collection[EnvironmentKind],
    group_managed: bool,
    current_version: str | None,
    target_version: str | None,
    catalog: Collection[str],
    open_requests: Sequence[OpenRequest],
    group_rollout: bool = False,
) -> RequestPlan:
    """Refuse a request that breaks a rule (raising DomainError), else say what it supersedes."""
    if kind is UpdateKind.VERSION_UPDATE:
        return _plan_version_update(
            environment,
            available_environments,
            group_managed and not group_rollout,
            current_version,
            target_version,
            catalog,
            open_requests,
        )
    return _plan_refresh(environment, available_environments, target_version, open_requests)


def _plan_version_update(
    environment: EnvironmentKind,
    available_environments: Collection[EnvironmentKind],
    group_managed: bool,
    current_version: str | None,
    target_version: str | None,
    catalog: Collection[str],
    open_requests: Sequence[OpenRequest],
) -> RequestPlan:
    if environment is EnvironmentKind.SANDBOX:
        raise DomainError(
            ErrorCode.VALIDATION,
            "The sandbox follows production: it is updated automatically when production is.",
            "environment",
        )
    if group_managed:
        raise DomainError(
            ErrorCode.GROUP_MANAGED,
            "This district is updated with its state or consortium group; "
            "version updates for it alone cannot be requested. Database refreshes are still possible.",
            "districtId",
        )
    if environment not in available_environments:
        raise _unavailable(environment)
    if environment not in VERSION_UPDATE_TARGETS:  # pragma: no cover - SANDBOX handled above
        raise DomainError(ErrorCode.VALIDATION, "This environment cannot be version-updated.", "environment")
    if not target_version:
        raise DomainError(ErrorCode.VALIDATION, "A version update needs a targetVersion.", "targetVersion")
    wanted = parse_version(target_version)
    if target_version not in catalog:
        raise DomainError(
            ErrorCode.UNKNOWN_VERSION,
            f"{target_version} is not in the release catalog; pick one of the published releases.",
            "targetVersion",
        )
    if current_version and parse_version(current_version, "currentVersion") >= wanted:
        raise DomainError(
            ErrorCode.VERSION_NOT_NEWER,
            f"The {environment.value.lower()} site already runs {current_version}; "
            f"{target_version} is not newer.",
            "targetVersion",
        )
    supersede: list[int] = []
    for other in open_requests:
        if other.kind is not UpdateKind.VERSION_UPDATE or other.status not in OPEN_STATUSES:
            continue
        if other.target_version and parse_version(other.target_version) >= wanted:
            raise DomainError(
                ErrorCode.DUPLICATE_REQUEST,
                f"An open request already asks for {other.target_version} on this site.",
                "targetVersion",
            )
        if other.status in SUPERSEDABLE_STATUSES:
            supersede.append(other.id)
    return RequestPlan(tuple(supersede))


def _plan_refresh(
    environment: EnvironmentKind,
    available_environments: Collection[EnvironmentKind],
    target_version: str | None,
    open_requests: Sequence[OpenRequest],
) -> RequestPlan:
    if target_version:
        raise DomainError(
            ErrorCode.VALIDATION,
            "A database refresh copies data; it takes no targetVersion.",
            "targetVersion",
        )
    if environment not in REFRESH_TARGETS:
        raise DomainError(
            ErrorCode.VALIDATION,
            "Database refreshes copy production's data into the sandbox or staging site only.",
            "environment",
        )
    if environment not in available_environments:
        raise _unavailable(environment)
    if EnvironmentKind.PRODUCTION not in available_environments:
        # Refused now rather than when a worker finds nothing to copy.
        raise DomainError(
            ErrorCode.ENVIRONMENT_UNAVAILABLE,
            f"This district has no production site to copy data from, so the "
            f"{environment.value.lower()} site cannot be refreshed.",
            "environment",
        )
    for other in open_requests:
        if other.kind is UpdateKind.DATABASE_REFRESH and other.status in OPEN_STATUSES:
            raise DomainError(
                ErrorCode.DUPLICATE_REQUEST,
                "An open request already asks for a refresh of this site.",
                "environment",
            )
    return RequestPlan()


def _unavailable(environment: EnvironmentKind) -> DomainError:
    return DomainError(
        ErrorCode.ENVIRONMENT_UNAVAILABLE,
        f"This district has no {environment.value.lower()} environment.",
        "environment",
    )
