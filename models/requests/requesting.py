"""A district contact (or the system) asks for work: validation, supersession of older requests,
and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.access import SYSTEM, Actor, require_writer
from models.clock import utcnow
from models.enums import OPEN_STATUSES, EnvironmentKind, ErrorCode, UpdateKind, UpdateStatus
from models.errors import DomainError, not_found
from models.events import AfterCommit, deliver
from models.requests.moves import move_event, record_move
from models.requests.queries import related
from models.tables import District, Environment, Release, StatusChange, UpdateRequest
from models.validation import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_NOTES_LENGTH,
    Asked,
    OpenRequest,
    check_preferred_start,
    check_replay,
    check_text,
    plan_new_request,
)


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

    asked = Asked(district_id, kind, environment, target_version)
    if idempotency_key and actor.account_id is not None:
        # Before the checks that depend on the clock: a retry of the same submission, sent after
        # its preferred start has passed, is answered with the request it made, not refused.
        earlier = await replay(actor, idempotency_key, asked)
        if earlier is not None:
            return earlier
    check_preferred_start(preferred_start, now)

    after = AfterCommit()
    try:
        async with in_transaction():
            request = await create_request(
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
            earlier = await replay(actor, idempotency_key, asked)
            if earlier is not None:
                return earlier
        raise
    await deliver(after)
    return request


async def replay(actor: Actor, key: str, asked: Asked) -> UpdateRequest | None:
    """The request this account already made with `key`, if the same input asks for it again.

    A replay is a read: a request the caller can no longer see (district link removed, deleted)
    is NOT_FOUND. The same key with another district, kind, environment or version is refused:
    a key names one request, never "whatever was asked first"."""
    earlier = (
        await UpdateRequest.filter(requested_by_id=actor.account_id, idempotency_key=key)
        .select_related("environment")
        .first()
    )
    if earlier is None:
        return None
    if earlier.deleted_at is not None or not actor.can_see(earlier.district_id):
        raise DomainError(
            ErrorCode.NOT_FOUND, "No request you can see was made with this idempotencyKey.", "idempotencyKey"
        )
    environment = related(earlier, "environment", Environment)
    check_replay(Asked(earlier.district_id, earlier.kind, environment.kind, earlier.target_version), asked)
    return earlier


async def create_request(
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
    rollout_id: int | None = None,
) -> UpdateRequest:
    """Check and write one request inside the caller's transaction (part of the group rollout
    `rollout_id`, when given: a group-managed district's version update is then allowed)."""
    # Lock the district row: concurrent requests for one district are checked one at a time,
    # so two of them cannot both pass the duplicate check (PostgreSQL; SQLite serializes writes).
    district = await District.filter(id=district_id).select_for_update().first()
    if district is None:
        raise not_found("district", "districtId")
    if idempotency_key and actor.account_id is not None:
        # A submission with the same key may have committed while this one waited for the lock:
        # answer with it, rather than refusing this one as its duplicate.
        earlier = await replay(
            actor, idempotency_key, Asked(district_id, kind, environment_kind, target_version)
        )
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
        group_rollout=rollout_id is not None,
    )
    assert target_environment is not None  # plan_new_request refuses a missing environment
    request = await insert_request(
        actor,
        after,
        now,
        kind=kind,
        district_id=district_id,
        environment_id=target_environment.id,
        target_version=target_version,
        preferred_start=preferred_start,
        notes=notes,
        idempotency_key=idempotency_key,
        rollout_id=rollout_id,
    )
    superseded = {row.id: row for row in open_rows}
    message = (
        f"A newer version, {target_version}, was asked for on this site; "
        "this update will be completed together with it."
    )
    for older_id in plan.supersede_ids:
        try:
            await record_move(
                superseded[older_id],
                UpdateStatus.NEW_VERSION_REQUESTED,
                SYSTEM,
                after,
                message=message,
                now=now,
                superseded_by_id=request.id,
            )
        except DomainError:
            # It was dispatched meanwhile (the district lock does not stop the scheduler): it runs,
            # and the new request waits for the site. Nothing to supersede, nothing to refuse.
            continue
    return request


async def insert_request(
    actor: Actor,
    after: AfterCommit,
    now: datetime,
    *,
    district_id: int,
    message: str | None = None,
    **fields: Any,
) -> UpdateRequest:
    """Write a new TO_BE_SCHEDULED request with its first history row; announce it as CREATED.
    `message`: its status message and its creation's, when it waits for a reason people should read."""
    request = await UpdateRequest.create(
        status=UpdateStatus.TO_BE_SCHEDULED,
        district_id=district_id,
        requested_by_id=actor.account_id,
        created_at=now,
        updated_at=now,
        history_seq=1,
        status_message=message,
        **fields,
    )
    await StatusChange.create(
        update_request_id=request.id,
        from_status=None,
        to_status=UpdateStatus.TO_BE_SCHEDULED,
        at=now,
        by_id=actor.account_id,
        actor=actor.mover.value,
        message=message,
    )
    after.events.append(move_event(request, None, now, message))
    return request
