"""The scheduler's side: due SCHEDULED requests move to NOT_STARTED, each holding its environment
and a lease it must be begun within (a compare-and-set on the request, a conditional claim of the
environment: several schedulers never dispatch one request twice, nor two requests on one site).

Before that, the start is re-checked (models.requests.slots): a request that can no longer start in
time to finish inside its window, or that is due inside a blackout, is re-slotted instead (one
of a paused group rollout is set aside until the rollout resumes, unless staff scheduled it
themselves since the pause: `models.rollouts.held`), unless it is a version update whose site
already runs its target or newer: that one completes without running, as at the worker's begin
(`models.requests.completion`), with no new slot to announce.
A due request whose site is held by another stays SCHEDULED and is tried again on the next pass.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import cast

from tortoise.transactions import in_transaction

from models import sql
from models.access import DISPATCHER
from models.clock import utcnow
from models.enums import UpdateStatus
from models.errors import DomainError, statement_cancelled
from models.events import AfterCommit, deliver
from models.requests import claims, lease_clock
from models.requests.completion import already_there, complete_without_running
from models.requests.moves import record_move
from models.requests.queries import load_with_site
from models.requests.slots import cannot_start, decision_rules, reslot, take_district_turn
from models.rollouts import held, waves
from models.running import DEFAULT_POLICY, RunPolicy
from models.tables import UpdateRequest

logger = logging.getLogger(__name__)

#: Bound on the pages of one pass, so a pass always ends.
MAX_PAGES = 100


async def dispatch(request_id: int, now: datetime | None = None, policy: RunPolicy = DEFAULT_POLICY) -> bool:
    """Move one due SCHEDULED request to NOT_STARTED. False when it is not dispatched: another
    dispatcher won, it is no longer due (rescheduled, cancelled), its site is busy, its group
    rollout does not let it start yet, it could no longer start in its slot and was re-slotted
    (or, already on its target version, completed without running), or the database cancelled a
    statement of it (a lock held elsewhere past the statement timeout: a later pass tries again).
    Its lease runs on the database's clock (`models.requests.lease_clock`; on `now` when pinned)."""
    pinned, now = now, now or utcnow()
    after = AfterCommit()
    try:
        async with in_transaction():
            loaded = await load_with_site(request_id)
            if loaded is None:
                return False
            request, site = loaded
            if (
                request.status is not UpdateStatus.SCHEDULED
                or request.scheduled_start is None
                or request.scheduled_start > now
            ):
                return False
            rules = await decision_rules(request, site.district, policy, now)
            blocked = cannot_start(request, rules, now)
            if blocked and not already_there(request, site):
                # Re-slotted even while its site is busy: waiting would not bring its window back.
                # A paused rollout's request is set aside instead: a new slot would not hold either
                # (one staff scheduled themselves since the pause is theirs, and re-slotted).
                # The district first, then the rollout: a resume locks them in that order.
                await take_district_turn(request)
                if not await held.hold_if_paused(request, now, after):
                    await reslot(request, site, rules, now, after)
                dispatched = False
            else:
                kind = site.environment.kind
                # Read once for the look and the claim (begin claims again, reading them anew).
                needed, blocker = await claims.needed_and_blocker(request, kind)
                if blocker is not None:
                    return False  # a cheap look first; the claim below is what decides
                # Its group rollout is paused, halted or has a full wave (blocked, it runs nothing).
                if not blocked and not await waves.may_start(request):
                    return False
                await record_move(
                    request,
                    UpdateStatus.NOT_STARTED,
                    DISPATCHER,
                    after,
                    now=now,
                    site=site,
                    dispatched_at=now,
                    lease_token=None,
                    lease_expires_at=lease_clock.expiry(policy.begin_within(0), pinned),
                    reclaims=0,
                    attempts=0,  # tries of this run; earlier ones only re-slotted it
                )
                await claims.claim(request, kind, environment_ids=needed, accept_own=False)
                if blocked:
                    # Kept from its slot, but its site already runs its version or a newer one:
                    # nothing would run, so it completes now, as the worker's begin would have it,
                    # rather than move to a new slot with an invitation for work that never runs.
                    # Through NOT_STARTED (the one move to COMPLETED without running), holding the
                    # site like any start: a busy site makes it wait, unmoved, until it is free.
                    await complete_without_running(request, site, now, after)
                dispatched = not blocked
    except (DomainError, claims.EnvironmentBusy):
        return False
    except Exception as error:
        if not statement_cancelled(error):
            raise
        # A lock held elsewhere past the statement timeout (staff editing it, a stuck session):
        # this request waits for a later pass, and the rest of the pass goes on without it.
        logger.warning("request %s: not dispatched this pass: %s", request_id, error)
        return False
    await deliver(after)
    return dispatched


