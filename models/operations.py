"""Domain operations: the one place where update requests change. The API, the scheduler and the
workers all call these functions.

Every status move is a compare-and-set on the current status plus a history row, in one
transaction: of two actors racing for one request exactly one wins, the other gets
INVALID_TRANSITION. Events and mails leave only after the commit (see models.events).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.access import DISPATCHER, SYSTEM, WORKER, Actor, require_staff, require_writer
from models.enums import (
    OPEN_STATUSES,
    EnvironmentKind,
    ErrorCode,
    EventType,
    HostingModel,
    NotificationKind,
    Role,
    UpdateKind,
    UpdateStatus,
)
from models.errors import DomainError, invalid_transition, not_found
from models.events import AfterCommit, ProgressReport, UpdateRequestChanged, deliver
from models.lifecycle import Mover, check_move
from models.notices import RequestFacts, compose_notice
from models.tables import (
    Account,
    District,
    Environment,
    MaintenanceWindow,
    Notification,
    Release,
    StatusChange,
    UpdateRequest,
    utcnow,
)
from models.validation import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_NOTES_LENGTH,
    OpenRequest,
    check_preferred_start,
    check_text,
    plan_new_request,
)
from models.versions import parse_version
from models.windows import WeeklyWindow, describe_windows, is_inside_windows, next_slots

_M = TypeVar("_M")

#: Staff may schedule "now"; a start further in the past than this is a mistake.
SCHEDULE_PAST_TOLERANCE = timedelta(minutes=5)

#: Moves into these statuses send the district an e-mail.
NOTIFYING_STATUSES: dict[UpdateStatus, NotificationKind] = {
    UpdateStatus.SCHEDULED: NotificationKind.SCHEDULED,
    UpdateStatus.PENDING_INPUT: NotificationKind.PENDING_INPUT,
    UpdateStatus.DEFERRED: NotificationKind.DEFERRED,
    UpdateStatus.UNABLE_TO_COMPLETE: NotificationKind.UNABLE_TO_COMPLETE,
    UpdateStatus.COMPLETED: NotificationKind.COMPLETED,
}

#: Moves that take a request out of the district's lists (the subscription says REMOVED).
REMOVING_STATUSES = frozenset({UpdateStatus.CANCELLED})


# --------------------------------------------------------------------------- loading


def visible_requests(actor: Actor) -> Any:
    """Requests `actor` may see, not deleted. A QuerySet; callers add filters and ordering."""
    query = UpdateRequest.filter(deleted_at__isnull=True)
    if actor.district_ids is not None:
        query = query.filter(district_id__in=list(actor.district_ids))
    return query


async def get_visible_request(actor: Actor, request_id: int, *, for_update: bool = False) -> UpdateRequest:
    """The request, if `actor` may see it; otherwise NOT_FOUND, exactly as for a missing id."""
    query = visible_requests(actor).filter(id=request_id)
    if for_update:
        query = query.select_for_update()
    request = await query.first()
    if request is None:
        raise not_found("update request")
    return request


async def maintenance_windows_for(hosting_model: HostingModel) -> list[WeeklyWindow]:
    rows = await MaintenanceWindow.filter(hosting_model=hosting_model).order_by("weekday", "start_time")
    return [
        WeeklyWindow(
            row.weekday, row.start_time.replace(tzinfo=None), row.end_time.replace(tzinfo=None), row.time_zone
        )
        for row in rows
    ]


async def upcoming_slots(district: District, count: int, now: datetime | None = None) -> list[Any]:
    """The next maintenance slots of a district; empty when its hosting model has no windows."""
    windows = await maintenance_windows_for(district.hosting_model)
    return next_slots(now or utcnow(), windows, count)


# --------------------------------------------------------------------------- moving


async def _record_move(
    request: UpdateRequest,
    target: UpdateStatus,
    actor: Actor,
    after: AfterCommit,
    *,
    message: str | None = None,
    override_recorded: bool = False,
    now: datetime,
    event_type: EventType | None = None,
    **changes: Any,
) -> UpdateRequest:
    """Compare-and-set `request` from its loaded status to `target` and write the history row.

    Must run inside a transaction. Raises INVALID_TRANSITION when someone else moved it first.
    """
    source = request.status
    check_move(source, target, actor.mover, message)
    updated = await UpdateRequest.filter(id=request.id, status=source, deleted_at__isnull=True).update(
        status=target, status_message=message, updated_at=now, **changes
    )
    if updated != 1:
        current = await UpdateRequest.filter(id=request.id).values_list("status", flat=True)
        raise invalid_transition(str(current[0]) if current else source.value, target.value)
    await StatusChange.create(
        update_request_id=request.id,
        from_status=source,
        to_status=target,
        at=now,
        by_id=actor.account_id,
        actor=actor.mover.value,
        message=message,
        window_override=override_recorded,
    )
    request.status = target
    request.status_message = message
    for name, value in changes.items():
        setattr(request, name, value)
    kind = event_type or (EventType.REMOVED if target in REMOVING_STATUSES else EventType.STATUS_CHANGED)
    after.events.append(UpdateRequestChanged(kind, request.id, request.district_id, target, now))
    if target in NOTIFYING_STATUSES:
        after.notification_ids.extend(await _queue_notices(request, NOTIFYING_STATUSES[target], message))
    return request


def _fetched(request: UpdateRequest, name: str, model: type[_M]) -> _M | None:
    """The related row `name` if it was loaded with the request (select_related), else None."""
    value = getattr(request, f"_{name}", None)
    return value if isinstance(value, model) else None


async def _queue_notices(request: UpdateRequest, kind: NotificationKind, message: str | None) -> list[int]:
    """Write outbox rows for the requester and the district's technical contacts."""
    recipients: set[str] = set(
        await Account.filter(
            districts__id=request.district_id, role=Role.TECHNICAL_CONTACT, active=True
        ).values_list("email", flat=True)  # type: ignore[arg-type]
    )
    if request.requested_by_id is not None:
        requester = await Account.get_or_none(id=request.requested_by_id, active=True)
        if requester is not None:
            recipients.add(requester.email)
    if not recipients:
        return []
    district = _fetched(request, "district", District) or await District.get(id=request.district_id)
    environment = _fetched(request, "environment", Environment) or await Environment.get(
        id=request.environment_id
    )
    sequence = await StatusChange.filter(
        update_request_id=request.id, to_status=UpdateStatus.SCHEDULED
    ).count()
    facts = RequestFacts(
        id=request.id,
        kind=request.kind,
        district_name=district.name,
        environment_kind=environment.kind.value,
        target_version=request.target_version,
        scheduled_start=request.scheduled_start,
        time_zone=district.time_zone,
        message=message,
        sequence=max(sequence - 1, 0),
    )
    notice = compose_notice(kind, facts)
    ids = []
    for recipient in sorted(recipients):
        row = await Notification.create(
            update_request_id=request.id,
            kind=kind,
            recipient=recipient,
            subject=notice.subject,
            body=notice.body,
            calendar=notice.calendar,
        )
        ids.append(row.id)
    return ids


