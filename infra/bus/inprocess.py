"""The bus interface, the in-process bus of the embedded default, and the after-commit sink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from infra.bus.fanout import DEFAULT_SUBSCRIBER_QUEUE, Fanout, OverflowPolicy, Subscription
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink


class EventBus(Protocol):
    async def publish(self, event: UpdateRequestChanged) -> None: ...

    def subscribe(
        self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE, *, overflow: OverflowPolicy = "drop_oldest"
    ) -> Subscription: ...

    @property
    def subscriber_count(self) -> int:
        """Local subscribers listening now."""
        ...

    async def close(self) -> None: ...


class InProcessBus:
    """Events stay inside this process (the embedded default)."""

    def __init__(self) -> None:
        self._fanout = Fanout()

    async def publish(self, event: UpdateRequestChanged) -> None:
        self._fanout.deliver(event)

    def subscribe(
        self, max_queued: int = DEFAULT_SUBSCRIBER_QUEUE, *, overflow: OverflowPolicy = "drop_oldest"
    ) -> Subscription:
        return self._fanout.add(max_queued, overflow)

    @property
    def subscriber_count(self) -> int:
        return len(self._fanout)

    async def close(self) -> None:
        self._fanout.close_all()


def install_bus_sink(bus: EventBus) -> Callable[[], None]:
    """Publish every domain event to `bus` after its commit. Returns a function that uninstalls."""

    async def publish(event: UpdateRequestChanged) -> None:
        await bus.publish(event)

    add_event_sink(publish)
    return lambda: remove_event_sink(publish)
