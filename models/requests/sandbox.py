"""Sandbox follows production: when a production version update completes, the system creates an
automatic update of the district's sandbox to the same version, placed in the first slot where it
fits (now, when the current window still has room), superseding older open sandbox updates."""

from __future__ import annotations

from datetime import datetime

from models.access import SYSTEM
from models.enums import OPEN_STATUSES, SUPERSEDABLE_STATUSES, EnvironmentKind, UpdateKind, UpdateStatus
from models.errors import DomainError
from models.events import AfterCommit
from models.notices import local_time_text
from models.requests.busy import busy_slots
from models.requests.moves import record_move
from models.requests.requesting import insert_request
from models.requests.slots import start_rules
from models.running import RunPolicy
from models.schedule import StartRules, next_start
from models.tables import District, Environment, UpdateRequest
from models.versions import is_not_newer


async def follow_with_sandbox(
    production_request: UpdateRequest, after: AfterCommit, now: datetime, policy: RunPolicy
) -> UpdateRequest | None:
    """Create and schedule the automatic sandbox update to production's new version (inside the
    caller's transaction). None when the sandbox needs none: it has or is already asked for it."""
    sandbox = await Environment.get_or_none(
        district_id=production_request.district_id, kind=EnvironmentKind.SANDBOX
    )
    target = production_request.target_version
    if sandbox is None or target is None or is_not_newer(target, sandbox.current_version):
        return None
    open_updates = await UpdateRequest.filter(
        environment_id=sandbox.id,
        kind=UpdateKind.VERSION_UPDATE,
        status__in=list(OPEN_STATUSES),
        deleted_at__isnull=True,
    ).order_by("id")
    if any(r.target_version and is_not_newer(target, r.target_version) for r in open_updates):
        return None  # an open update already brings the sandbox to this version or a newer one
    note = f"The sandbox follows production, which was updated to {target}."
    district = await District.get(id=production_request.district_id)
    # The rules do not depend on the request's row: judged before it is written, so that one no
    # start fits (other work only delays a start) is created saying why it waits for staff.
    rules = await start_rules(UpdateRequest(kind=UpdateKind.VERSION_UPDATE), district, policy, now)
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
        message=None if next_start(now, rules) is not None else f"{note} {_no_slot(rules)}",
    )
    superseded = f"The sandbox will be updated to the newer {target} instead, together with this update."
    for older in open_updates:
        if older.status in SUPERSEDABLE_STATUSES:
            try:
                await record_move(
                    older,
                    UpdateStatus.NEW_VERSION_REQUESTED,
                    SYSTEM,
                    after,
                    message=superseded,
                    now=now,
                    superseded_by_id=request.id,
                )
            except DomainError:
                # Dispatched (or moved by staff) since the read above: it runs first and the new
                # one waits for the sandbox. Production's completion, which got us here, stands.
                continue
    # Clear of other work already planned on the sandbox (a refresh of it, say), as a reschedule is.
    busy = await busy_slots(request, EnvironmentKind.SANDBOX, rules, now)
    start = next_start(now, rules.with_busy(busy))
    if start is None:
        return request  # no window is long enough: it waits TO_BE_SCHEDULED for staff
    message = note
    if start != now:
        when = local_time_text(start, district.time_zone)
        where = "in the maintenance window" if rules.window_bound else "clear of blackouts and other work"
        message = f"{note} It is scheduled for {when}, the first time it fits {where}."
    await record_move(
        request, UpdateStatus.SCHEDULED, SYSTEM, after, message=message, now=now, scheduled_start=start
    )
    return request


def _no_slot(rules: StartRules) -> str:
    """Why no start fits the automatic sandbox update, for the district and staff alike."""
    if rules.window_bound and not rules.windows:
        return "No maintenance window is set for it, so Campus Hosting will schedule it."
    return "No maintenance window is long enough for it, so Campus Hosting will schedule it."
