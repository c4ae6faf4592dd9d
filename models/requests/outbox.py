"""Who is told of a move, and the outbox rows that tell them (written in the move's transaction,
sent by the mail actor after commit)."""

from __future__ import annotations

from typing import cast

from models.enums import NotificationKind, Role, UpdateStatus
from models.notices import RequestFacts, compose_notice
from models.requests.queries import Site
from models.tables import Account, District, Environment, Notification, StatusChange, UpdateRequest

#: Moves into these statuses send the district an e-mail.
NOTIFYING_STATUSES: dict[UpdateStatus, NotificationKind] = {
    UpdateStatus.SCHEDULED: NotificationKind.SCHEDULED,
    UpdateStatus.PENDING_INPUT: NotificationKind.PENDING_INPUT,
    UpdateStatus.DEFERRED: NotificationKind.DEFERRED,
    UpdateStatus.UNABLE_TO_COMPLETE: NotificationKind.UNABLE_TO_COMPLETE,
    UpdateStatus.COMPLETED: NotificationKind.COMPLETED,
}


async def recipients(request: UpdateRequest) -> list[str]:
    """The district's active technical contacts and the requester, sorted."""
    addresses: set[str] = set(
        cast(
            list[str],
            await Account.filter(
                districts__id=request.district_id, role=Role.TECHNICAL_CONTACT, active=True
            ).values_list("email", flat=True),
        )
    )
    if request.requested_by_id is not None:
        requester = await Account.get_or_none(id=request.requested_by_id, active=True)
        if requester is not None:
            addresses.add(requester.email)
    return sorted(addresses)


async def queue_notices(
    request: UpdateRequest, kind: NotificationKind, message: str | None, site: Site | None = None
) -> list[int]:
    """Write one outbox row per recipient; returns their ids for the mail queue."""
    addresses = await recipients(request)
    if not addresses:
        return []
    if site is None:
        site = Site(
            await District.get(id=request.district_id), await Environment.get(id=request.environment_id)
        )
    # Each reschedule sends the invitation again with a higher SEQUENCE, so calendars update it.
    sequence = await StatusChange.filter(
        update_request_id=request.id, to_status=UpdateStatus.SCHEDULED
    ).count()
    facts = RequestFacts(
        id=request.id,
        kind=request.kind,
        district_name=site.district.name,
        environment_kind=site.environment.kind.value,
        target_version=request.target_version,
        scheduled_start=request.scheduled_start,
        time_zone=site.district.time_zone,
        message=message,
        sequence=max(sequence - 1, 0),
    )
    notice = compose_notice(kind, facts)
    ids = []
    for address in addresses:
        row = await Notification.create(
            update_request_id=request.id,
            kind=kind,
            recipient=address,
            subject=notice.subject,
            body=notice.body,
            calendar=notice.calendar,
        )
        ids.append(row.id)
    return ids
