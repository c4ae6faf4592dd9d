"""Fixtures of the worker tests: an SMTP server in this process, settings, waiting helpers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

REDIS_URL = "redis://127.0.0.1:6379/0"
POLL_SECONDS = 0.02


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    url: str
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    port = free_port()
    box = Mailbox(f"smtp://127.0.0.1:{port}")
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    within: float,
    what: str,
    describe: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Poll `condition` until true; fail the test after `within` seconds (saying `describe()`)."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await condition():
                    return
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        state = f"; {await describe()}" if describe is not None else ""
        pytest.fail(f"timed out after {within}s waiting for {what}{state}")
