"""The embedded default (no REDIS_URL): jobs run as asyncio tasks on the caller's event loop.

Tortoise's connections belong to one loop, so the embedded worker shares the server's loop
instead of using threads. Same job code as the dramatiq actors; same interface as
``workers.queue.DramatiqQueue``; ``wait_idle()`` lets tests wait until every job has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from infra.settings import Settings
from workers.errors import MailDeliveryError
from workers.executors import Executor
from workers.job_lease import RunningJobs
from workers.mail import MAIL_MAX_ATTEMPTS, deliver_notification
from workers.runbooks import run_request
from workers.webhooks import run_webhook_job

logger = logging.getLogger(__name__)

#: Retry delays of a mail the SMTP server refused: first wait (doubled each time) and ceiling.
MAIL_RETRY_DELAY = 5.0
MAIL_RETRY_DELAY_MAX = 300.0
#: On close, running jobs get this long to finish before they are cancelled: a job cancelled while
#: it opens a transaction would leave the one SQLite connection locked (Tortoise takes the lock
#: before BEGIN and gives it back only on leaving the block it never entered).
CLOSE_GRACE_SECONDS = 3.0


class EmbeddedQueue:
    def __init__(self, settings: Settings, executor: Executor | None = None) -> None:
        self.settings = settings
        self.executor = executor
        self.mail_retry_delay = MAIL_RETRY_DELAY
        self._tasks: set[asyncio.Task[None]] = set()
        self._running_requests: set[int] = set()
        # One job per webhook endpoint at a time (its deliveries go in order); a job asked for
        # while one runs makes that one go round again.
        self._running_webhooks: set[int] = set()
        self._webhooks_again: set[int] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self.jobs = RunningJobs()

    def stop_accepting(self) -> None:
        """Shutting down: start no more runbooks or webhook jobs. A request dispatched now keeps its
        lease, which lapses, and the scheduler enqueues it again after the next start."""
        self._closing = True

    async def enqueue_update_request(self, request_id: int) -> None:
        if self._closing:
            logger.info("shutting down: update request %s is left for the next start", request_id)
            return
        if request_id in self._running_requests:
            return  # this process is already running it; a second runner would repeat steps
        self._running_requests.add(request_id)
        self._spawn(self._run_update_request(request_id), f"update-request-{request_id}")

    async def enqueue_notification(self, notification_id: int) -> None:
        self._spawn(self._send_notification(notification_id), f"notification-{notification_id}")

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None:
        if delay <= 0:
            self._start_webhook(webhook_id)
            return

        def fire() -> None:
            self._timers.discard(handle)
            self._start_webhook(webhook_id)

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)

    def _start_webhook(self, webhook_id: int) -> None:
        if self._closing:
            return  # its deliveries stay due; the scheduler's sweep enqueues them after the next start
        if webhook_id in self._running_webhooks:
            self._webhooks_again.add(webhook_id)
            return
        self._running_webhooks.add(webhook_id)
        self._spawn(self._deliver_webhook(webhook_id), f"webhook-{webhook_id}")

    async def _deliver_webhook(self, webhook_id: int) -> None:
        try:
            while True:
                self._webhooks_again.discard(webhook_id)
                try:
                    await run_webhook_job(webhook_id, self.settings, self)
                except Exception:
                    # The deliveries stay PENDING; the scheduler's sweep enqueues them again.
                    logger.exception("webhook %s: job failed", webhook_id)
                if webhook_id not in self._webhooks_again:
                    return
        finally:
            self._running_webhooks.discard(webhook_id)

    def _spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(job, name=name)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def _run_update_request(self, request_id: int) -> None:
        try:
            await run_request(request_id, self.settings, self.executor, self.jobs)
        except Exception:
            # The job stopped renewing its lease: the scheduler's pass finds it lapsed, enqueues the
            # job again, and gives the request up once its attempts are spent. Nothing is stranded.
            logger.exception("update request %s: job failed", request_id)
        finally:
            self._running_requests.discard(request_id)

    async def _send_notification(self, notification_id: int) -> None:
        delay = self.mail_retry_delay
        for _ in range(MAIL_MAX_ATTEMPTS):
            try:
                await deliver_notification(notification_id, self.settings)
                return
            except MailDeliveryError as error:
                logger.warning("%s; retrying in %.0fs", error, delay)
            except Exception:
                logger.exception("notification %s: job failed", notification_id)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAIL_RETRY_DELAY_MAX)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def wait_idle(self, within: float) -> None:
        """Wait until no job runs (jobs started by jobs included); TimeoutError after `within` s."""
        async with asyncio.timeout(within):
            while self._tasks:
                await self._idle.wait()

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Runbooks stop their steps and hand their requests back (the next start resumes them
        from their checkpoints, with no try counted); other jobs get `grace` seconds to finish,
        then the rest are cancelled (webhook deliveries stay due)."""
        self.stop_accepting()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.jobs.hand_back_all(grace)
        with contextlib.suppress(TimeoutError):
            await self.wait_idle(grace)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
