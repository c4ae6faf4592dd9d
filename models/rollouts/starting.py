"""Staff start a rollout: one ordinary version update per district of the group, created at once
in one transaction. Districts that cannot take part are skipped with the refusal's code and words
(`rules.SKIP_CODES`); the others get a request, placed at once: window-bound ones in their
district's next slot that fits (`models.schedule`), the others due now. The waves then decide when
each starts (`waves`)."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from models.access import Actor, require_staff
from models.clock import utcnow
from models.enums import EnvironmentKind, ErrorCode, UpdateKind, UpdateStatus
from models.errors import DomainError, not_found
from models.events import AfterCommit, deliver
from models.notices import local_time_text
from models.requests.busy import busy_slots
from models.requests.moves import record_move
from models.requests.requesting import create_request
from models.requests.slots import start_rules
from models.rollouts.rows import describe
from models.rollouts.rules import DEFAULT_MAX_FAILURES, DEFAULT_WAVE_SIZE, check_input, is_skip
from models.running import DEFAULT_POLICY, RunPolicy
from models.schedule import next_start
from models.tables import District, GroupRollout, Release, RolloutSkip, UpdateGroup, UpdateRequest
from models.validation import MAX_NOTES_LENGTH, check_text
from models.versions import parse_version


async def start_group_rollout(
    actor: Actor,
    *,
    group_id: int,
    environment: EnvironmentKind,
    target_version: str,
    wave_size: int = DEFAULT_WAVE_SIZE,
    max_failures: int = DEFAULT_MAX_FAILURES,
    notes: str | None = None,
    now: datetime | None = None,
    policy: RunPolicy = DEFAULT_POLICY,
) -> GroupRollout:
    """Staff: roll `target_version` out to `environment` of every district of the group."""
    require_staff(actor)
    now = now or utcnow()
    check_input(environment, wave_size, max_failures)
    notes = check_text(notes, "notes", MAX_NOTES_LENGTH)
    target_version = target_version.strip()
    parse_version(target_version)
    group = await UpdateGroup.get_or_none(id=group_id)
    if group is None:
        raise not_found("update group", "updateGroupId")
    if not await Release.filter(version=target_version).exists():
        raise DomainError(
            ErrorCode.UNKNOWN_VERSION,
            f"{target_version} is not in the release catalog; pick one of the published releases.",
            "targetVersion",
        )
    # By name: the order requests are made (and waves start) in, and the order a resume locks them.
    districts = await District.filter(update_group_id=group_id).order_by("name", "id")
    if not districts:
        raise DomainError(
            ErrorCode.VALIDATION, "This group has no districts to roll out to.", "updateGroupId"
        )
    after = AfterCommit()
    async with in_transaction():
        rollout = await GroupRollout.create(
            update_group_id=group_id,
            environment=environment,
            target_version=target_version,
            wave_size=wave_size,
            max_failures=max_failures,
            notes=notes,
            created_at=now,
            updated_at=now,
            created_by_id=actor.account_id,
        )
        for district in districts:
            try:
                request = await create_request(
                    actor,
                    district_id=district.id,
                    kind=UpdateKind.VERSION_UPDATE,
                    environment_kind=environment,
                    target_version=target_version,
                    preferred_start=None,
                    notes=notes,
                    idempotency_key=None,
                    now=now,
                    after=after,
                    rollout_id=rollout.id,
                )
            except DomainError as error:
                if not is_skip(error):
                    raise
                await RolloutSkip.create(
                    rollout_id=rollout.id, district_id=district.id, code=error.code, message=error.message
                )
                continue
            await place(
                actor, request, district, f"Part of {describe(rollout, group.name)}", now, after, policy,
                environment,
            )  # fmt: skip
    await deliver(after)
    return rollout


async def place(
    actor: Actor,
    request: UpdateRequest,
    district: District,
    part_of: str,
    now: datetime,
    after: AfterCommit,
    policy: RunPolicy,
    environment: EnvironmentKind,
) -> None:
    """Schedule a rollout's request at the first start that fits (now, when it is not bound to
    windows), clear of other work that holds its site then. With no window long enough it stays
    TO_BE_SCHEDULED for staff. Inside the caller's transaction; the move is the acting staff
    member's."""
    rules = await start_rules(request, district, policy)
    busy = await busy_slots(request, environment, rules, now)
    start = next_start(now, rules.with_busy(busy))
    if start is None:
        return
    turn = "It starts when its turn in the rollout comes"
    if start == now:
        message = f"{part_of}. {turn}."
    else:
        when = local_time_text(start, district.time_zone)
        message = (
            f"{part_of}, planned for {when}, the first maintenance slot that fits. {turn}; "
            "if other districts still run then, it moves to a later slot."
        )
    await record_move(
        request, UpdateStatus.SCHEDULED, actor, after, message=message, now=now, scheduled_start=start
    )
