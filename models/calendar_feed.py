"""Private calendar feeds: each account's `GET /calendar/<secret>.ics`, listing the scheduled work
and the blackouts of its districts, for Outlook and Google Calendar to subscribe to.

The URL's secret is the only credential. It is an HMAC of a random per-account nonce under the
feed key (`UPDATEDESK_CALENDAR_FEED_KEY`, or a key the service keeps in its database when none is
configured), so the account's page can show the URL again at any time while the database holds
only the nonce and the secret's SHA-256. Rotating draws a new nonce: the old URL is unknown at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from tortoise.exceptions import IntegrityError

from models.access import Actor, actor_for_account
from models.blackouts import overlapping, visible_blackouts
from models.calendars import CalendarEntry, InvitationMessage, blackout_uid, compose_feed, latest_invitation
from models.clock import utcnow
from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.notices import RequestFacts, calendar_entry
from models.requests.queries import related, visible_requests
from models.tables import (
    Account,
    Blackout,
    CalendarFeed,
    District,
    ServiceKey,
    StatusChange,
    UpdateGroup,
)

#: Feed secrets look like API tokens (`ud_` prefix), so log redaction blanks them the same way.
FEED_SECRET_PREFIX = "ud_cal_"
_FEED_SECRET = re.compile(r"ud_cal_[A-Za-z0-9_-]{43}")
FEED_KEY_NAME = "calendar-feed"
FEED_NAME = "Campus Hosting maintenance"
#: Work that will happen or is happening: what a feed lists.
FEED_STATUSES = (UpdateStatus.SCHEDULED, UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS)
#: Blackouts that ended up to this long ago are still listed (calendars keep recent history).
FEED_PAST = timedelta(days=30)
#: Request ids per read of their histories: far below either database's limit of bind parameters.
HISTORY_IDS_PER_READ = 10_000
#: Blackouts are shown in UTC: they are absolute periods, not a district's local hours.
BLACKOUT_ZONE = "UTC"


async def feed_key(configured: str | None) -> bytes:
    """The key feed secrets derive from: the configured one, else the service's own (made once,
    shared by every process through the database)."""
    if configured:
        return configured.encode()
    row = await ServiceKey.get_or_none(name=FEED_KEY_NAME)
    if row is None:
        try:
            row = await ServiceKey.create(name=FEED_KEY_NAME, value=secrets.token_urlsafe(48))
        except IntegrityError:  # another process made it first
            row = await ServiceKey.get(name=FEED_KEY_NAME)
    return row.value.encode()


def derive_secret(key: bytes, nonce: str) -> str:
    digest = hmac.new(key, f"calendar-feed:{nonce}".encode(), hashlib.sha256).digest()
    return FEED_SECRET_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _save(account_id: int, nonce: str, key: bytes, now: datetime) -> str:
    secret = derive_secret(key, nonce)
    values: dict[str, Any] = {"nonce": nonce, "secret_hash": hash_secret(secret), "rotated_at": now}
    if not await CalendarFeed.filter(account_id=account_id).update(**values):
        try:
            await CalendarFeed.create(account_id=account_id, **values)
        except IntegrityError:  # made concurrently: take the one that won
            return await feed_secret(account_id, key, now)
    return secret


async def feed_secret(account_id: int, key: bytes, now: datetime | None = None) -> str:
    """The account's current feed secret, made on first use."""
    row = await CalendarFeed.get_or_none(account_id=account_id)
    if row is None:
        return await _save(account_id, secrets.token_hex(32), key, now or utcnow())
    secret = derive_secret(key, row.nonce)
    if row.secret_hash != hash_secret(secret):  # the key changed since: the old URL stays dead
        await CalendarFeed.filter(id=row.id).update(secret_hash=hash_secret(secret))
    return secret


async def rotate_feed(account_id: int, key: bytes, now: datetime | None = None) -> str:
    """A new secret for the account's feed; the old URL answers 404 from now on."""
    return await _save(account_id, secrets.token_hex(32), key, now or utcnow())


async def account_of_secret(secret: str, key: bytes) -> Account | None:
    """The active account whose current feed secret this is; None for anything else."""
    if not _FEED_SECRET.fullmatch(secret):
        return None
    row = await CalendarFeed.get_or_none(secret_hash=hash_secret(secret)).select_related("account")
    if row is None or not hmac.compare_digest(derive_secret(key, row.nonce), secret):
        return None
    account = related(row, "account", Account)
    return account if account.active else None


