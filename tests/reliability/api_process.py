"""A real `updatedesk serve` process on a free port, its log captured to a file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support_live import free_port

STARTUP_WITHIN = 30.0
POLL_SECONDS = 0.02


class ApiProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "updatedesk.cli", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, within: float = STARTUP_WITHIN) -> float:
        """Wait until /healthz answers; the seconds it took."""
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
            while True:
                assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                if time.monotonic() - started > within:
                    raise AssertionError(f"the API process did not start: {self.log.read_text()[-3000:]}")
                await asyncio.sleep(POLL_SECONDS)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def api_env(database_url: str, **extra: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "UPDATEDESK_LOG_JSON": "true",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    for name in ("REDIS_URL", "SMTP_URL"):
        if name not in extra:
            env.pop(name, None)
    return env
