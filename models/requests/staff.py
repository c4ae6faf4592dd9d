"""What the hosting team does to a request: schedule it (inside a maintenance window unless they
override), and move it along the lifecycle (defer, ask for input, give up, try again)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from models.access import Actor, require_staff
from models.clock import utcnow
from models.enums import ErrorCode, HostingModel, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit, deliver
from models.lifecycle import check_move
from models.maintenance import windows_of
from models.requests.completion import back_online
from models.requests.moves import no_progress, record_move
from models.requests.queries import get_visible_request
from models.tables import District, UpdateRequest
from models.validation import MAX_MESSAGE_LENGTH, check_text
from models.windows import describe_windows, is_inside_windows, next_slots

#: Staff may schedule "now"; a start further in the past than this is a mistake.
SCHEDULE_PAST_TOLERANCE = timedelta(minutes=5)


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
        await record_move(
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
    windows = await windows_of(district.hosting_model)
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
                completed_steps=[], attempts=0, started_at=None, dispatched_at=None, **no_progress()
            )
        await record_move(request, status, actor, after, message=message, now=now, **changes)
        if was_running and status is UpdateStatus.UNABLE_TO_COMPLETE:
            # After the compare-and-set: rows are locked request first, then environment, as
            # complete() and fail() do, so the two cannot deadlock.
            await back_online(request.environment_id, request.id)
    await deliver(after)
    return request
