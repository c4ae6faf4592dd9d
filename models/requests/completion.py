"""The end of a request's run: completed (the environment gets its version or refresh time,
superseded requests complete with it, production brings the sandbox along) or given up; either
way the site comes back online."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tortoise.transactions import in_transaction

from models.access import SYSTEM, WORKER
from models.clock import utcnow
from models.enums import OPEN_STATUSES, EnvironmentKind, UpdateKind, UpdateStatus
from models.errors import not_found
from models.events import AfterCommit, deliver
from models.requests.moves import record_move
from models.requests.queries import load_with_site
from models.requests.requesting import insert_request
from models.tables import Environment, UpdateRequest
from models.validation import MAX_MESSAGE_LENGTH
from models.versions import parse_version


async def complete(request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Finish a running request: the environment gets its new version or refresh time and comes
    back online; requests it superseded complete with it; a production update brings the sandbox
    along with an automatic update."""
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        loaded = await load_with_site(request_id, include_deleted=True)
        if loaded is None:
            raise not_found("update request")
        request, site = loaded
        environment = site.environment
        await record_move(
            request,
            UpdateStatus.COMPLETED,
            WORKER,
            after,
            now=now,
            site=site,
            completed_at=now,
            progress_percent=100,
            progress_at=now,
            progress_step=request.progress_step or "done",
        )
        # This UPDATE locks the environment row (after the request row, as everywhere), so
        # back_online needs no separate lock.
        if request.kind is UpdateKind.VERSION_UPDATE and request.target_version:
            await Environment.filter(id=environment.id).update(
                current_version=request.target_version, version_updated_at=now
            )
        else:
            await Environment.filter(id=environment.id).update(last_refreshed_at=now)
        await back_online(environment.id, request.id, locked=True)
        if request.kind is UpdateKind.VERSION_UPDATE:
            # Only a version update supersedes (models.validation plans supersession for those
            # alone), so a refresh has nothing to complete with it and skips the query.
            await _complete_superseded([request.id], request.id, after, now)
        if request.kind is UpdateKind.VERSION_UPDATE and environment.kind is EnvironmentKind.PRODUCTION:
            await _follow_with_sandbox(request, after, now)
    await deliver(after)
    return request


async def _complete_superseded(
    newer_ids: Iterable[int], root_id: int, after: AfterCommit, now: datetime
) -> None:
    """Complete, transitively, every request superseded by one of `newer_ids`."""
    frontier = list(newer_ids)
    while frontier:
        older = await UpdateRequest.filter(
            superseded_by_id__in=frontier, status=UpdateStatus.NEW_VERSION_REQUESTED
        )
        frontier = []
        for request in older:
            await record_move(
                request,
                UpdateStatus.COMPLETED,
                SYSTEM,
                after,
                message=f"Completed under the newer request {root_id}.",
                now=now,
                completed_at=now,
            )
            frontier.append(request.id)


async def _follow_with_sandbox(production_request: UpdateRequest, after: AfterCommit, now: datetime) -> None:
    """Create and schedule (for now) the automatic sandbox update to production's new version."""
    sandbox = await Environment.get_or_none(
        district_id=production_request.district_id, kind=EnvironmentKind.SANDBOX
    )
    target = production_request.target_version
    if sandbox is None or target is None:
        return
    if parse_version(sandbox.current_version, "currentVersion") >= parse_version(target):
        return
    open_sandbox_updates = await UpdateRequest.filter(
        environment_id=sandbox.id,
        kind=UpdateKind.VERSION_UPDATE,
        status__in=list(OPEN_STATUSES),
        deleted_at__isnull=True,
    )
    if any(
        r.target_version and parse_version(r.target_version) >= parse_version(target)
        for r in open_sandbox_updates
    ):
        return
    note = f"The sandbox follows production (request {production_request.id})."
    request = await insert_request(
        SYSTEM,
        after,
        now,
        kind=UpdateKind.VERSION_UPDATE,
        district_id=production_request.district_id,
        environment_id=sandbox.id,
        target_version=target,
        automatic=True,
        notes=note,
    )
    await record_move(
        request, UpdateStatus.SCHEDULED, SYSTEM, after, message=note, now=now, scheduled_start=now
    )


async def fail(request_id: int, reason: str, now: datetime | None = None) -> UpdateRequest:
    """A runbook gave up: UNABLE_TO_COMPLETE with a reason a person can act on; site back online."""
    now = now or utcnow()
    reason = (reason or "The update could not be completed.")[:MAX_MESSAGE_LENGTH]
    after = AfterCommit()
    async with in_transaction():
        request = await UpdateRequest.get_or_none(id=request_id)
        if request is None:
            raise not_found("update request")
        await record_move(request, UpdateStatus.UNABLE_TO_COMPLETE, WORKER, after, message=reason, now=now)
        await back_online(request.environment_id, request.id)
    await deliver(after)
    return request


async def back_online(environment_id: int, finished_id: int, *, locked: bool = False) -> None:
    """The environment comes back online when `finished_id` stops running, unless another request
    on it is still IN_PROGRESS. Locking the environment row first serializes two requests
    finishing at once, so neither leaves it offline on the strength of the other's old status.
    `locked`: this transaction already wrote (so locked) the environment row."""
    if not locked:
        await Environment.filter(id=environment_id).select_for_update().first()
    busy = (
        await UpdateRequest.filter(environment_id=environment_id, status=UpdateStatus.IN_PROGRESS)
        .exclude(id=finished_id)
        .exists()
    )
    await Environment.filter(id=environment_id).update(online=not busy)
