"""One event record to one delivery per endpoint that may see it.

The dispatcher calls `fan_out` for each record it reads from the event stream, in stream order,
then enqueues a delivery job for each endpoint returned. Deliveries of one endpoint are attempted
in the order they were created, so stream order is each endpoint's order. A record fanned out
twice (the dispatcher stopped before storing its position) makes no second delivery: the
(endpoint, cursor) pair is unique.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import sql
from models.clock import utcnow
from models.enums import Role
from models.requests.queries import load_with_site, related
from models.tables import Account, Webhook, WebhookDelivery
from models.webhooks.payload import render_body
from models.webhooks.records import EventRecord
from models.webhooks.visibility import OwnerView, may_carry


async def candidate_webhooks(district_id: int) -> list[Webhook]:
    """Active endpoints for this district or for all districts, owners loaded, oldest first."""
    return (await candidates_by_district({district_id}))[district_id]


async def candidates_by_district(district_ids: set[int]) -> dict[int, list[Webhook]]:
    """`candidate_webhooks` of several districts in one statement (a batch of event records): the
    active endpoints, a short list, read whole with their owners and matched here (SQL text made
    once, models/sql.py: the dispatcher asks for every batch it reads, webhooks or none)."""
    found = await _ACTIVE_WITH_OWNERS.all([sql.db_value(Webhook, "active", True)])
    hooks = [cast(Webhook, hook) for hook, _ in found]
    return {
        district_id: [hook for hook in hooks if hook.district_id in (None, district_id)]
        for district_id in district_ids
    }


_ACTIVE_WITH_OWNERS = sql.Rows(Webhook, '"t0"."active"={} ORDER BY "t0"."id"', (("owner", Account),))


async def owners_linked_to(owner_ids: set[int], district_id: int) -> set[int]:
    """Which of these accounts are linked to the district now (one statement)."""
    if not owner_ids:
        return set()
    linked = await Account.filter(id__in=list(owner_ids), districts__id=district_id).values_list(
        "id", flat=True
    )
    return set(cast(list[int], linked))


def owner_view(owner: Account, linked: bool, district_id: int) -> OwnerView:
    ids = frozenset({district_id}) if linked else frozenset()
    return OwnerView(owner.id, owner.active, owner.role, ids)


async def fan_out(
    record: EventRecord, *, now: datetime | None = None, candidates: list[Webhook] | None = None
) -> list[int]:
    """Create the deliveries of `record`; returns the ids of the webhooks that got one.
    `candidates` (from `candidates_by_district`, read once for a batch of records) saves the read."""
    if not record.carried:
        return []
    hooks = candidates if candidates is not None else await candidate_webhooks(record.district_id)
    if not hooks:
        return []
    owners = {
        hook.owner_id for hook in hooks if related(hook, "owner", Account).role is not Role.HOSTING_STAFF
    }
    linked = await owners_linked_to(owners, record.district_id)
    carrying = [
        hook
        for hook in hooks
        if may_carry(
            owner_view(related(hook, "owner", Account), hook.owner_id in linked, record.district_id),
            hook.district_id,
            record.district_id,
        )
    ]
    if not carrying:
        return []
    loaded = await load_with_site(record.update_request_id, include_deleted=True)
    if loaded is None:
        return []  # the request is gone altogether: there is nothing to describe
    request, site = loaded
    requested_by = (
        await Account.get_or_none(id=request.requested_by_id) if request.requested_by_id is not None else None
    )
    body = render_body(record, request, site.district, site.environment, requested_by)
    now = now or utcnow()
    hook_ids = [hook.id for hook in carrying]
    try:
        return await _create_deliveries(record, hook_ids, body, now)
    except IntegrityError:
        # An endpoint deleted since the batch was read (its key is gone): the ones still there.
        left = await Webhook.filter(id__in=hook_ids, active=True).values_list("id", flat=True)
        return await _create_deliveries(record, cast(list[int], list(left)), body, now) if left else []


async def _create_deliveries(record: EventRecord, hook_ids: list[int], body: str, now: datetime) -> list[int]:
    """One PENDING delivery of `record` per endpoint still active, in one transaction.

    The endpoints were read before (once per batch): one may have been deactivated since, and a
    deactivation gives up only the deliveries that exist when it runs. It holds the endpoint's row
    (`FOR UPDATE`, `models.webhooks.attempts.record_outcome`) from before it gives them up until it
    commits, and a delivery's insert takes the key-share lock of its endpoint's row until this
    transaction ends: so either the deactivation waits for this commit and gives these up too, or
    it committed first, the re-read below sees the endpoint inactive, and none is made for it."""
    uids = {hook_id: str(uuid.uuid4()) for hook_id in hook_ids}
    async with in_transaction():
        # A record fanned out again (the dispatcher stopped before storing its position) meets
        # the unique (endpoint, cursor) pair: that endpoint has it already, no second delivery.
        await WebhookDelivery.bulk_create(
            [
                WebhookDelivery(
                    webhook_id=hook_id,
                    uid=uid,
                    event_cursor=record.cursor,
                    event_type=record.type,
                    update_request_id=record.update_request_id,
                    district_id=record.district_id,
                    body=body,
                    created_at=now,
                    next_attempt_at=now,
                )
                for hook_id, uid in uids.items()
            ],
            ignore_conflicts=True,
        )
        made = cast(
            list[tuple[int, bool]],
            await WebhookDelivery.filter(uid__in=list(uids.values())).values_list(
                "webhook_id", "webhook__active"
            ),
        )
        stopped = [hook_id for hook_id, active in made if not active]
        if stopped:
            await WebhookDelivery.filter(uid__in=[uids[hook_id] for hook_id in stopped]).delete()
    return sorted(hook_id for hook_id, active in made if active)