async def account_actor(account: Account) -> Actor:
    if account.role is Role.HOSTING_STAFF:
        return actor_for_account(account.id, account.role, frozenset())
    ids = cast(list[int], await account.districts.all().values_list("id", flat=True))
    return actor_for_account(account.id, account.role, frozenset(ids))


async def _invitations(request_ids: list[int]) -> dict[int, InvitationMessage]:
    histories: dict[int, list[tuple[UpdateStatus, datetime]]] = {}
    # A staff feed may list more requests than one statement can carry bind parameters (PostgreSQL
    # 32,767; SQLite 32,766 by default): their histories are read a slice of ids at a time (each
    # slice by the (update_request_id, at) index), in history order within each request.
    for first in range(0, len(request_ids), HISTORY_IDS_PER_READ):
        rows = await (
            StatusChange.filter(update_request_id__in=request_ids[first : first + HISTORY_IDS_PER_READ])
            .order_by("id")
            .values_list("update_request_id", "to_status", "at")
        )
        for request_id, status, at in rows:
            histories.setdefault(request_id, []).append((UpdateStatus(status), at))
    found = {pk: latest_invitation(history) for pk, history in histories.items()}
    return {pk: message for pk, message in found.items() if message is not None}


async def work_entries(actor: Actor) -> list[CalendarEntry]:
    """The scheduled work the actor sees, as the events its invitations announced."""
    # Only the columns an event shows: a staff feed may hold tens of thousands of requests, and
    # whole ORM rows (with their district and environment) cost seconds of CPU at that size.
    rows = await (
        visible_requests(actor)
        .filter(status__in=list(FEED_STATUSES), scheduled_start__isnull=False)
        .order_by("scheduled_start", "id")
        .values_list(
            "id", "kind", "target_version", "scheduled_start", "updated_at",
            "district__name", "district__time_zone", "environment__kind",
        )
    )  # fmt: skip
    invitations = await _invitations([row[0] for row in rows])
    entries = []
    for pk, kind, target, start, updated_at, district_name, time_zone, environment_kind in rows:
        facts = RequestFacts(
            id=pk,
            kind=UpdateKind(kind),
            district_name=district_name,
            environment_kind=EnvironmentKind(environment_kind).value,
            target_version=target,
            scheduled_start=start,
            time_zone=time_zone,
            message=None,
        )
        invitation = invitations.get(pk)
        sequence, stamped = (invitation.sequence, invitation.stamped_at) if invitation else (0, updated_at)
        entries.append(calendar_entry(facts, sequence, stamped))
    return entries


def _scope_text(row: Blackout) -> str:
    if row.district_id is not None:
        return related(row, "district", District).name
    if row.update_group_id is not None:
        return f"the districts of {related(row, 'update_group', UpdateGroup).name}"
    if row.hosting_model is not None:
        return f"{row.hosting_model.value.replace('_', ' ').title()} districts"
    return "all districts"


def blackout_entries(rows: Iterable[Blackout]) -> list[CalendarEntry]:
    return [
        CalendarEntry(
            uid=blackout_uid(row.id),
            summary=f"Blackout: {row.reason}",
            description=f"No maintenance starts in this period for {_scope_text(row)}: {row.reason}",
            start=row.start,
            end=row.end,
            time_zone=BLACKOUT_ZONE,
            sequence=0,  # blackouts are created and deleted, never changed
            stamped_at=row.created_at,
        )
        for row in rows
    ]


async def feed_of(account: Account, now: datetime | None = None) -> bytes:
    """The iCalendar body of the account's feed: its districts' scheduled work and blackouts."""
    actor = await account_actor(account)
    since = (now or utcnow()) - FEED_PAST
    query = overlapping(await visible_blackouts(actor), since, None)
    blackouts = await query.select_related("district", "update_group")
    entries = [*await work_entries(actor), *blackout_entries(blackouts)]
    # Thousands of events take seconds of CPU to render (icalendar is pure Python): in a thread, so
    # the event loop goes on answering everyone else (and, embedded, running jobs and the scheduler).
    return await asyncio.to_thread(compose_feed, FEED_NAME, entries)
