"""The pre-flight for hosting staff: every conflict of a proposed start (`scheduleCheck`) and the
scheduled requests now in conflict (`scheduleConflicts`). Anyone else is FORBIDDEN (a GraphQL
error: these are queries). Returns the findings with the rows they name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import strawberry

from models.access import require_staff
from models.enums import ErrorCode
from models.errors import DomainError
from models.requests import preflight
from models.requests.preflight import Finding
from models.tables import Blackout, UpdateRequest
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError
from resolvers.ids import require_id


@dataclass(frozen=True)
class ConflictRow:
    code: ErrorCode
    message: str
    update_request: UpdateRequest | None
    conflicting_request: UpdateRequest | None
    blackout: Blackout | None


@dataclass(frozen=True)
class CheckRow:
    conflicts: list[ConflictRow]
    next_possible_start: datetime | None


async def _with_rows(findings: list[Finding]) -> list[ConflictRow]:
    """The findings with the requests and blackouts they name (two queries)."""
    request_ids = {f.update_request_id for f in findings} | {
        f.conflicting_request_id for f in findings if f.conflicting_request_id is not None
    }
    blackout_ids = {f.blackout_id for f in findings if f.blackout_id is not None}
    requests = (
        {r.id: r for r in await UpdateRequest.filter(id__in=sorted(request_ids))} if request_ids else {}
    )
    blackouts = {b.id: b for b in await Blackout.filter(id__in=sorted(blackout_ids))} if blackout_ids else {}
    return [
        ConflictRow(
            f.code,
            f.message,
            requests.get(f.update_request_id),
            requests.get(f.conflicting_request_id) if f.conflicting_request_id is not None else None,
            blackouts.get(f.blackout_id) if f.blackout_id is not None else None,
        )
        for f in findings
    ]


async def schedule_check(context: GraphQLContext, id: strawberry.ID, start: datetime) -> CheckRow:
    try:
        require_staff(context.actor)  # refuse outsiders before judging their input
        verdict = await preflight.schedule_check(
            context.actor,
            require_id(id, "UpdateRequest", "update request"),
            start,
            policy=context.settings.run_policy,
        )
    except DomainError as error:
        raise PublicError.from_domain(error) from error
    return CheckRow(await _with_rows(verdict.findings), verdict.next_possible_start)


async def schedule_conflicts(context: GraphQLContext) -> list[ConflictRow]:
    try:
        findings = await preflight.schedule_conflicts(context.actor, policy=context.settings.run_policy)
    except DomainError as error:
        raise PublicError.from_domain(error) from error
    return await _with_rows(findings)