async def due_request_ids(
    now: datetime | None = None, limit: int = 100, after: tuple[datetime, int] | None = None
) -> list[tuple[datetime, int]]:
    """Due SCHEDULED requests as (start, id), in start order, after the key `after` (a page)."""
    now = now or utcnow()
    values = [sql.db_value(UpdateRequest, "status", UpdateStatus.SCHEDULED), _start_value(now)]
    if after is None:
        statement = _DUE_FIRST_PAGE
    else:
        start, pk = after
        statement = _DUE_PAGE_AFTER
        values += [_start_value(start), _start_value(start), pk]
    _, rows = await sql.run(UpdateRequest, statement, [*values, limit])
    return [(_start_of(start), pk) for start, pk in rows]


# Every scheduler pass reads its due requests, and the next start after them: SQL text made once.
_SCHEDULED = '"status"={} AND "deleted_at" IS NULL'
_DUE = f'SELECT "scheduled_start","id" FROM "update_request" WHERE {_SCHEDULED} AND "scheduled_start"<={{}}'
_PAGE = ' ORDER BY "scheduled_start","id" LIMIT {}'
_DUE_FIRST_PAGE = sql.Sql(_DUE + _PAGE)
_DUE_PAGE_AFTER = sql.Sql(_DUE + ' AND ("scheduled_start">{} OR ("scheduled_start"={} AND "id">{}))' + _PAGE)
_NEXT_START = sql.Sql(
    f'SELECT "scheduled_start" FROM "update_request" WHERE {_SCHEDULED} AND "scheduled_start">{{}}'
    ' ORDER BY "scheduled_start" LIMIT 1'
)


def _start_value(at: datetime) -> object:
    return sql.db_value(UpdateRequest, "scheduled_start", at)


def _start_of(raw: object) -> datetime:
    return cast(datetime, sql.python_value(UpdateRequest, "scheduled_start", raw))


async def next_start_after(now: datetime) -> datetime | None:
    """The earliest start of a SCHEDULED request not yet due: when the next pass has work."""
    values = [sql.db_value(UpdateRequest, "status", UpdateStatus.SCHEDULED), _start_value(now)]
    _, rows = await sql.run(UpdateRequest, _NEXT_START, values)
    return _start_of(rows[0][0]) if rows else None


async def dispatch_pages(
    now: datetime | None = None, limit: int = 100, policy: RunPolicy = DEFAULT_POLICY
) -> AsyncIterator[list[int]]:
    """Every due request once, a page at a time; yields the ids this dispatcher won on each page.

    Pages are keyed on (start, id), not re-read from the top: requests left waiting for a busy
    site never hide the ones behind them. Each dispatch reads the clock anew unless `now` is pinned
    (its lease is on the database's clock then)."""
    due = now or utcnow()
    key: tuple[datetime, int] | None = None
    for _ in range(MAX_PAGES):
        page = await due_request_ids(due, limit, key)
        if not page:
            return
        key = page[-1]
        yield [pk for _, pk in page if await dispatch(pk, now, policy)]


async def dispatch_due(
    now: datetime | None = None, limit: int = 100, policy: RunPolicy = DEFAULT_POLICY
) -> list[int]:
    """One dispatcher pass: every due request this dispatcher won, in start order."""
    won: list[int] = []
    async for page in dispatch_pages(now, limit, policy):
        won.extend(page)
    return won
