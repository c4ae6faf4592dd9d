"""Liveness heartbeats of the worker and scheduler processes, and the check that reads them.

A process that is alive and working writes the current time into ``<heartbeat_dir>/<role>``: the
scheduler after each dispatch pass that succeeded, a worker from a small thread for as long as its
dramatiq threads are alive. ``updatedesk healthcheck ROLE`` (the compose healthcheck) reads the
file and fails when it is missing or older than its max age.

Several worker processes of one container share the ``worker`` file: the check says that at least
one of them is alive, not all (the API's ``/readyz`` and the job metrics cover the rest).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from infra.settings import Settings

logger = logging.getLogger(__name__)

Role = Literal["worker", "scheduler"]
ROLES: tuple[Role, ...] = ("worker", "scheduler")
#: Seconds between the beats of a worker's heartbeat thread.
WORKER_BEAT_SECONDS = 10.0
#: By default a heartbeat is stale after this many missed beats of its writer...
MISSED_BEATS = 3
#: ...and never sooner than this (seconds), so one slow pass on a busy machine is no false alarm.
MIN_DEFAULT_MAX_AGE = 60.0

Clock = Callable[[], float]


class HeartbeatError(Exception):
    """The heartbeat file is missing or unreadable."""


def heartbeat_path(settings: Settings, role: Role) -> Path:
    return Path(settings.heartbeat_dir) / role


def write_heartbeat(path: Path, now: Clock = time.time) -> None:
    """Write the time atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    scratch.write_text(f"{now():.3f}\n")
    os.replace(scratch, path)


def read_heartbeat(path: Path) -> float:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HeartbeatError(f"no heartbeat at {path}") from None
    except OSError as error:
        raise HeartbeatError(f"cannot read heartbeat {path}: {error.strerror}") from None
    try:
        return float(text.strip())
    except ValueError:
        raise HeartbeatError(f"heartbeat {path} holds no time: {text[:40]!r}") from None


def heartbeat_problem(path: Path, max_age: float, now: Clock = time.time) -> str | None:
    """Why the heartbeat at ``path`` does not show a live process; None when it is fresh."""
    try:
        beat = read_heartbeat(path)
    except HeartbeatError as error:
        return str(error)
    age = now() - beat
    if age > max_age:
        return f"heartbeat {path} is {age:.0f} s old (max {max_age:g} s)"
    return None


def default_max_age(settings: Settings, role: Role) -> float:
    interval = settings.scheduler_interval if role == "scheduler" else WORKER_BEAT_SECONDS
    return max(MIN_DEFAULT_MAX_AGE, MISSED_BEATS * interval)


def healthcheck(settings: Settings, role: Role, max_age: float | None = None) -> int:
    """`updatedesk healthcheck ROLE`: 0 when fresh; 1 with one line on stderr saying why not."""
    path = heartbeat_path(settings, role)
    problem = heartbeat_problem(path, max_age if max_age is not None else default_max_age(settings, role))
    if problem is None:
        return 0
    print(f"updatedesk: {role} unhealthy: {problem}", file=sys.stderr)
    return 1


def scheduler_heartbeat(settings: Settings) -> Callable[[], None]:
    """What the scheduler calls after each pass that succeeded."""
    path = heartbeat_path(settings, "scheduler")
    warned = False

    def beat() -> None:
        nonlocal warned
        try:
            write_heartbeat(path)
        except OSError as error:
            if not warned:  # a read-only /tmp must not stop the dispatch loop; say so once
                logger.warning("scheduler heartbeat: cannot write %s: %s", path, error)
                warned = True

    return beat


class HeartbeatThread(threading.Thread):
    """Writes ``path`` every ``interval`` seconds while ``alive()`` holds; stops beating (and so the
    heartbeat goes stale) as soon as it does not."""

    def __init__(self, path: Path, alive: Callable[[], bool], interval: float = WORKER_BEAT_SECONDS):
        super().__init__(name=f"heartbeat-{path.name}", daemon=True)
        self.path = path
        self.alive = alive
        self.interval = interval
        self._stop_event = threading.Event()
        self.beats = 0

    def run(self) -> None:
        warned = False
        while True:
            if not self.alive():
                logger.error("heartbeat %s: the process is no longer working; beats stop", self.path)
                return
            try:
                write_heartbeat(self.path)
                self.beats += 1
            except OSError as error:
                if not warned:
                    logger.warning("heartbeat: cannot write %s: %s", self.path, error)
                    warned = True
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join()


def dramatiq_worker_alive(worker: Any) -> bool:
    """A started dramatiq ``Worker`` whose consumer and worker threads all still run."""
    threads = [*worker.consumers.values(), *worker.workers]
    return bool(worker.workers) and all(thread.is_alive() for thread in threads)


def start_worker_heartbeat(worker: Any, settings: Settings) -> HeartbeatThread:
    thread = HeartbeatThread(heartbeat_path(settings, "worker"), lambda: dramatiq_worker_alive(worker))
    thread.start()
    return thread
