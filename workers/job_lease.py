"""A job's hold on the request it runs: the lease token every write of the job carries, renewed in
the background every third of its length; a renewal that finds it gone stops the job's running
step (`workers.runbooks`). A process that is stopping (a deploy, a restart) hands its jobs'
requests back through `RunningJobs`: their steps stop, and the next job resumes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import NamedTuple

from models.requests import leases
from models.running import RunPolicy

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This job's lease was taken over: stop without touching the request."""


class JobStopping(Exception):
    """This job's process is stopping: hand the request back (its lease, and the try it took)."""


class Lease:
    """This job's hold on its request. When a renewal finds it gone, only the executor's running
    step is cancelled (a command killed, a copy stopped): never a database transaction half-way,
    which on SQLite would leave the connection locked. Every later write fails on the token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lost = False
        self.stopping = False
        self.work: asyncio.Future[None] | None = None

    def lose(self) -> None:
        self.lost = True
        self._stop_work()

    def hand_back(self) -> None:
        """The process is stopping: stop the running step (its command with it) and end the job."""
        self.stopping = True
        self._stop_work()

    def _stop_work(self) -> None:
        if self.work is not None and not self.work.done():
            self.work.cancel()

    def check(self) -> None:
        if self.lost:
            raise LeaseLost
        if self.stopping:
            raise JobStopping

    def stopped_by_us(self) -> Exception | None:
        """Why the running step was cancelled, when this lease cancelled it; None otherwise."""
        if self.lost:
            return LeaseLost()
        if self.stopping:
            return JobStopping()
        return None


class RunningJobs:
    """The runbook jobs running in one process. A stopping process (`hand_back_all`) starts no
    more and stops those running: each stops its step at once and gives its request back, so the
    step's command does not outlive the process (it runs in its own process group, which a
    worker's exit would leave running beside the next job's copy of the step)."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Task[object], Lease] = {}
        self.closed = False

    @contextlib.contextmanager
    def running(self, lease: Lease) -> Iterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self._running[task] = lease
        if self.closed:
            lease.hand_back()  # began while the process was closing: give it back at once
        try:
            yield
        finally:
            self._running.pop(task, None)

    async def hand_back_all(self, within: float) -> HandBack:
        """Start no more jobs; stop the running ones and wait up to `within` seconds for them to
        have handed their requests back. How many were running, and how many still are."""
        self.closed = True
        jobs = dict(self._running)
        for lease in jobs.values():
            lease.hand_back()
        if not jobs:
            return HandBack(0, 0)
        _, pending = await asyncio.wait(list(jobs), timeout=within)
        return HandBack(len(jobs), len(pending))


class HandBack(NamedTuple):
    """What a stopping process's `hand_back_all` found: jobs running, and of them those still
    running when its wait ended (their leases lapse; the scheduler gives their requests on)."""

    running: int
    left: int


async def keep_lease(request_id: int, lease: Lease, policy: RunPolicy, taken_at: float) -> None:
    """Renew the lease well before it lapses; on finding it lost, stop the job's step and end.

    While the database is away a renewal fails (or does not answer) and is tried again as long as
    the lease holds; once it may have lapsed the scheduler may hand the request to another job, so
    this one stops its step as if it had lost the lease: never two jobs on a site.

    The lease lapses by the database's clock (`models.requests.lease_clock`); this job judges it
    by how long ago it asked, on its monotonic clock (`taken_at`: the loop's time before begin
    was sent), never by its wall clock. A lease the database wrote after that instant lapses no
    earlier than this job believes."""
    loop = asyncio.get_running_loop()
    length = policy.lease.total_seconds()
    lapses_at = taken_at + length
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
