"""Run a coroutine at once as far as it gets without waiting; only what must wait goes to a task.

Sending a frame on a socket that can take it never waits (uvicorn writes it to the transport in
place), so the live outbox sends its frames inline and makes a task only for a socket that must
wait for its peer: one event to 10,000 sockets is 10,000 writes, not 10,000 tasks. Python 3.12's
eager tasks do the same; this runs on 3.11 too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


class _Rest:
    """The rest of a coroutine that stopped at `pending` (a future it waits for): awaited by a
    task, which then waits for that future and drives the coroutine on."""

    __slots__ = ("coroutine", "pending")

    def __init__(self, coroutine: Coroutine[Any, Any, None], pending: Any) -> None:
        self.coroutine = coroutine
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        value = self.pending
        while True:
            try:
                sent = yield value
            except BaseException as error:  # cancelled, or the awaited future failed
                try:
                    value = self.coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    value = self.coroutine.send(sent)
                except StopIteration:
                    return


async def _finish(rest: _Rest) -> None:
    await rest


def start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coroutine` until it first waits; None if it finished, else the task that finishes it.
    An exception it raises before waiting is raised here."""
    try:
        pending = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_finish(_Rest(coroutine, pending)))
