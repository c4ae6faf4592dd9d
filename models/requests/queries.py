"""Which requests a caller sees and how lists are drawn. The API's lists, the subscriptions'
resynchronisation and the domain's own loads all read through these, so a visibility or list
rule is written once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from models import sql
from models.access import Actor
from models.enums import UpdateKind, UpdateStatus
from models.errors import not_found
from models.events import ProgressReport
from models.tables import District, Environment, UpdateRequest

RowT = TypeVar("RowT", bound=Model)

#: Lists are newest first; the id breaks ties between requests created in the same instant.
LIST_ORDER = ("-created_at", "-id")
#: Statuses that never appear in a list: a cancelled request is "removed from view" (the seed).
NEVER_LISTED = frozenset({UpdateStatus.CANCELLED})
#: What "Hide Complete" hides.
HIDDEN_WHEN_HIDING_COMPLETED = frozenset({UpdateStatus.COMPLETED})
#: An environment's "scheduled updates": given a start, not yet running.
SCHEDULED_STATUSES = (UpdateStatus.SCHEDULED, UpdateStatus.NOT_STARTED)


def visible_districts(actor: Actor) -> QuerySet[District]:
    """Districts `actor` may see (all for staff), by name: the district dropdown."""
    query = District.all()
    if actor.district_ids is not None:
        query = query.filter(id__in=list(actor.district_ids))
    return query.order_by("name")


def visible_requests(actor: Actor) -> QuerySet[UpdateRequest]:
    """Requests `actor` may see, not deleted. Callers add filters and ordering."""
    query = UpdateRequest.filter(deleted_at__isnull=True)
    if actor.district_ids is not None:
        query = query.filter(district_id__in=list(actor.district_ids))
    return query


def readable_requests(actor: Actor) -> QuerySet[UpdateRequest]:
    """Requests `actor` may open by id: those it sees, and for hosting staff deleted ones too (they
    list them, and a deleted request stays in the audit history). Moves use `visible_requests`."""
    if actor.is_staff:
        return UpdateRequest.all()
    return visible_requests(actor)


async def get_visible_request(actor: Actor, request_id: int, *, for_update: bool = False) -> UpdateRequest:
    """The request, if `actor` may see it; otherwise NOT_FOUND, exactly as for a missing id."""
    query = visible_requests(actor).filter(id=request_id)
    if for_update:
        query = query.select_for_update()
    request = await query.first()
    if request is None:
        raise not_found("update request")
    return request


def hides_completed(saved: bool, asked: bool | None, statuses: list[UpdateStatus] | None) -> bool:
    """Whether a list hides completed requests. The saved "Hide Complete" applies whenever the
    query does not say otherwise: an explicit `hideCompleted` says so, and so does a status filter
    naming a hidden status (a list asked for COMPLETED answering nothing would look broken)."""
    if asked is not None:
        return asked
    if statuses is not None and not HIDDEN_WHEN_HIDING_COMPLETED.isdisjoint(statuses):
        return False
    return saved


def listed_requests(
    actor: Actor,
    *,
    hide_completed: bool,
    district_id: int | None = None,
    statuses: list[UpdateStatus] | None = None,
    kinds: list[UpdateKind] | None = None,
    include_deleted: bool = False,
) -> QuerySet[UpdateRequest]:
    """The requests a list shows: visible, never cancelled, completed ones hidden on request.
    Deleted ones too when hosting staff ask (`include_deleted`; ignored for everyone else), whatever
    "Hide Complete" says: only completed requests can be deleted, so hiding those would answer the
    question with none of them."""
    staff_deleted = include_deleted and actor.is_staff
    if staff_deleted:
        query = UpdateRequest.exclude(status__in=list(NEVER_LISTED))
    else:
        query = visible_requests(actor).exclude(status__in=list(NEVER_LISTED))
    if district_id is not None:
        query = query.filter(district_id=district_id)
    if statuses is not None:
        query = query.filter(status__in=list(statuses))
    if kinds is not None:
        query = query.filter(kind__in=list(kinds))
    if hide_completed and staff_deleted:
        hidden = list(HIDDEN_WHEN_HIDING_COMPLETED)
        query = query.filter(Q(deleted_at__isnull=False) | ~Q(status__in=hidden))
    elif hide_completed:
        query = query.exclude(status__in=list(HIDDEN_WHEN_HIDING_COMPLETED))
    return query


def after_position(query: QuerySet[UpdateRequest], created_at: datetime, pk: int) -> QuerySet[UpdateRequest]:
    """The rows of a newest-first list that follow the row (created_at, pk)."""
    return query.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))


def scheduled_updates(actor: Actor, environment_ids: list[int]) -> QuerySet[UpdateRequest]:
    """The scheduled updates of these environments that `actor` sees, soonest first."""
    return (
        visible_requests(actor)
        .filter(environment_id__in=environment_ids, status__in=list(SCHEDULED_STATUSES))
        .order_by("scheduled_start", "id")
    )


def changed_since(actor: Actor, since: datetime, district_id: int | None = None) -> QuerySet[UpdateRequest]:
    """Requests `actor` sees that changed (or were deleted) at or after `since`, newest change
    first (a limit keeps the latest); deleted rows included, so a subscriber can be told they are
    gone."""
    query = UpdateRequest.filter(Q(updated_at__gte=since) | Q(deleted_at__gte=since))
    if actor.district_ids is not None:
        query = query.filter(district_id__in=list(actor.district_ids))
    if district_id is not None:
        query = query.filter(district_id=district_id)
    return query.order_by("-updated_at", "-id")


def is_removed(row: UpdateRequest) -> bool:
    """Gone from the district's view: deleted, or cancelled."""
    return row.deleted_at is not None or row.status in NEVER_LISTED


def stored_progress(row: UpdateRequest) -> ProgressReport | None:
    """The latest progress the row keeps, if any."""
    if row.progress_at is None or row.progress_percent is None:
        return None
    return ProgressReport(
        row.progress_percent, row.progress_step or "", row.progress_message, row.progress_at
    )


def related(row: Model, name: str, model: type[RowT]) -> RowT:
    """The related row `name` that the query loaded with `select_related(name)`."""
    value: Any = getattr(row, name)
    if not isinstance(value, model):
        raise RuntimeError(f"{type(row).__name__}.{name} was not loaded with select_related")
    return value


@dataclass(frozen=True)
class Site:
    """The district and environment a request is about."""

    district: District
    environment: Environment
    #: The district's production site, (id, database URL), when the read joined it (a job's
    #: first read: the sites it claims, and what a refresh copies); None: not read.
    production: tuple[int, str | None] | None = None


async def load_with_site(
    request_id: int, *, include_deleted: bool = False
) -> tuple[UpdateRequest, Site] | None:
    """The request with its district and environment, read in one statement (the worker's and
    the scheduler's read of every request they move: SQL text made once, models/sql.py)."""
    found = await _WITH_SITE[include_deleted].first([request_id])
    if found is None:
        return None
    request = cast(UpdateRequest, found[0])
    return request, Site(related(request, "district", District), related(request, "environment", Environment))


#: What `load_with_site` joins to a request.
SITE_JOINS = (("district", District), ("environment", Environment))
_WITH_SITE = {
    False: sql.Rows(UpdateRequest, '"t0"."id"={} AND "t0"."deleted_at" IS NULL', SITE_JOINS),
    True: sql.Rows(UpdateRequest, '"t0"."id"={}', SITE_JOINS),
}
