"""The in-process bus of the embedded default, and the after-commit sink."""

from __future__ import annotations

from collections.abc import Callable

from infra.bus.base import RecordListener, StreamBus
from infra.bus.fanout import DEFAULT_SUBSCRIBER_QUEUE, OverflowPolicy, Subscription
from infra.bus.memory import MemoryStream
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink

#: What API processes, workers and the scheduler hold: either bus.
EventBus = StreamBus


class InProcessBus(StreamBus):
    """Events stay inside this process (the embedded default): an in-memory stream with the
    same record ids, order and retention as Redis, kept while the process runs. It starts
    reading on first use."""

    stream: MemoryStream

    def __init__(self, stream: MemoryStream | None = None) -> None:
        super().__init__(stream or MemoryStream())

    def subscribe(
        self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE, *, overflow: OverflowPolicy = "drop_oldest"
    ) -> Subscription:
        subscription = super().subscribe(max_queued, overflow=overflow)
        self._start_reading()
        return subscription

    def add_listener(self, listener: RecordListener) -> None:
        super().add_listener(listener)
        self._start_reading()

    def _start_reading(self) -> None:
        if self.follow_state.position is None:
            self.follow_state.position = self.stream.last_id_now()
        super()._start_reading()


def install_bus_sink(bus: StreamBus) -> Callable[[], None]:
    """Publish every domain event to `bus` after its commit. Returns a function that uninstalls."""

    async def publish(event: UpdateRequestChanged) -> None:
        await bus.publish(event)

    add_event_sink(publish)
    return lambda: remove_event_sink(publish)
