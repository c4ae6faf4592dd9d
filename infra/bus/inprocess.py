"""The in-process bus of the embedded default, and the after-commit sink."""

from __future__ import annotations

from collections.abc import Callable

from infra.bus.base import RecordListener, StreamBus
from infra.bus.memory import MemoryStream
from infra.bus.ordering import HOLD_SECONDS
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink

#: What API processes, workers and the scheduler hold: either bus.
EventBus = StreamBus


class InProcessBus(StreamBus):
    """Events stay inside this process (the embedded default): an in-memory stream with the
    same record ids, order and retention as Redis, kept while the process runs. Local
    subscribers get each event as it is published; listeners (the live hub) from the reading
    loop, which starts when the first one is added."""

    stream: MemoryStream
    fanout_on_read = False

    def __init__(self, stream: MemoryStream | None = None, *, hold_seconds: float = HOLD_SECONDS) -> None:
        super().__init__(stream or MemoryStream(), hold_seconds=hold_seconds)

    async def publish(self, event: UpdateRequestChanged) -> str | None:
        record_id = await super().publish(event)
        if record_id is not None:
            self._fanout.deliver(event)  # at once, in stream order: one process writes and reads
        return record_id

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
