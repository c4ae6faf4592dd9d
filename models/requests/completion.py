"""The end of a request's run: completed (the environment gets its version or refresh time,
superseded requests complete with it, production brings the sandbox along) or given up; either
way the site comes back online and the environments it held are free for the next request.

No version is ever installed over a newer one: a version update whose target the site already runs
(or has passed) when a worker picks it up completes without running, and completing never lowers
an environment's version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from models.access import SYSTEM, WORKER
from models.clock import utcnow
from models.enums import EnvironmentKind, EventType, UpdateKind, UpdateStatus
from models.errors import DomainError, not_found
from models.events import AfterCommit, ProgressReport, UpdateRequestChanged, deliver
from models.requests import claims
from models.requests.moves import record_move
from models.requests.queries import Site, load_with_site
from models.requests.sandbox import follow_with_sandbox
from models.requests.slots import take_district_turn
from models.running import DEFAULT_POLICY, RunPolicy
from models.tables import Environment, UpdateRequest
from models.validation import MAX_MESSAGE_LENGTH
from models.versions import is_not_newer, nothing_to_install
from models.words import request_phrase

#: What a district reads when a run failed and the worker gave no words of its own.
DEFAULT_FAILURE_MESSAGE = (
    "The work could not be completed. Campus Hosting has been told and will contact you."
)
#: Longest technical detail kept for staff.
MAX_DETAIL_LENGTH = 8000


@dataclass(frozen=True)
class LastCheckpoint:
    """The runbook's last step, finished and not yet checkpointed: the COMPLETED move writes its
    checkpoint and "done" progress (one write instead of two; if the job dies before that move,
    the step runs again, as any step whose checkpoint was not written), and its PROGRESS record is
    published just before the COMPLETED one, so readers see the same records in the same order."""

    steps: list[str]  # every checkpoint, this step's included
    report: ProgressReport


@dataclass(frozen=True)
class Held:
    """What the job completing a request already holds: the request as it began it, its site, and
    the last step it ran (with `checkpoint`, that step's checkpoint still to write)."""

    request: UpdateRequest
    site: Site
    last_step: str | None
    checkpoint: LastCheckpoint | None = None


def _held_by(lease_token: str | None) -> dict[str, Any]:
    return {} if lease_token is None else {"lease_token": lease_token}


def _not_before_start(request: UpdateRequest, now: datetime) -> datetime:
    """The end of a run is recorded no earlier than its start, which a worker whose clock runs
    behind the scheduler's records at the dispatch (`execution.begin`)."""
    return max(now, request.started_at) if request.started_at is not None else now


def _lease_cleared() -> dict[str, Any]:
    return {"lease_token": None, "lease_expires_at": None}


async def complete(
    request_id: int,
    now: datetime | None = None,
    *,
    lease_token: str | None = None,
    policy: RunPolicy = DEFAULT_POLICY,
    held: Held | None = None,
) -> UpdateRequest:
    """Finish a running request: the environment gets its new version or refresh time and comes
    back online; requests it superseded complete with it; a production update brings the sandbox
    along with an automatic update. With `lease_token`, only the job holding it may.

    `held` is the request as the job holding `lease_token` began it (with its site) and the last
    step it ran: no read then. The compare-and-set on status, history sequence and lease is what
    makes that safe: if anything moved the request since, nothing is written."""
    now = now or utcnow()
    after = AfterCommit()
    checkpoint_columns: dict[str, Any] = {}
    async with in_transaction():
        if held is not None:
            request, site, last_step = held.request, held.site, held.last_step
            if held.checkpoint is not None:
                checkpoint_columns = _last_checkpoint(request, held.checkpoint, after)
        else:
            loaded = await load_with_site(request_id, include_deleted=True)
            if loaded is None:
                raise not_found("update request")
            request, site = loaded
            last_step = request.progress_step
        now = _not_before_start(request, now)
        environment = site.environment
        brings_sandbox = (
            request.kind is UpdateKind.VERSION_UPDATE and environment.kind is EnvironmentKind.PRODUCTION
        )
        if brings_sandbox:
            # The sandbox's new request row takes a share lock on the district's row (its foreign
            # key). A cancel or a new request locks that row first, then request rows: take it
            # before this request's row as they do, or each would wait for the other (a deadlock
            # the database breaks by failing one: the cancel's caller or this completion).
            await take_district_turn(request)
        await record_move(
            request,
            UpdateStatus.COMPLETED,
            WORKER,
            after,
            now=now,
            site=site,
            where=_held_by(lease_token),
            completed_at=now,
            progress_percent=100,
            progress_at=now,
            progress_step=last_step or "done",
            **checkpoint_columns,
            **_lease_cleared(),
        )
        # What the site gets is written by the same UPDATE that gives it back.
        site_changes: dict[str, Any] = {}
        if request.kind is UpdateKind.VERSION_UPDATE and request.target_version:
            current = (await Environment.get(id=environment.id)).current_version
            if not current or not is_not_newer(request.target_version, current):
                site_changes = {"current_version": request.target_version, "version_updated_at": now}
        else:
            site_changes = {"last_refreshed_at": now}
        await claims.release(request, environment.kind, **site_changes)
        if request.kind is UpdateKind.VERSION_UPDATE:
            # Only a version update supersedes (models.validation plans supersession for those
            # alone), so a refresh has nothing to complete with it and skips the query.
            await complete_superseded([request.id], request, site, after, now)
        if brings_sandbox:
            await follow_with_sandbox(request, after, now, policy)
    await deliver(after)
    return request


def _last_checkpoint(
    request: UpdateRequest, checkpoint: LastCheckpoint, after: AfterCommit
) -> dict[str, Any]:
    """The columns of the last step's checkpoint for the COMPLETED move, and its PROGRESS record
    queued ahead of the move's own (sequence of the IN_PROGRESS move: the move has not run yet)."""
    report = checkpoint.report
    after.events.append(
        UpdateRequestChanged(
            EventType.PROGRESS, request.id, request.district_id, UpdateStatus.IN_PROGRESS, report.at, report,
            sequence=request.history_seq,
        )
    )  # fmt: skip
    return {"completed_steps": list(checkpoint.steps), "progress_message": report.message}


def already_there(request: UpdateRequest, site: Site) -> bool:
    """A version update whose target is not newer than what its site runs now."""
    return nothing_to_install(request.kind, request.target_version, site.environment.current_version)


async def complete_without_running(
    request: UpdateRequest, site: Site, now: datetime, after: AfterCommit
) -> None:
    """NOT_STARTED -> COMPLETED by the system, saying why; nothing is installed. The requests it
    superseded complete with it; what it held is released. Inside the caller's transaction."""
    running = site.environment.current_version
    message = (
        f"Nothing was installed: the {site.environment.kind.value.lower()} site already runs "
        f"{running}, which is not older than {request.target_version}."
    )
    await record_move(
        request,
        UpdateStatus.COMPLETED,
        SYSTEM,
        after,
        now=now,
        site=site,
        message=message,
        completed_at=now,
        **_lease_cleared(),
    )
    await claims.release(request, site.environment.kind)
    await complete_superseded([request.id], request, site, after, now)


async def lacks_production(request: UpdateRequest, site: Site) -> bool:
    """A database refresh whose district has no production site (any more) to copy from: it was
    asked for while production existed, and the hosting team removed that site since. No read
    when the job's first read joined production (PostgreSQL) and found it."""
    if request.kind is not UpdateKind.DATABASE_REFRESH or site.production is not None:
        return False
    return not await Environment.filter(
        district_id=request.district_id, kind=EnvironmentKind.PRODUCTION
    ).exists()


async def fail_without_production(
    request: UpdateRequest, site: Site, now: datetime, after: AfterCommit, lease_token: str
) -> None:
    """UNABLE_TO_COMPLETE by the worker holding `lease_token`, saying why; nothing (more) runs, and
    what it held is released, its site back online. From NOT_STARTED (a queued refresh) or
    IN_PROGRESS (one resumed after its last checkpoint, production removed while it was stopped).
    Inside the caller's transaction."""
    phrase = request_phrase(request.kind, site.environment.kind, request.target_version)
    resumed = request.status is UpdateStatus.IN_PROGRESS
    message = (
        f"{phrase[0].upper()}{phrase[1:]} could not {'be finished' if resumed else 'run'}: this "
        "district no longer has a production site to copy data from. "
        f"{'The site is back online, and ' if resumed else ''}Campus Hosting has been told and "
        "will contact you."
    )
    checkpoints = ", ".join(request.completed_steps or []) or "none"
    await record_move(
        request,
        UpdateStatus.UNABLE_TO_COMPLETE,
        WORKER,
        after,
        now=_not_before_start(request, now),
        site=site,
        message=message,
        where=_held_by(lease_token),
        internal_detail=(
            "The district's PRODUCTION environment row is gone; the refresh had no source"
            + (f" when its job resumed (checkpoints: {checkpoints})." if resumed else ".")
        ),
        **_lease_cleared(),
    )
    await claims.release(request, site.environment.kind)


async def complete_superseded(
    newer_ids: Iterable[int], root: UpdateRequest, site: Site, after: AfterCommit, now: datetime
) -> None:
    """Complete every request of the site superseded, transitively, by one of `newer_ids` (all
    are version updates of `root`'s site); and every other one there still waiting for a version
    not newer than `root`'s: its own superseder failed, and a newer update requested after that
    supersedes only open requests, so nothing else would ever complete it. One read."""
    message = (
        f"Completed together with {request_phrase(root.kind, site.environment.kind, root.target_version)}."
    )
    # In id order, as a cancel returns the requests it superseded: rows written in one order
    # everywhere, so these moves never wait on another transaction's in a circle.
    waiting = list(
        await UpdateRequest.filter(
            environment_id=root.environment_id, status=UpdateStatus.NEW_VERSION_REQUESTED
        ).order_by("id")
    )
    closure = set(newer_ids)
    grew = True
    while grew:
        found = {r.id for r in waiting if r.superseded_by_id in closure and r.id not in closure}
        closure |= found
        grew = bool(found)
    installed = root.target_version
    for request in waiting:
        brought = (
            request.deleted_at is None
            and bool(installed and request.target_version)
            and is_not_newer(request.target_version or "", installed or "")
        )
        if request.id not in closure and not brought:
            continue
        try:
            await record_move(
                request, UpdateStatus.COMPLETED, SYSTEM, after, message=message, now=now, completed_at=now
            )
        except DomainError:
            # Staff took it back into the queue at the same moment (the read does not wait for
            # their move): it stays theirs, and the completion that brought us here stands.
            continue


async def fail(
    request_id: int,
    reason: str,
    now: datetime | None = None,
    *,
    detail: str | None = None,
    lease_token: str | None = None,
) -> UpdateRequest:
    """A runbook gave up: UNABLE_TO_COMPLETE; the site comes back online.

    `reason` is what the district reads (a person's words, no command output); `detail` is the
    technical text (already redacted by the caller) that only hosting staff read."""
    now = now or utcnow()
    reason = (reason or DEFAULT_FAILURE_MESSAGE)[:MAX_MESSAGE_LENGTH]
    after = AfterCommit()
    async with in_transaction():
        loaded = await load_with_site(request_id, include_deleted=True)
        if loaded is None:
            raise not_found("update request")
        request, site = loaded
        now = _not_before_start(request, now)
        await record_move(
            request,
            UpdateStatus.UNABLE_TO_COMPLETE,
            WORKER,
            after,
            message=reason,
            now=now,
            site=site,
            where=_held_by(lease_token),
            internal_detail=detail[:MAX_DETAIL_LENGTH] if detail else None,
            **_lease_cleared(),
        )
        await claims.release(request, site.environment.kind)
    await deliver(after)
    return request
