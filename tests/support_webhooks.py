"""Webhook test plumbing: a real HTTP receiver on loopback, a clock to move by hand, and a small
world (two districts, an owner linked to one, a request in each)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from infra.outbound import post_pinned
from infra.settings import Settings
from models.enums import EnvironmentKind, EventType, Role, UpdateStatus
from models.tables import Account, District, UpdateRequest, Webhook
from models.webhooks.records import EventRecord
from models.webhooks.signing import new_secret
from tests.factories import make_account, make_district, make_request
from workers.webhooks import Post

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
#: The receiver never answers this one (a stuck endpoint); the attempt's time limit ends it.
HANG = -1
_cursors = itertools.count(1)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP/1.1 endpoint on 127.0.0.1 that records each request and answers the scripted
    status codes in turn, then `default`."""

    answers: deque[int] = field(default_factory=deque)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(path, headers, body))
            self.arrived.set()
            status = self.answers.popleft() if self.answers else self.default
            if status == HANG:
                await asyncio.Event().wait()  # until the client gives up and the server closes
            # A redirect names somewhere to go: a client that followed it would POST again.
            where = f"Location: {self.url('/elsewhere')}\r\n" if 300 <= status < 400 else ""
            closing = "Content-Length: 0\r\nConnection: close\r\n\r\n"
            writer.write(f"HTTP/1.1 {status} Scripted\r\n{where}{closing}".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def wait_for(self, count: int, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def receiver(
    *answers: int, default: int = 200, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Receiver]:
    endpoint = Receiver(deque(answers), default)
    server = await asyncio.start_server(endpoint._handle, "127.0.0.1", 0, ssl=tls)
    endpoint.port = server.sockets[0].getsockname()[1]
    try:
        yield endpoint
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


@dataclass
class Clock:
    """Now, moved by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def to(self, instant: datetime) -> None:
        self.now = instant


def local_post(*, time_limit: float = 2.0, **options: Any) -> Post:
    """POSTs as a deployment with UPDATEDESK_WEBHOOK_ALLOW_PRIVATE=true makes them."""
    return partial(post_pinned, allow_private=True, time_limit=time_limit, **options)


def allow_private_settings(**overrides: Any) -> Settings:
    return Settings(webhook_allow_private=True, **overrides)


@dataclass
class World:
    own: District  # the owner's district
    other: District  # a district the owner is not linked to
    owner: Account
    own_request: UpdateRequest
    other_request: UpdateRequest


async def make_world(role: Role = Role.TECHNICAL_CONTACT) -> World:
    own = await make_district(environments=[EnvironmentKind.PRODUCTION])
    other = await make_district(environments=[EnvironmentKind.PRODUCTION])
    owner = await make_account(role, [own], email=f"owner{next(_cursors)}@partner.example")
    return World(own, other, owner, await make_request(own, requested_by=owner), await make_request(other))


async def add_webhook(
    owner: Account, url: str, district: District | None = None, *, secret: str | None = None
) -> Webhook:
    """A webhook row as createWebhook writes it (URL checks are tested on their own)."""
    return await Webhook.create(
        owner_id=owner.id,
        district_id=None if district is None else district.id,
        url=url,
        secret=secret or new_secret(),
        created_at=T0,
    )


def record_of(
    request: UpdateRequest,
    type: EventType = EventType.STATUS_CHANGED,
    to_status: UpdateStatus = UpdateStatus.SCHEDULED,
    from_status: UpdateStatus | None = UpdateStatus.TO_BE_SCHEDULED,
) -> EventRecord:
    """A fresh event record (its own cursor) about `request`."""
    return EventRecord(
        type=type,
        cursor=f"{1_767_225_600_000 + next(_cursors)}-0",
        update_request_id=request.id,
        district_id=request.district_id,
        to_status=to_status,
        at=T0,
        from_status=from_status,
    )
