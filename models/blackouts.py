"""Blackouts: periods with a reason (state testing, the first week of school) in which no work
starts, for everything or for one hosting model, update group or district. Hosting staff create and
delete them; everyone sees those that cover their districts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models import sql
from models.access import Actor, require_staff
from models.clock import utcnow
from models.enums import ErrorCode, HostingModel
from models.errors import DomainError, not_found
from models.schedule import BlackoutPeriod
from models.start_lock import hold_for_rule_change
from models.tables import Blackout, District, UpdateGroup
from models.validation import check_text

MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class BlackoutScope:
    """What a blackout covers: at most one of these is set; none means everything."""

    hosting_model: HostingModel | None = None
    update_group_id: int | None = None
    district_id: int | None = None


@dataclass(frozen=True)
class DistrictFacts:
    """What decides whether a blackout covers a district."""

    id: int
    hosting_model: HostingModel
    update_group_id: int | None


def covers(scope: BlackoutScope, district: DistrictFacts) -> bool:
    """Whether a blackout of `scope` holds for `district`."""
    if scope.district_id is not None:
        return scope.district_id == district.id
    if scope.update_group_id is not None:
        return scope.update_group_id == district.update_group_id
    if scope.hosting_model is not None:
        return scope.hosting_model is district.hosting_model
    return True


def scope_of(row: Blackout) -> BlackoutScope:
    return BlackoutScope(row.hosting_model, row.update_group_id, row.district_id)


def facts_of(district: District) -> DistrictFacts:
    return DistrictFacts(district.id, district.hosting_model, district.update_group_id)


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(ErrorCode.VALIDATION, f"{field} must carry a UTC offset.", field)
    return value.astimezone(UTC)


def check_one_scope(hosting_model: object, update_group: object, district: object) -> None:
    """At most one scope may be given (in any form: the API checks this before decoding ids)."""
    named = [
        name
        for name, value in (
            ("hostingModel", hosting_model),
            ("updateGroupId", update_group),
            ("districtId", district),
        )
        if value is not None
    ]
    if len(named) > 1:
        raise DomainError(
            ErrorCode.VALIDATION,
            "A blackout covers everything, or one hosting model, update group or district: give at most one.",
            named[1],
        )


def check_blackout(
    start: datetime, end: datetime, reason: str, scope: BlackoutScope, now: datetime
) -> tuple[datetime, datetime, str]:
    """Validate a new blackout (times aware, end after start and not past, a reason, at most one
    scope); VALIDATION naming the input field. Returns start, end (UTC) and the trimmed reason."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise DomainError(ErrorCode.VALIDATION, "end must be after start.", "end")
    if end <= now:
        raise DomainError(
            ErrorCode.VALIDATION, "end is in the past: the blackout would hold for nothing.", "end"
        )
    text = check_text(reason, "reason", MAX_REASON_LENGTH)
    if text is None:
        raise DomainError(ErrorCode.VALIDATION, "Give the reason for the blackout.", "reason")
    check_one_scope(scope.hosting_model, scope.update_group_id, scope.district_id)
    return start, end, text


async def create_blackout(
    actor: Actor,
    *,
    start: datetime,
    end: datetime,
    reason: str,
    scope: BlackoutScope = BlackoutScope(),
    now: datetime | None = None,
) -> Blackout:
    """Staff: black out a period. It never moves scheduled work by itself (`scheduleConflicts`
    lists what it now conflicts with; the dispatcher re-slots at start time). Once this returns,
    no start decided afterwards falls inside it (`models.start_lock`)."""
    require_staff(actor)
    start, end, text = check_blackout(start, end, reason, scope, now or utcnow())
    if scope.update_group_id is not None and not await UpdateGroup.exists(id=scope.update_group_id):
        raise not_found("update group", "updateGroupId")
    if scope.district_id is not None and not await District.exists(id=scope.district_id):
        raise not_found("district", "districtId")
    async with in_transaction():
        await hold_for_rule_change()
        return await Blackout.create(
            start=start,
            end=end,
            reason=text,
            hosting_model=scope.hosting_model,
            update_group_id=scope.update_group_id,
            district_id=scope.district_id,
            created_by_id=actor.account_id,
        )


