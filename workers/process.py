"""Entry points of the worker and scheduler processes (Redis mode)."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from dramatiq import Worker
from prometheus_client import start_http_server

from infra.bus import RedisBus, install_bus_sink
from infra.db import close_orm, init_orm
from infra.metrics import REGISTRY
from infra.settings import Settings
from workers.actors import declare_actors
from workers.announcements import Reannouncer
from workers.broker import add_worker_middleware, build_broker
from workers.dispatch_wake import DispatchWaker
from workers.errors import ConfigurationError
from workers.heartbeat import scheduler_heartbeat, start_worker_heartbeat
from workers.job_lease import RunningJobs
from workers.queue import DramatiqQueue, install_notification_sink
from workers.scheduler import Scheduler
from workers.webhook_dispatch_redis import redis_dispatcher

logger = logging.getLogger(__name__)

#: How long a stopping worker waits for running jobs (ms); unfinished ones are delivered again.
WORKER_SHUTDOWN_TIMEOUT_MS = 30_000
#: How long a stopping worker gives its runbooks to stop their steps and hand their requests back
#: (a command gets SIGTERM, then SIGKILL: `workers.executors.command`).
HAND_BACK_SECONDS = 20.0
#: From SIGTERM to exit at most: its two waits above, and a little for closing (under the worker's
#: stop_grace_period in docker-compose.yml). Past it the process logs where each thread waits and
#: exits (1), as a kill would leave it: its leases lapse, the guards stop its commands.
SHUTDOWN_DEADLINE_SECONDS = 55.0


def _require_redis(settings: Settings, what: str) -> str:
    if not settings.redis_url:
        raise ConfigurationError(f"{what} needs REDIS_URL (without it, `updatedesk dev` runs everything).")
    return settings.redis_url


def worker_main(settings: Settings, threads: int) -> None:
    """One dramatiq worker process: blocks until SIGTERM or SIGINT."""
    redis_url = _require_redis(settings, "updatedesk worker")
    broker = build_broker(settings)
    jobs = RunningJobs()
    actors = declare_actors(broker, settings, jobs)
    bus = RedisBus(redis_url, settings.redis_namespace)
    undo: list[Callable[[], None]] = []
    # Every worker process runs a webhook dispatcher; the one holding its lease dispatches.
    dispatcher = contextlib.AsyncExitStack()
    jobs_loop: list[asyncio.AbstractEventLoop] = []

    async def on_start() -> None:
        jobs_loop.append(asyncio.get_running_loop())
        queue = DramatiqQueue(actors)
        undo.append(install_bus_sink(bus))
        undo.append(install_notification_sink(queue))
        await dispatcher.enter_async_context(redis_dispatcher(settings, queue))

    async def on_stop() -> None:
        try:
            await dispatcher.aclose()
        finally:
            for step in reversed(undo):
                step()
            await bus.close()

    add_worker_middleware(broker, settings, on_start, on_stop)
    if settings.worker_metrics_port is not None:
        # Jobs by kind and outcome (updatedesk_jobs_total) for Prometheus to scrape.
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=REGISTRY)
    worker = Worker(broker, worker_timeout=int(settings.worker_idle_wait * 1000), worker_threads=threads)
    stopping = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker.start()
    heartbeat = start_worker_heartbeat(worker, settings)
    logger.info("worker started: %s threads, namespace %s", threads, settings.redis_namespace)
    try:
        stopping.wait()
    finally:
        logger.info("worker stopping")
        exit_past(SHUTDOWN_DEADLINE_SECONDS)
        heartbeat.stop()
        if jobs_loop:
            # Before dramatiq's stop, which would wait for the runbooks and then leave their
            # commands running: they stop now and their requests wait for the next worker.
            handing = asyncio.run_coroutine_threadsafe(jobs.hand_back_all(HAND_BACK_SECONDS), jobs_loop[0])
            try:
                handed = handing.result(timeout=HAND_BACK_SECONDS + 1)
            except Exception:
                logger.warning("worker stopping: running jobs did not all hand back in time", exc_info=True)
            else:
                if handed.left:
                    logger.warning(
                        "worker stopping: %s of %s running job(s) did not hand back within %.0f s",
                        handed.left, handed.running, HAND_BACK_SECONDS,
                    )  # fmt: skip
                else:
                    logger.info("worker stopping: %s running job(s) handed back", handed.running)
        try:
            worker.stop(timeout=WORKER_SHUTDOWN_TIMEOUT_MS)
        except Exception:
            # Its last step still has to run: it closes the ORM and stops the event loop, whose
            # thread would otherwise keep the process alive.
            logger.exception("worker stopping: dramatiq's stop failed half-way")
            broker.emit_after("worker_shutdown", worker)
        finally:
            broker.close()


def exit_past(seconds: float) -> None:
    """Exit (1) if the process is still alive `seconds` from now, saying where it waits."""

    def give_up() -> None:
        logger.error("worker stopping: not stopped after %.0f s; exiting now", seconds)
        sys.stdout.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True  # it must not keep the process alive itself
    timer.start()


async def scheduler_main(settings: Settings) -> None:
    """The scheduler process: dispatch loop until SIGTERM or SIGINT."""
    redis_url = _require_redis(settings, "updatedesk scheduler")
    broker = build_broker(settings)
    queue = DramatiqQueue(declare_actors(broker, settings))
    bus = RedisBus(redis_url, settings.redis_namespace)
    await init_orm(settings)
    scheduler = Scheduler(
        queue, settings, on_pass=scheduler_heartbeat(settings), reannouncer=Reannouncer(bus)
    )
    undo = [install_bus_sink(bus), install_notification_sink(queue)]
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, scheduler.stop)
    # The bus only publishes here: the scheduler wakes on the dispatch wake lists, not by
    # reading the stream.
    waker = DispatchWaker(redis_url, settings.redis_namespace, scheduler)
    waker.start()
    logger.info(
        "scheduler started: every %ss, namespace %s", settings.scheduler_interval, settings.redis_namespace
    )
    try:
        await scheduler.run()
    finally:
        await waker.close()
        for step in reversed(undo):
            step()
        await bus.close()
        await close_orm()
        broker.close()
