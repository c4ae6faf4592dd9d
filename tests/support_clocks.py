"""Clocks per actor in one test process: a worker whose clock runs behind (or ahead of) the
scheduler's, as on two machines. Every module's `utcnow` (imported from `models.clock`) is made to
read an offset from a context variable; a task started by `start_with_clock` (and every task it
starts: its lease renewals) sees its own clock, the rest of the test the true one. The database's
own clock (PostgreSQL's) is not moved: it is a third machine's."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from contextvars import ContextVar, copy_context
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from models import clock

T = TypeVar("T")

_OFFSET: ContextVar[timedelta] = ContextVar("test_clock_offset", default=timedelta(0))


def per_task_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every loaded module's `utcnow` the clock of the task that calls it."""
    true_clock = clock.utcnow

    def task_clock() -> Any:
        return true_clock() + _OFFSET.get()

    for module in list(sys.modules.values()):
        if module is not None and getattr(module, "utcnow", None) is true_clock:
            monkeypatch.setattr(module, "utcnow", task_clock)


def start_with_clock(offset: timedelta, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """`work` as a task whose clock is `offset` from the true one (negative: behind)."""
    context = copy_context()
    context.run(_OFFSET.set, offset)
    return asyncio.create_task(work, context=context)
