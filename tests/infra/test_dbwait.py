"""`updatedesk migrate --wait`: connection errors retried with backoff until the database is up,
other errors at once; checked against real refused ports, a real PostgreSQL and a real subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from infra.dbwait import (
    FIRST_DELAY,
    MAX_DELAY,
    DatabaseUnreachable,
    is_transient_connection_error,
    retry_until_reachable,
)
from infra.settings import normalize_database_url
from tests.support import POSTGRES_ADMIN_URL
from tests.support_live import free_port

WITHIN = 60.0


def closed_port() -> int:
    """A loopback port nobody listens on (bound once, then released)."""
    return free_port()


async def connect_error(url: str) -> BaseException:
    try:
        connection = await asyncpg.connect(
            normalize_database_url(url).replace("postgres://", "postgresql://")
        )
    except Exception as error:
        return error
    await connection.close()
    raise AssertionError(f"{url} connected")


class FakeTime:
    """An injected clock whose sleep moves it on: the retry schedule without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_refused_and_unresolvable_are_transient_refusals_by_the_server_are_not():
    refused = await connect_error(f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    assert isinstance(refused, ConnectionRefusedError)
    assert is_transient_connection_error(refused)
    assert is_transient_connection_error(socket.gaierror(-2, "Name or service not known"))
    assert is_transient_connection_error(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert is_transient_connection_error(asyncpg.exceptions.TooManyConnectionsError("full"))

    base = POSTGRES_ADMIN_URL.rpartition("/")[0]
    missing = await connect_error(f"{base}/updatedesk_no_such_database")
    assert isinstance(missing, asyncpg.exceptions.InvalidCatalogNameError)
    assert not is_transient_connection_error(missing)
    wrapped = ConnectionError("Can't establish connection")  # as Tortoise wraps it
    wrapped.__cause__ = missing
    assert not is_transient_connection_error(wrapped)
    parts = urlsplit(base)
    stranger = urlunsplit(parts._replace(netloc=f"updatedesk_no_such_role@{parts.hostname}:{parts.port}"))
    assert not is_transient_connection_error(await connect_error(f"{stranger}/postgres"))
    assert not is_transient_connection_error(ValueError("bad URL"))


async def test_retries_with_backoff_until_the_attempt_succeeds():
    refused = await connect_error(f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    outcomes: list[BaseException | None] = [refused, refused, refused, None]
    told: list[tuple[int, float]] = []
    fake = FakeTime()

    async def attempt() -> str:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return "migrated"

    result = await retry_until_reachable(
        attempt,
        30,
        on_retry=lambda n, error, pause: told.append((n, pause)),
        sleep=fake.sleep,
        clock=fake.clock,
    )
    assert result == "migrated"
    assert fake.sleeps == [FIRST_DELAY, FIRST_DELAY * 2, FIRST_DELAY * 4]
    assert told == [(1, FIRST_DELAY), (2, FIRST_DELAY * 2), (3, FIRST_DELAY * 4)]


async def test_gives_up_when_the_wait_runs_out_and_never_sleeps_past_it():
    refused = await connect_error(f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    fake = FakeTime()

    async def attempt() -> None:
        raise refused

    with pytest.raises(DatabaseUnreachable) as caught:
        await retry_until_reachable(attempt, 20, sleep=fake.sleep, clock=fake.clock)
    assert sum(fake.sleeps) == 20
    assert max(fake.sleeps) == MAX_DELAY
    assert caught.value.error is refused
    assert str(caught.value).startswith(
        f"database not reachable after 20 s and {len(fake.sleeps) + 1} attempt"
    )


async def test_no_wait_means_one_attempt_and_other_errors_are_not_retried():
    fake = FakeTime()
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(DatabaseUnreachable):
        await retry_until_reachable(refused, 0, sleep=fake.sleep, clock=fake.clock)
    assert (calls, fake.sleeps) == (1, [])

    async def broken() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await retry_until_reachable(broken, 30, sleep=fake.sleep, clock=fake.clock)
    assert fake.sleeps == []


async def run_migrate(database_url: str, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATABASE_URL": database_url}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "updatedesk.cli",
        "migrate",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_migrate_on_a_closed_port_says_why_in_one_line():
    url = f"postgresql://updatedesk@127.0.0.1:{closed_port()}/updatedesk"
    waited = await run_migrate(url, "--wait", "1")
    _, err = await asyncio.wait_for(waited.communicate(), WITHIN)
    lines = err.decode().splitlines()
    assert waited.returncode == 2
    assert len(lines) >= 2 and all("retrying in" in line for line in lines[:-1])
    assert lines[-1].startswith("updatedesk: error: database not reachable after 1 s")
    assert "Traceback" not in err.decode()

    at_once = await run_migrate(url)
    _, err = await asyncio.wait_for(at_once.communicate(), WITHIN)
    assert at_once.returncode == 2
    assert err.decode().splitlines() == [
        "updatedesk: error: database not reachable after 0 s and 1 attempt(s): ConnectionRefusedError: "
        f"[Errno 111] Connect call failed ('127.0.0.1', {urlsplit(url).port}); "
        "`migrate --wait SECONDS` waits for it to come up"
    ]


@contextlib.asynccontextmanager
async def forwarder(port: int, target_host: str, target_port: int) -> AsyncIterator[None]:
    """A TCP relay on `port` to the real server: the database "comes up" when this starts."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    writers: list[asyncio.StreamWriter] = []

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        writers.extend((client_writer, server_writer))
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(relay, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_migrate_waits_until_the_database_comes_up(postgres_db):
    real = urlsplit(postgres_db.url)
    port = closed_port()
    url = urlunsplit(real._replace(netloc=real.netloc.replace(f":{real.port}", f":{port}")))
    migrate = await run_migrate(url, "--wait", str(WITHIN))
    assert migrate.stderr is not None
    first = await asyncio.wait_for(migrate.stderr.readline(), WITHIN)
    assert b"database not reachable yet (ConnectionRefusedError" in first  # it is waiting
    async with forwarder(port, real.hostname or "127.0.0.1", real.port or 5432):
        out, _ = await asyncio.wait_for(migrate.communicate(), WITHIN)
    assert migrate.returncode == 0
    assert out.decode().splitlines() == ["Database is up to date."]
