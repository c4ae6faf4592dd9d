"""Who is told of a move, and the outbox rows that tell them (written in the move's transaction,
sent by the mail actor after commit). The one place that computes recipients."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import cast

from tortoise.expressions import Q

from models import sql
from models.calendars import WITHDRAWING_STATUSES, CalendarMethod, InvitationMessage, invitation_messages
from models.enums import NotificationKind, NotifyPreference, Role, UpdateStatus
from models.notices import RequestFacts, compose_notice
from models.preferences import effective_notify, wants_notice
from models.requests.queries import Site
from models.tables import Account, District, Environment, Notification, StatusChange, UpdateRequest

#: Moves into these statuses send the district an e-mail.
NOTIFYING_STATUSES: dict[UpdateStatus, NotificationKind] = {
    UpdateStatus.SCHEDULED: NotificationKind.SCHEDULED,
    UpdateStatus.PENDING_INPUT: NotificationKind.PENDING_INPUT,
    UpdateStatus.DEFERRED: NotificationKind.DEFERRED,
    UpdateStatus.UNABLE_TO_COMPLETE: NotificationKind.UNABLE_TO_COMPLETE,
    UpdateStatus.COMPLETED: NotificationKind.COMPLETED,
    UpdateStatus.CANCELLED: NotificationKind.CANCELLED,
    UpdateStatus.NEW_VERSION_REQUESTED: NotificationKind.SUPERSEDED,
}
#: Notices sent only to take a sent invitation out of people's calendars (nothing to withdraw:
#: no mail; the requester who cancelled knows, and a replaced request is named in the new one).
CALENDAR_ONLY_KINDS = frozenset({NotificationKind.CANCELLED, NotificationKind.SUPERSEDED})
#: Moves whose notice may carry a calendar message: the only ones for which the history is read.
CALENDAR_MOVES = WITHDRAWING_STATUSES | {UpdateStatus.SCHEDULED, UpdateStatus.UNABLE_TO_COMPLETE}
#: Preferences with which a staff member (linked to no district, seeing all) may be told anything.
_STAFF_LISTENING = [NotifyPreference.ALL_MY_DISTRICTS, NotifyPreference.MY_REQUESTS]
#: Active accounts linked to the district, and active staff who listen or made the request.
_LINKED_OR_LISTENING_STAFF = sql.Rows(
    Account,
    '"t0"."active"={} AND ("t0"."id" IN (SELECT "account_id" FROM "account_district" WHERE "district_id"={})'
    ' OR ("t0"."role"={} AND ("t0"."notify" IN ({},{}) OR "t0"."id"={})))',
)
#: A request's history, oldest move first.
_HISTORY = sql.Rows(StatusChange, '"t0"."update_request_id"={} ORDER BY "t0"."id"')


async def calendar_holders(request_id: int) -> set[str]:
    """The addresses whose calendar holds the request's event now: those whose latest calendar
    message about it was an invitation (only SCHEDULED notices carry one; every other calendar
    message is a cancellation). Someone who joined after the invitation, or whose event was
    already withdrawn, holds nothing."""
    latest: dict[str, NotificationKind] = {}
    rows = (
        await Notification.filter(update_request_id=request_id, calendar__isnull=False)
        .order_by("id")
        .values_list("recipient", "kind")
    )
    for recipient, kind in cast(list[tuple[str, NotificationKind]], rows):
        latest[recipient] = kind
    return {recipient for recipient, kind in latest.items() if kind is NotificationKind.SCHEDULED}


async def recipients(request: UpdateRequest, *, holders: Collection[str] = ()) -> list[str]:
    """The addresses told of `request`, sorted: every active account that sees its district and
    whose notify preference (or its role's default) asks for it: all of its districts' notices, or
    those of requests it made. Also the `holders` of its calendar event who still see the
    district, so an update or cancellation reaches every calendar holding the event, whatever
    their preference says now."""
    held = set(holders)
    if held:
        linked = await Account.filter(districts__id=request.district_id, active=True)
        staff_wanted = Q(notify__in=_STAFF_LISTENING) | Q(email__in=sorted(held))
        if request.requested_by_id is not None:
            staff_wanted |= Q(id=request.requested_by_id)
        accounts = [*linked, *await Account.filter(staff_wanted, role=Role.HOSTING_STAFF, active=True)]
    else:
        # Every move's notices ask this (the worker's and scheduler's too): one statement, SQL
        # text made once, the same accounts as the two queries above without calendar holders.
        found = await _LINKED_OR_LISTENING_STAFF.all(
            [
                sql.db_value(Account, "active", True),
                request.district_id,
                sql.db_value(Account, "role", Role.HOSTING_STAFF),
                *(sql.db_value(Account, "notify", preference) for preference in _STAFF_LISTENING),
                request.requested_by_id,
            ]
        )
        accounts = [cast(Account, row) for (row,) in found]
    addresses: set[str] = set()
    for account in accounts:
        preference = effective_notify(account.role, account.notify)
        asked = wants_notice(preference, linked=True, is_requester=account.id == request.requested_by_id)
        if asked or account.email in held:
            addresses.add(account.email)
    return sorted(addresses)


async def _calendar_message(request: UpdateRequest) -> InvitationMessage | None:
    """The calendar message of the move just recorded (the last row of the history), if any.
    Only a move to SCHEDULED, one that withdraws, or a give-up (which withdraws when the work
    never began) can send one: for the others (the worker's COMPLETED) the history is not read."""
    if request.status not in CALENDAR_MOVES:
        return None
    rows = [cast(StatusChange, row) for (row,) in await _HISTORY.all([request.id])]
    messages = invitation_messages((row.to_status, row.at) for row in rows)
    return messages[-1] if messages else None


async def queue_notices(
    request: UpdateRequest, kind: NotificationKind, message: str | None, site: Site | None = None
) -> list[int]:
    """Write one outbox row per recipient of the move just recorded; returns their ids for the
    mail queue. Call after the move's history row is written."""
    invitation = await _calendar_message(request)
    holders = await calendar_holders(request.id) if invitation is not None else set()
    withdrawing = invitation is not None and invitation.method is CalendarMethod.CANCEL
    if kind in CALENDAR_ONLY_KINDS and not (invitation and holders):
        return []
    addresses = await recipients(request, holders=holders)
    if withdrawing and kind in CALENDAR_ONLY_KINDS:
        # Sent only to take the event out of calendars: to those whose calendar holds it.
        addresses = [address for address in addresses if address in holders]
    if not addresses:
        return []
    if site is None:
        site = Site(
            await District.get(id=request.district_id), await Environment.get(id=request.environment_id)
        )
    facts = RequestFacts(
        id=request.id,
        kind=request.kind,
        district_name=site.district.name,
        environment_kind=site.environment.kind.value,
        target_version=request.target_version,
        scheduled_start=request.scheduled_start,
        time_zone=site.district.time_zone,
        message=message,
        invitation=invitation,
    )
    notice = compose_notice(kind, facts)
    # A cancellation goes only to calendars holding the event; the others get the news without it.
    plain = compose_notice(kind, replace(facts, invitation=None)) if withdrawing else notice
    ids = []
    for address in addresses:
        told = plain if withdrawing and address not in holders else notice
        row = await Notification.create(
            update_request_id=request.id,
            kind=kind,
            recipient=address,
            subject=told.subject,
            body=told.body,
            calendar=told.calendar,
        )
        ids.append(row.id)
    return ids
