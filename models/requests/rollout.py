"""Staff roll one version out to every district of a state or consortium group."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from models.access import Actor, require_staff
from models.clock import utcnow
from models.enums import EnvironmentKind, ErrorCode, UpdateKind
from models.errors import DomainError, not_found
from models.events import AfterCommit, deliver
from models.requests.requesting import create_request
from models.tables import District, UpdateRequest
from models.validation import MAX_NOTES_LENGTH, check_text

#: Refusals that mean "this district needs nothing": it is skipped, not an error of the rollout.
SKIPPED_CODES = frozenset({ErrorCode.VERSION_NOT_NEWER, ErrorCode.DUPLICATE_REQUEST})


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
    district_ids: list[int] = list(
        await District.filter(update_group_id=group_id).order_by("name").values_list("id", flat=True)  # type: ignore[arg-type]
    )
    if not district_ids:
        raise not_found("update group with districts", "groupId")
    created: list[UpdateRequest] = []
    after = AfterCommit()
    async with in_transaction():
        for district_id in district_ids:
            try:
                request = await create_request(
                    actor,
                    district_id=district_id,
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
                if error.code in SKIPPED_CODES:
                    continue
                raise
            created.append(request)
    await deliver(after)
    return created
