"""Running `updatedesk` commands as real processes in tests: wait until one answers, read its
output in the background, stop it the way an operator would (SIGINT, then kill)."""

from __future__ import annotations

import asyncio
import signal

import httpx

from tests.support_live import wait_until

#: How long a stopped process may take to exit after SIGINT before it is killed.
STOP_SECONDS = 20


async def until_healthy(http: httpx.AsyncClient, what: str, within: float) -> None:
    """Wait until the process behind `http` answers /healthz."""

    async def healthy() -> bool:
        try:
            return (await http.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_until(healthy, what, within=within)


async def drain(stream: asyncio.StreamReader) -> None:
    """Read and drop a process's output, so a full pipe never blocks it."""
    while await stream.readline():
        pass


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGINT (a clean shutdown), then kill after STOP_SECONDS."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
