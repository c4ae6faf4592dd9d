"""What every measurement shares: the run's PostgreSQL database and Redis namespace, the ORM,
statistics over alternating rounds, and the result rows of the table."""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from infra.db import apply_migrations, close_orm, init_orm
from infra.settings import Settings
from tests.support import create_postgres_database, drop_postgres_database

REDIS_URL = os.environ.get("UPDATEDESK_BENCH_REDIS", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Row:
    """One line of the table. `ok` is None when the row is informative (no target)."""

    measurement: str
    value: str
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        return "-" if self.ok is None else ("pass" if self.ok else "FAIL")


@dataclass(frozen=True)
class Options:
    quick: bool = False
    rounds: int = 7

    def count(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass
class BenchEnv:
    """The run's database (created for it, dropped after) and Redis namespace."""

    database_url: str
    redis_url: str
    namespace: str
    options: Options
    logs: Path
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "redis_namespace": self.namespace,
            "log_json": False,
            **overrides,
        }
        return Settings(**values)  # type: ignore[arg-type]

    def process_env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "UPDATEDESK_REDIS_NAMESPACE": self.namespace,
            "UPDATEDESK_LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        env.pop("SMTP_URL", None)
        return env

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """`python -m updatedesk.cli ARGS` as a child process (logged to the run's log folder)."""
        log = (self.logs / f"{name}-{len(self._children)}.log").open("wb")
        command = [sys.executable, "-m", "updatedesk.cli", *args]
        profile_dir = os.environ.get("UPDATEDESK_BENCH_PROFILE")
        if profile_dir:  # pyinstrument (dev dependency) writes a text profile when the child exits
            output = Path(profile_dir) / f"{name}-{len(self._children)}.txt"
            command[1:2] = ["-m", "pyinstrument", "-r", "text", "-o", str(output), "-m"]
        child = subprocess.Popen(
            command,
            env=self.process_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._children.append(child)
        return child

    def start_module(self, name: str, module: str, *args: str) -> subprocess.Popen[bytes]:
        """`python -m MODULE ARGS` as a child process (a baseline server), logged like `start`."""
        log = (self.logs / f"{name}-{len(self._children)}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=self.process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._children.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], within: float = 15.0) -> None:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(within)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def stop_all(self) -> None:
        for child in self._children:
            self.stop(child)
        self._children.clear()


def raise_open_files(wanted: int = 20_000) -> int:
    """Raise this process's open-file limit (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@asynccontextmanager
async def bench_env(options: Options, logs: Path) -> AsyncIterator[BenchEnv]:
    """A fresh, migrated PostgreSQL database and a unique Redis namespace; the ORM is started on
    the running loop. Everything is dropped and deleted afterwards."""
    url = await create_postgres_database("updatedesk_bench")
    namespace = f"updatedesk-bench-{uuid.uuid4().hex[:12]}"
    env = BenchEnv(url, REDIS_URL, namespace, options, logs)
    try:
        try:
            await apply_migrations(env.settings())
        finally:
            await close_orm()
        await init_orm(env.settings())
        try:
            yield env
        finally:
            env.stop_all()
            await close_orm()
    finally:
        await drop_postgres_database(url)
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        try:
            keys = list(client.scan_iter(f"{namespace}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


async def alternate(
    subjects: dict[str, Callable[[], Awaitable[float]]], rounds: int
) -> dict[str, list[float]]:
    """Run each subject once per round, in alternating order; the per-round results by subject."""
    results: dict[str, list[float]] = {name: [] for name in subjects}
    names = list(subjects)
    for index in range(rounds):
        order = names if index % 2 == 0 else list(reversed(names))
        for name in order:
            results[name].append(await subjects[name]())
    return results


async def time_calls(call: Callable[[], Awaitable[object]], count: int) -> float:
    """Median seconds of one call over `count` calls."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return median(samples)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline > 0 else "-"


def cpu_seconds(pid: int) -> float:
    """CPU time the live threads of a process have run so far (`/proc/<pid>/task/*/schedstat`: its
    first field is nanoseconds on a CPU, finer than the 10 ms ticks of `/proc/<pid>/stat`; a thread
    that ended between two readings is not counted, and the servers measured keep theirs)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that just ended
            continue
    return total / 1e9


def read_rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")