async def delete_blackout(actor: Actor, blackout_id: int) -> None:
    """Staff: remove a blackout. A rule change like its creation: work it kept from a slot may start
    again and a slot it made void holds again, so once this returns no start decided on the
    blackout is still to commit (`models.start_lock`), and `scheduleConflicts` lists every overlap
    it leaves."""
    require_staff(actor)
    async with in_transaction():
        await hold_for_rule_change()
        if await Blackout.filter(id=blackout_id).delete() != 1:
            raise not_found("blackout")


def period_of(row: Blackout) -> BlackoutPeriod:
    return BlackoutPeriod(row.start, row.end, row.id, row.reason)


def _covering_any(districts: list[DistrictFacts]) -> Q:
    """Blackouts that cover at least one of `districts` (none: no blackout)."""
    if not districts:
        return Q(id__in=[])
    return (
        Q(hosting_model__isnull=True, update_group_id__isnull=True, district_id__isnull=True)
        | Q(hosting_model__in=sorted({d.hosting_model for d in districts}))
        | Q(update_group_id__in=sorted({d.update_group_id for d in districts if d.update_group_id}))
        | Q(district_id__in=sorted({d.id for d in districts}))
    )


async def visible_blackouts(actor: Actor) -> QuerySet[Blackout]:
    """The blackouts `actor` sees: all for staff, else those covering one of its districts."""
    if actor.district_ids is None:
        return Blackout.all()
    districts = await District.filter(id__in=sorted(actor.district_ids))
    return Blackout.filter(_covering_any([facts_of(d) for d in districts]))


def overlapping(
    query: QuerySet[Blackout], start: datetime | None, end: datetime | None
) -> QuerySet[Blackout]:
    """Those of `query` that overlap [start, end) (either bound open), soonest first."""
    if start is not None:
        query = query.filter(end__gt=_aware(start, "from"))
    if end is not None:
        query = query.filter(start__lt=_aware(end, "to"))
    return query.order_by("start", "id")


async def blackouts_over(district: DistrictFacts, start: datetime, end: datetime) -> list[Blackout]:
    """The blackouts covering `district` that overlap [start, end), soonest first: what the
    scheduling rule asks (with `models.windows.touching`) before work starts."""
    return list(await overlapping(Blackout.filter(_covering_any([district])), start, end))


async def periods_over(district_id: int, since: datetime | None) -> list[BlackoutPeriod]:
    """The blackouts covering the district that have not ended at `since` (all when None), as the
    periods `models.schedule` judges a start by. Read by every dispatch and begin: SQL text made
    once (models/sql.py), the same rows as `_covering_any`. The district's hosting model and update
    group are read in the same statement, not taken from an earlier read: a start decision reads
    this after the start lock, so a move of the district that has returned (an import, a rule
    change that takes that lock) holds for it."""
    covering = [district_id, district_id, district_id]
    if since is None:
        found = await _COVERING.all(covering)
    else:
        found = await _COVERING_NOT_ENDED.all([*covering, sql.db_value(Blackout, "end", since)])
    return [period_of(cast(Blackout, row)) for (row,) in found]


_COVERING_ONE = (
    '(("t0"."hosting_model" IS NULL AND "t0"."update_group_id" IS NULL AND "t0"."district_id" IS NULL)'
    ' OR "t0"."hosting_model"=(SELECT "d"."hosting_model" FROM "district" "d" WHERE "d"."id"={})'
    ' OR "t0"."update_group_id"=(SELECT "d"."update_group_id" FROM "district" "d" WHERE "d"."id"={})'
    ' OR "t0"."district_id"={})'
)
_COVERING = sql.Rows(Blackout, f'{_COVERING_ONE} ORDER BY "t0"."start","t0"."id"')
_COVERING_NOT_ENDED = sql.Rows(
    Blackout, f'{_COVERING_ONE} AND "t0"."end">{{}} ORDER BY "t0"."start","t0"."id"'
)
