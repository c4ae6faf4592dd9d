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
    """Renew the lease well before it lapses; on finding it lost, stop the job's step and end."""
    while True:
        await asyncio.sleep(policy.renew_every_seconds)
        try:
            if not await leases.renew_lease(request_id, lease.token, policy):
                logger.warning("request %s: this job lost its lease to another; stopping", request_id)
                lease.lose()
                return
        except Exception:  # the database is briefly away: keep working, try again next time
            logger.exception("request %s: could not renew the lease; trying again", request_id)
