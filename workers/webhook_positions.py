"""Where the webhook dispatcher keeps how far it has read the event stream: in the database
(`models.webhooks.position`, Redis deployments) or in memory (the embedded default)."""

from __future__ import annotations

from typing import Protocol

from infra.bus import STREAM_START
from models.webhooks.position import load_position, store_position


class Positions(Protocol):
    """Where the dispatcher keeps its position."""

    async def load(self) -> str | None: ...

    async def store(self, record_id: str) -> None: ...


class StoredPositions:
    """In the database, named after the stream (`models.webhooks.position`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def load(self) -> str | None:
        return await load_position(self.name)

    async def store(self, record_id: str) -> None:
        await store_position(self.name, record_id)


class MemoryPositions:
    """The embedded default: the stream lives and dies with the process, and so does the position
    (a new process has a new, empty stream: it starts at its beginning, nothing is lost)."""

    def __init__(self) -> None:
        self.position: str | None = STREAM_START

    async def load(self) -> str | None:
        return self.position

    async def store(self, record_id: str) -> None:
        self.position = record_id
