"""Run a coroutine at once as far as it gets without waiting; only what must wait goes to a task.

Sending a frame on a socket that can take it never waits (uvicorn writes it to the transport in
place), so the live outbox sends its frames inline and makes a task only for a socket that must
wait for its peer: one event to 10,000 sockets is 10,000 writes, not 10,000 tasks. Python 3.12's
eager tasks do the same; this runs on 3.11 too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class _Rest:
    """The rest of a coroutine that stopped at `pending` (a future it waits for): awaited by a
    task, which then waits for that future and drives the coroutine on."""

    __slots__ = ("coroutine", "pending")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coroutine = coroutine
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        value = self.pending
        while True:
            try:
                sent = yield value
            except BaseException as error:  # cancelled, or the awaited future failed
                try:
                    value = self.coroutine.throw(error)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = self.coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(rest: _Rest) -> Any:
    return await rest


def start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coroutine` until it first waits; None if it finished, else the task that finishes it.
    An exception it raises before waiting is raised here."""
    try:
        pending = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_finish(_Rest(coroutine, pending)))


def begin(coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    """Run `coroutine` until it first waits: a future of its result, already done when it never
    had to wait (then awaiting it does not yield to the loop, unlike a task)."""
    try:
        pending = coroutine.send(None)
    except StopIteration as stop:
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        done.set_result(stop.value)
        return done
    return asyncio.get_running_loop().create_task(_finish(_Rest(coroutine, pending)))
