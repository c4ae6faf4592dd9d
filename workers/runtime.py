"""Wiring: which queue, bus and scheduler a process runs, on its own event loop.

- ``embedded_runtime(settings)``: the embedded default (no REDIS_URL). In-memory queue whose jobs
  are tasks on this loop, in-process bus, scheduler loop and webhook dispatcher as tasks; the app
  lifespan enters it.
- ``api_runtime(settings)``: an API process with Redis: jobs and mails go to dramatiq, events
  come from the one Redis subscription of this process.
- ``app_runtime(settings)``: whichever of the two the settings ask for.
Each installs the domain's after-commit sinks (events -> bus, mails -> queue) and removes them
on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from infra.bus import EventBus, InProcessBus, RedisBus, install_bus_sink
from infra.settings import Settings
from workers.actors import declare_actors
from workers.announcements import Reannouncer
from workers.broker import build_broker
from workers.embedded import EmbeddedQueue
from workers.embedded_replay import EmbeddedPositions, replay_unfanned
from workers.errors import ConfigurationError
from workers.executors import Executor
from workers.queue import DramatiqQueue, JobQueue, install_notification_sink
from workers.scheduler import Scheduler
from workers.webhook_dispatch import WebhookDispatcher, running


@dataclass
class Runtime:
    settings: Settings
    queue: JobQueue
    bus: EventBus
    #: The in-process scheduler (embedded only).
    scheduler: Scheduler | None = None
    #: The in-process webhook dispatcher (embedded only; worker processes run it with Redis).
    webhook_dispatcher: WebhookDispatcher | None = None
    _undo: list[Callable[[], None]] = field(default_factory=list)

    @property
    def embedded_queue(self) -> EmbeddedQueue | None:
        return self.queue if isinstance(self.queue, EmbeddedQueue) else None


@contextlib.asynccontextmanager
async def embedded_runtime(
    settings: Settings,
    *,
    executor: Executor | None = None,
    run_scheduler: bool = True,
    run_webhook_dispatcher: bool = True,
) -> AsyncIterator[Runtime]:
    """Everything in this process, on the running loop. The ORM must already be initialised."""
    queue = EmbeddedQueue(settings, executor)
    bus = InProcessBus()
    scheduler = Scheduler(queue, settings, reannouncer=Reannouncer(bus))
    runtime = Runtime(settings, queue, bus, scheduler)
    runtime._undo += [install_bus_sink(bus), install_notification_sink(queue), scheduler.install_wake_sink()]
    task = asyncio.create_task(scheduler.run(), name="updatedesk-scheduler") if run_scheduler else None
    # The webhook dispatcher reads this process's stream from its beginning (the stream is as new
    # as the process) and, stopping, fans out what is left: the deliveries wait for the next start.
    # What a killed process never fanned out goes into the new stream first.
    positions = EmbeddedPositions()
    runtime.webhook_dispatcher = WebhookDispatcher(bus.stream, queue, positions, drain_on_stop=True)
    dispatching = running(runtime.webhook_dispatcher) if run_webhook_dispatcher else None
    try:
        if dispatching is not None:
            await replay_unfanned(bus.stream)
            await dispatching.__aenter__()
        yield runtime
    finally:
        queue.stop_accepting()  # before the scheduler's last pass, which may still dispatch
        scheduler.stop()
        if task is not None:
            await task
        if dispatching is not None:
            await dispatching.__aexit__(None, None, None)  # after the last pass's events
            if runtime.webhook_dispatcher.position == bus.stream.last_id_now():
                await positions.stopped()  # all fanned out (the drain did not run out of time)
        for undo in reversed(runtime._undo):
            undo()
        await queue.close()
        await bus.close()


@contextlib.asynccontextmanager
async def api_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """An API process with Redis: enqueue to dramatiq, one Redis subscription for events."""
    if not settings.redis_url:
        raise ConfigurationError("api_runtime needs REDIS_URL; use embedded_runtime without it.")
    broker = build_broker(settings)
    queue = DramatiqQueue(declare_actors(broker, settings))
    bus = RedisBus(settings.redis_url, settings.redis_namespace)
    await bus.start()
    runtime = Runtime(settings, queue, bus)
    runtime._undo += [install_bus_sink(bus), install_notification_sink(queue)]
    try:
        yield runtime
    finally:
        for undo in reversed(runtime._undo):
            undo()
        await bus.close()
        broker.close()


def app_runtime(settings: Settings) -> contextlib.AbstractAsyncContextManager[Runtime]:
    """The runtime the API process (or `updatedesk dev`) should enter in its lifespan."""
    return embedded_runtime(settings) if settings.embedded else api_runtime(settings)
