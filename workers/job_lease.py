"""A job's hold on the request it runs: the lease token every write of the job carries, renewed in
the background every third of its length; a renewal that finds it gone stops the job's running
step (`workers.runbooks`)."""

from __future__ import annotations

import asyncio
import logging

from models.requests import leases
from models.running import RunPolicy

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This job's lease was taken over: stop without touching the request."""


class Lease:
    """This job's hold on its request. When a renewal finds it gone, only the executor's running
    step is cancelled (a command killed, a copy stopped): never a database transaction half-way,
    which on SQLite would leave the connection locked. Every later write fails on the token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lost = False
        self.work: asyncio.Future[None] | None = None

    def lose(self) -> None:
        self.lost = True
        if self.work is not None and not self.work.done():
            self.work.cancel()

    def check(self) -> None:
        if self.lost:
            raise LeaseLost


async def keep_lease(request_id: int, lease: Lease, policy: RunPolicy) -> None:
    """Renew the lease well before it lapses; on finding it lost, stop the job's step and end.

    While the database is away a renewal fails (or does not answer) and is tried again as long as
    the lease holds; once it has lapsed by this job's clock the scheduler may hand the request to
    another job, so this one stops its step as if it had lost the lease: never two jobs on a site."""
    loop = asyncio.get_running_loop()
    length = policy.lease.total_seconds()
    lapses_at = loop.time() + length  # begin took the lease just before
    while True:
        await asyncio.sleep(policy.renew_every_seconds)
        asked_at = loop.time()
        renewal = asyncio.ensure_future(leases.renew_lease(request_id, lease.token, policy))
        renewal.add_done_callback(_outcome_read)
        done, _ = await asyncio.wait({renewal}, timeout=max(0.0, lapses_at - asked_at))
        error = None if not done or renewal.cancelled() else renewal.exception()
        if done and error is None:
            if not renewal.result():
                logger.warning("request %s: this job lost its lease to another; stopping", request_id)
                lease.lose()
                return
            lapses_at = asked_at + length
        elif loop.time() >= lapses_at:
            logger.error("request %s: the lease lapsed without a renewal (%r); stopping", request_id, error)
            lease.lose()
            return
        else:  # the database is briefly away: keep working, try again next time
            logger.warning("request %s: could not renew the lease (%r); trying again", request_id, error)


def _outcome_read(renewal: asyncio.Future[bool]) -> None:
    """A renewal left running when its lease lapsed ends unobserved: read its outcome anyway."""
    if not renewal.cancelled():
        renewal.exception()