# --------------------------------------------------------------------------- requesting


async def request_update(
    actor: Actor,
    *,
    district_id: int,
    kind: UpdateKind,
    environment: EnvironmentKind,
    target_version: str | None = None,
    preferred_start: datetime | None = None,
    notes: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> UpdateRequest:
    """Create a request (TO_BE_SCHEDULED), superseding older open version updates it outdates."""
    require_writer(actor)
    now = now or utcnow()
    if not actor.can_request_for(district_id):
        raise not_found("district", "districtId")
    notes = check_text(notes, "notes", MAX_NOTES_LENGTH)
    idempotency_key = check_text(idempotency_key, "idempotencyKey", MAX_IDEMPOTENCY_KEY_LENGTH)
    if target_version is not None:
        target_version = target_version.strip() or None
    check_preferred_start(preferred_start, now)

    if idempotency_key and actor.account_id is not None:
        earlier = await _by_idempotency_key(actor.account_id, idempotency_key)
        if earlier is not None:
            return earlier

    after = AfterCommit()
    try:
        async with in_transaction():
            request = await _create_request(
                actor,
                district_id=district_id,
                kind=kind,
                environment_kind=environment,
                target_version=target_version,
                preferred_start=preferred_start,
                notes=notes,
                idempotency_key=idempotency_key,
                now=now,
                after=after,
            )
    except IntegrityError:
        # Two submissions with one idempotency key raced; the other one committed first.
        if idempotency_key and actor.account_id is not None:
            earlier = await _by_idempotency_key(actor.account_id, idempotency_key)
            if earlier is not None:
                return earlier
        raise
    await deliver(after)
    return request


async def _by_idempotency_key(account_id: int, key: str) -> UpdateRequest | None:
    return await UpdateRequest.get_or_none(requested_by_id=account_id, idempotency_key=key)


async def _create_request(
    actor: Actor,
    *,
    district_id: int,
    kind: UpdateKind,
    environment_kind: EnvironmentKind,
    target_version: str | None,
    preferred_start: datetime | None,
    notes: str | None,
    idempotency_key: str | None,
    now: datetime,
    after: AfterCommit,
    automatic: bool = False,
    group_rollout: bool = False,
) -> UpdateRequest:
    # Lock the district row: concurrent requests for one district are checked one at a time,
    # so two of them cannot both pass the duplicate check (PostgreSQL; SQLite serializes writes).
    district = await District.filter(id=district_id).select_for_update().first()
    if district is None:
        raise not_found("district", "districtId")
    if idempotency_key and actor.account_id is not None:
        # A submission with the same key may have committed while this one waited for the lock:
        # answer with it, rather than refusing this one as its duplicate.
        earlier = await _by_idempotency_key(actor.account_id, idempotency_key)
        if earlier is not None:
            return earlier
    environments = {env.kind: env for env in await Environment.filter(district_id=district_id)}
    target_environment = environments.get(environment_kind)
    open_rows = []
    if target_environment is not None:
        open_rows = await UpdateRequest.filter(
            environment_id=target_environment.id, status__in=list(OPEN_STATUSES), deleted_at__isnull=True
        ).order_by("id")
    catalog: set[str] = set()
    if kind is UpdateKind.VERSION_UPDATE and target_version:
        catalog = {
            str(v) for v in await Release.filter(version=target_version).values_list("version", flat=True)
        }
    plan = plan_new_request(
        kind=kind,
        environment=environment_kind,
        available_environments=environments.keys(),
        group_managed=district.update_group_id is not None,
        current_version=target_environment.current_version if target_environment else None,
        target_version=target_version,
        catalog=catalog,
        open_requests=[OpenRequest(r.id, r.kind, r.status, r.target_version) for r in open_rows],
        group_rollout=group_rollout or automatic,
    )
    assert target_environment is not None  # plan_new_request refuses a missing environment
    request = await _insert_request(
        actor,
        after,
        now,
        kind=kind,
        district_id=district_id,
        environment_id=target_environment.id,
        target_version=target_version,
        preferred_start=preferred_start,
        automatic=automatic,
        notes=notes,
        idempotency_key=idempotency_key,
    )
    superseded = {row.id: row for row in open_rows}
    for older_id in plan.supersede_ids:
        await _record_move(
            superseded[older_id],
            UpdateStatus.NEW_VERSION_REQUESTED,
            SYSTEM,
            after,
            message=f"A newer version was requested in request {request.id}.",
            now=now,
            superseded_by_id=request.id,
        )
    return request


async def _insert_request(
    actor: Actor, after: AfterCommit, now: datetime, *, district_id: int, **fields: Any
) -> UpdateRequest:
    """Write a new TO_BE_SCHEDULED request with its first history row; announce it as CREATED."""
    request = await UpdateRequest.create(
        status=UpdateStatus.TO_BE_SCHEDULED,
        district_id=district_id,
        requested_by_id=actor.account_id,
        created_at=now,
        updated_at=now,
        **fields,
    )
    await StatusChange.create(
        update_request_id=request.id,
        from_status=None,
        to_status=UpdateStatus.TO_BE_SCHEDULED,
        at=now,
        by_id=actor.account_id,
        actor=actor.mover.value,
    )
    after.events.append(
        UpdateRequestChanged(EventType.CREATED, request.id, district_id, UpdateStatus.TO_BE_SCHEDULED, now)
    )
    return request


async def roll_out_to_group(
    actor: Actor,
    *,
    group_id: int,
    environment: EnvironmentKind,
    target_version: str,
    notes: str | None = None,
    now: datetime | None = None,
) -> list[UpdateRequest]:
    """Staff: request one version update per district of a state or consortium group.

    Districts already on that version (or with it requested) are skipped, not refused, so a
    rollout can be repeated after adding a district to the group.
    """
    require_staff(actor)
    now = now or utcnow()
    notes = check_text(notes, "notes", MAX_NOTES_LENGTH)
    district_ids = (
        await District.filter(update_group_id=group_id).order_by("name").values_list("id", flat=True)
    )
    if not district_ids:
        raise not_found("update group with districts", "groupId")
    created: list[UpdateRequest] = []
    after = AfterCommit()
    async with in_transaction():
        for district_id in district_ids:
            try:
                request = await _create_request(
                    actor,
                    district_id=cast(int, district_id),
                    kind=UpdateKind.VERSION_UPDATE,
                    environment_kind=environment,
                    target_version=target_version,
                    preferred_start=None,
                    notes=notes,
                    idempotency_key=None,
                    now=now,
                    after=after,
                    group_rollout=True,
                )
            except DomainError as error:
                if error.code in (ErrorCode.VERSION_NOT_NEWER, ErrorCode.DUPLICATE_REQUEST):
                    continue
                raise
            created.append(request)
    await deliver(after)
    return created


# --------------------------------------------------------------------------- district actions


async def cancel_update_request(actor: Actor, request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Cancel a request that has not been pulled from the queue (TO_BE_SCHEDULED or SCHEDULED)."""
    require_writer(actor)
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        request = await get_visible_request(actor, request_id)
        if request.status not in (UpdateStatus.TO_BE_SCHEDULED, UpdateStatus.SCHEDULED):
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"Only requests that are To Be Scheduled or Scheduled can be cancelled; "
                f"this one is {request.status.value}.",
                "id",
            )
        await _record_move(request, UpdateStatus.CANCELLED, actor, after, now=now)
    await deliver(after)
    return request


async def delete_update_request(actor: Actor, request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Hide a completed request from lists; the row and its history stay for the audit."""
    require_writer(actor)
    now = now or utcnow()
    request = await get_visible_request(actor, request_id)
    if request.status is not UpdateStatus.COMPLETED:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"Only completed requests can be deleted; this one is {request.status.value}. "
            "Cancel it instead if it has not started.",
            "id",
        )
    updated = await UpdateRequest.filter(
        id=request.id, status=UpdateStatus.COMPLETED, deleted_at__isnull=True
    ).update(deleted_at=now)
    if updated != 1:
        raise not_found("update request")
    request.deleted_at = now
    await deliver(
        AfterCommit(
            events=[
                UpdateRequestChanged(EventType.REMOVED, request.id, request.district_id, request.status, now)
            ]
        )
    )
    return request


# --------------------------------------------------------------------------- staff actions


async def schedule_update_request(
    actor: Actor,
    request_id: int,
    start: datetime,
    *,
    override_maintenance_window: bool = False,
    now: datetime | None = None,
) -> UpdateRequest:
    """Staff: set the start of a request (SCHEDULED), inside a maintenance window unless overridden."""
    require_staff(actor)
    now = now or utcnow()
    if start.tzinfo is None:
        raise DomainError(ErrorCode.VALIDATION, "start must carry a UTC offset.", "start")
    if start < now - SCHEDULE_PAST_TOLERANCE:
        raise DomainError(ErrorCode.VALIDATION, "start is in the past.", "start")
    after = AfterCommit()
    async with in_transaction():
        request = await get_visible_request(actor, request_id)
        check_move(request.status, UpdateStatus.SCHEDULED, actor.mover)
        district = await District.get(id=request.district_id)
        overridden = await _check_window(request, district, start, override_maintenance_window)
        message = "Scheduled outside the maintenance window by staff override." if overridden else None
        await _record_move(
            request,
            UpdateStatus.SCHEDULED,
            actor,
            after,
            message=message,
            override_recorded=overridden,
            now=now,
            scheduled_start=start,
            window_override=overridden,
        )
    await deliver(after)
    return request


async def _check_window(request: UpdateRequest, district: District, start: datetime, override: bool) -> bool:
    """Whether the schedule needed the staff override; raise if it needs one and has none."""
    if (
        request.kind is not UpdateKind.VERSION_UPDATE
        or district.hosting_model is not HostingModel.CAMPUS_CLOUD
    ):
        return False
    windows = await maintenance_windows_for(district.hosting_model)
    if not windows or is_inside_windows(start, windows):
        return False
    if override:
        return True
    upcoming = next_slots(start, windows, 1)
    hint = f" The next window starts {upcoming[0].start.isoformat()}." if upcoming else ""
    raise DomainError(
        ErrorCode.OUTSIDE_MAINTENANCE_WINDOW,
        f"Version updates of Campus Cloud districts start inside the maintenance window "
        f"({describe_windows(windows)}).{hint} Staff may override.",
        "start",
    )


async def set_update_request_status(
    actor: Actor,
    request_id: int,
    status: UpdateStatus,
    message: str | None = None,
    now: datetime | None = None,
) -> UpdateRequest:
    """Staff: move a request along the lifecycle table (defer, ask for input, give up, retry...)."""
    require_staff(actor)
    now = now or utcnow()
    message = check_text(message, "message", MAX_MESSAGE_LENGTH)
    after = AfterCommit()
    async with in_transaction():
        request = await get_visible_request(actor, request_id)
        changes: dict[str, Any] = {}
        no_future_start = request.scheduled_start is None or (
            request.scheduled_start < now - SCHEDULE_PAST_TOLERANCE
        )
        if status is UpdateStatus.SCHEDULED and no_future_start:
            check_move(request.status, status, actor.mover, message)
            raise DomainError(
                ErrorCode.VALIDATION,
                "This request has no future start time; use scheduleUpdateRequest to give one.",
                "status",
            )
        was_running = request.status is UpdateStatus.IN_PROGRESS
        if status is UpdateStatus.TO_BE_SCHEDULED and request.status is UpdateStatus.UNABLE_TO_COMPLETE:
            # Try again from the start: forget the failed attempt's checkpoints and progress.
            changes.update(
                completed_steps=[], attempts=0, started_at=None, dispatched_at=None, **_no_progress()
            )
        await _record_move(request, status, actor, after, message=message, now=now, **changes)
        if was_running and status is UpdateStatus.UNABLE_TO_COMPLETE:
            # After the compare-and-set: rows are locked request first, then environment, as
            # complete() and fail() do, so the two cannot deadlock.
            await _back_online(request.environment_id, request.id)
    await deliver(after)
    return request


async def _back_online(environment_id: int, finished_id: int, *, locked: bool = False) -> None:
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


def _no_progress() -> dict[str, Any]:
    return {"progress_percent": None, "progress_step": None, "progress_message": None, "progress_at": None}


async def set_hide_completed(account_id: int, hide_completed: bool) -> None:
    await Account.filter(id=account_id).update(hide_completed=hide_completed)


# --------------------------------------------------------------------------- scheduler


async def dispatch(request_id: int, now: datetime | None = None) -> bool:
    """Move one due SCHEDULED request to NOT_STARTED. False when another dispatcher won, or it is
    no longer due (rescheduled, cancelled)."""
    now = now or utcnow()
    after = AfterCommit()
    try:
        async with in_transaction():
            request = await UpdateRequest.get_or_none(id=request_id, deleted_at__isnull=True)
            if (
                request is None
                or request.status is not UpdateStatus.SCHEDULED
                or request.scheduled_start is None
                or request.scheduled_start > now
            ):
                return False
            await _record_move(
                request, UpdateStatus.NOT_STARTED, DISPATCHER, after, now=now, dispatched_at=now
            )
    except DomainError:
        return False
    await deliver(after)
    return True


async def due_request_ids(now: datetime | None = None, limit: int = 100) -> list[int]:
    now = now or utcnow()
    ids = (
        await UpdateRequest.filter(
            status=UpdateStatus.SCHEDULED, scheduled_start__lte=now, deleted_at__isnull=True
        )
        .order_by("scheduled_start", "id")
        .limit(limit)
        .values_list("id", flat=True)
    )
    return cast(list[int], list(ids))


async def dispatch_due(now: datetime | None = None, limit: int = 100) -> list[int]:
    """One dispatcher pass: every due request this dispatcher won, in start order."""
    now = now or utcnow()
    return [request_id for request_id in await due_request_ids(now, limit) if await dispatch(request_id, now)]


async def reclaim_lost_jobs(
    stale_after: timedelta, now: datetime | None = None, limit: int = 100
) -> list[int]:
    """NOT_STARTED requests whose job nobody began within `stale_after`: claim them again (a
    compare-and-set on `dispatched_at`, so one scheduler re-enqueues each) and return their ids."""
    now = now or utcnow()
    cutoff = now - stale_after
    rows = await UpdateRequest.filter(
        status=UpdateStatus.NOT_STARTED, dispatched_at__lt=cutoff, deleted_at__isnull=True
    ).limit(limit)
    reclaimed = []
    for row in rows:
        won = await UpdateRequest.filter(
            id=row.id, status=UpdateStatus.NOT_STARTED, dispatched_at=row.dispatched_at
        ).update(dispatched_at=now)
        if won == 1:
            reclaimed.append(row.id)
    return reclaimed


# --------------------------------------------------------------------------- worker


async def begin(request_id: int, now: datetime | None = None) -> UpdateRequest | None:
    """Claim a dispatched request for work: NOT_STARTED -> IN_PROGRESS, environment offline.

    A redelivered job finds it IN_PROGRESS already and resumes; a job for a request in any other
    status (cancelled meanwhile, finished by an earlier delivery) gets None and should be dropped.
    """
    now = now or utcnow()
    # With its district and environment: the runbook needs them, so it need not read them again.
    request = (
        await UpdateRequest.filter(id=request_id, deleted_at__isnull=True)
        .select_related("district", "environment")
        .first()
    )
    if request is None:
        return None
    if request.status is UpdateStatus.IN_PROGRESS:
        await UpdateRequest.filter(id=request_id).update(attempts=request.attempts + 1)
        request.attempts += 1
        return request
    if request.status is not UpdateStatus.NOT_STARTED:
        return None
    after = AfterCommit()
    try:
        async with in_transaction():
            await _record_move(
                request,
                UpdateStatus.IN_PROGRESS,
                WORKER,
                after,
                now=now,
                started_at=now,
                attempts=request.attempts + 1,
                **_no_progress(),
            )
            await Environment.filter(id=request.environment_id).update(online=False)
    except DomainError:
        return None
    await deliver(after)
    return request


def _progress(percent: int, step: str, message: str | None, now: datetime) -> ProgressReport:
    return ProgressReport(max(0, min(100, int(percent))), step[:100], message, now)


def _progress_fields(report: ProgressReport) -> dict[str, Any]:
    return {
        "progress_percent": report.percent,
        "progress_step": report.step,
        "progress_message": report.message,
        "progress_at": report.at,
    }


async def _publish_progress(request_id: int, district_id: int | None, report: ProgressReport) -> None:
    if district_id is None:
        rows = await UpdateRequest.filter(id=request_id).values_list("district_id", flat=True)
        district_id = cast(int, rows[0])
    event = UpdateRequestChanged(
        EventType.PROGRESS, request_id, district_id, UpdateStatus.IN_PROGRESS, report.at, report
    )
    await deliver(AfterCommit(events=[event]))


async def report_progress(
    request_id: int,
    percent: int,
    step: str,
    message: str | None = None,
    now: datetime | None = None,
    *,
    district_id: int | None = None,
) -> bool:
    """Store the latest progress of a running request and publish it. False if it is not running.

    `district_id` (the request's, which a runbook already knows) saves the lookup for the event."""
    report = _progress(percent, step, message, now or utcnow())
    updated = await UpdateRequest.filter(id=request_id, status=UpdateStatus.IN_PROGRESS).update(
        **_progress_fields(report)
    )
    if updated != 1:
        return False
    await _publish_progress(request_id, district_id, report)
    return True


async def finished_steps(request_id: int) -> list[str]:
    rows = await UpdateRequest.filter(id=request_id).values_list("completed_steps", flat=True)
    return list(rows[0] or []) if rows else []


async def mark_step_finished(request_id: int, step: str) -> bool:
    """Checkpoint a runbook step, so a redelivered job skips it. False if the request stopped running."""
    async with in_transaction():
        request = await UpdateRequest.filter(id=request_id).select_for_update().first()
        if request is None or request.status is not UpdateStatus.IN_PROGRESS:
            return False
        steps = list(request.completed_steps or [])
        if step not in steps:
            steps.append(step)
            await UpdateRequest.filter(id=request_id).update(completed_steps=steps)
    return True


async def finish_step(
    request_id: int,
    step: str,
    percent: int,
    message: str | None = None,
    now: datetime | None = None,
    *,
    known_steps: list[str] | None = None,
    district_id: int | None = None,
) -> bool:
    """Checkpoint a runbook step and store its "done" progress in one write; publish the progress.

    False if the request stopped running (nothing is written then). With `known_steps` (the
    checkpoints the caller read and has written since) the write is one UPDATE that is also a
    compare-and-set on those checkpoints and on IN_PROGRESS; if another delivery changed them
    meanwhile, the checkpoint is merged under a row lock instead, so none is ever lost."""
    report = _progress(percent, step, message, now or utcnow())
    fields = _progress_fields(report)
    written = False
    if known_steps is not None:
        steps = list(known_steps) if step in known_steps else [*known_steps, step]
        written = (
            await UpdateRequest.filter(
                id=request_id, status=UpdateStatus.IN_PROGRESS, completed_steps=list(known_steps)
            ).update(completed_steps=steps, **fields)
            == 1
        )
    if not written:
        async with in_transaction():
            request = await UpdateRequest.filter(id=request_id).select_for_update().first()
            if request is None or request.status is not UpdateStatus.IN_PROGRESS:
                return False
            steps = list(request.completed_steps or [])
            if step not in steps:
                steps.append(step)
            await UpdateRequest.filter(id=request_id).update(completed_steps=steps, **fields)
            district_id = request.district_id
    await _publish_progress(request_id, district_id, report)
    return True


async def complete(request_id: int, now: datetime | None = None) -> UpdateRequest:
    """Finish a running request: the environment gets its new version or refresh time and comes
    back online; requests it superseded complete with it; a production update brings the sandbox
    along with an automatic update."""
    now = now or utcnow()
    after = AfterCommit()
    async with in_transaction():
        request = await UpdateRequest.filter(id=request_id).select_related("district", "environment").first()
        if request is None:
            raise not_found("update request")
        environment = _fetched(request, "environment", Environment) or await Environment.get(
            id=request.environment_id
        )
        await _record_move(
            request,
            UpdateStatus.COMPLETED,
            WORKER,
            after,
            now=now,
            completed_at=now,
            progress_percent=100,
            progress_at=now,
            progress_step=request.progress_step or "done",
        )
        # This UPDATE locks the environment row (after the request row, as everywhere), so
        # _back_online needs no separate lock.
        if request.kind is UpdateKind.VERSION_UPDATE and request.target_version:
            await Environment.filter(id=environment.id).update(
                current_version=request.target_version, version_updated_at=now
            )
        else:
            await Environment.filter(id=environment.id).update(last_refreshed_at=now)
        await _back_online(environment.id, request.id, locked=True)
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
            await _record_move(
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
    request = await _insert_request(
        SYSTEM,
        after,
        now,
        kind=UpdateKind.VERSION_UPDATE,
        district_id=production_request.district_id,
        environment_id=sandbox.id,
        target_version=target,
        automatic=True,
        notes=f"The sandbox follows production (request {production_request.id}).",
    )
    await _record_move(
        request,
        UpdateStatus.SCHEDULED,
        SYSTEM,
        after,
        message=f"The sandbox follows production (request {production_request.id}).",
        now=now,
        scheduled_start=now,
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
        await _record_move(request, UpdateStatus.UNABLE_TO_COMPLETE, WORKER, after, message=reason, now=now)
        await _back_online(request.environment_id, request.id)
    await deliver(after)
    return request


def can_cancel(actor: Actor, request: UpdateRequest) -> bool:
    return (
        actor.role is not Role.VIEWER
        and request.deleted_at is None
        and request.status in (UpdateStatus.TO_BE_SCHEDULED, UpdateStatus.SCHEDULED)
        and actor.can_see(request.district_id)
    )


def can_delete(actor: Actor, request: UpdateRequest) -> bool:
    return (
        actor.role is not Role.VIEWER
        and request.deleted_at is None
        and request.status is UpdateStatus.COMPLETED
        and actor.can_see(request.district_id)
    )


__all__ = [
    "DomainError",
    "Mover",
    "begin",
    "can_cancel",
    "can_delete",
    "cancel_update_request",
    "complete",
    "delete_update_request",
    "dispatch",
    "dispatch_due",
    "fail",
    "finish_step",
    "finished_steps",
    "get_visible_request",
    "mark_step_finished",
    "reclaim_lost_jobs",
    "report_progress",
    "request_update",
    "roll_out_to_group",
    "schedule_update_request",
    "set_hide_completed",
    "set_update_request_status",
    "upcoming_slots",
    "visible_requests",
]
