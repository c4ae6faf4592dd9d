"""Liveness heartbeats: the file, its check (also as the `updatedesk healthcheck` command), the
worker's beat thread over a real dramatiq Worker, and the scheduler's beat after each good pass."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dramatiq
from dramatiq.brokers.stub import StubBroker

from infra.settings import DEFAULT_HEARTBEAT_DIR, Settings
from tests.workers.test_scheduler import RecordingQueue
from workers import scheduler as scheduler_module
from workers.heartbeat import (
    MIN_DEFAULT_MAX_AGE,
    ROLES,
    HeartbeatThread,
    default_max_age,
    dramatiq_worker_alive,
    heartbeat_path,
    heartbeat_problem,
    read_heartbeat,
    scheduler_heartbeat,
    write_heartbeat,
)
from workers.scheduler import Scheduler

#: Longest wait for a thread to finish.
WITHIN = 10.0
NOW = 1_800_000_000.0


def at(seconds: float):
    return lambda: seconds


def healthcheck_cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UPDATEDESK_HEARTBEAT_DIR": str(directory)}
    return subprocess.run(
        [sys.executable, "-m", "updatedesk.cli", "healthcheck", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_default_directory_is_under_the_temporary_directory():
    assert Settings().heartbeat_dir == DEFAULT_HEARTBEAT_DIR == Path("/tmp/updatedesk-heartbeat")
    settings = Settings(heartbeat_dir="/run/beats")
    assert [heartbeat_path(settings, role) for role in ROLES] == [
        Path("/run/beats/worker"),
        Path("/run/beats/scheduler"),
    ]


def test_fresh_stale_missing_and_garbled(tmp_path):
    path = tmp_path / "deep" / "worker"
    assert heartbeat_problem(path, 30, now=at(NOW)) == f"no heartbeat at {path}"
    write_heartbeat(path, now=at(NOW))
    assert read_heartbeat(path) == NOW
    assert heartbeat_problem(path, 30, now=at(NOW + 30)) is None
    assert heartbeat_problem(path, 30, now=at(NOW + 31)) == f"heartbeat {path} is 31 s old (max 30 s)"
    path.write_text("half a")
    assert heartbeat_problem(path, 30, now=at(NOW)) == f"heartbeat {path} holds no time: 'half a'"
    # The atomic write leaves no scratch file behind.
    write_heartbeat(path, now=at(NOW))
    assert sorted(p.name for p in path.parent.iterdir()) == ["worker"]


def test_default_max_age_follows_the_writer_s_interval():
    assert default_max_age(Settings(), "worker") == MIN_DEFAULT_MAX_AGE
    assert default_max_age(Settings(scheduler_interval=2), "scheduler") == MIN_DEFAULT_MAX_AGE
    # A scheduler that passes every 5 minutes is not stale after one minute.
    assert default_max_age(Settings(scheduler_interval=300), "scheduler") == 900


def test_healthcheck_command_exit_status_and_one_line(tmp_path):
    missing = healthcheck_cli(tmp_path, "worker")
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"updatedesk: worker unhealthy: no heartbeat at {tmp_path / 'worker'}"
    ]

    write_heartbeat(tmp_path / "scheduler")
    fresh = healthcheck_cli(tmp_path, "scheduler", "--max-age", "30")
    assert (fresh.returncode, fresh.stderr) == (0, "")

    write_heartbeat(tmp_path / "scheduler", now=lambda: time.time() - 100)
    stale = healthcheck_cli(tmp_path, "scheduler", "--max-age", "30")
    assert stale.returncode == 1
    [line] = stale.stderr.splitlines()
    assert line.startswith(f"updatedesk: scheduler unhealthy: heartbeat {tmp_path / 'scheduler'} is 10")

    refused = healthcheck_cli(tmp_path, "api")
    assert refused.returncode == 2  # argparse: only worker and scheduler have heartbeats
    assert "invalid choice: 'api'" in refused.stderr


def test_beat_thread_beats_while_alive_and_stops_when_not(tmp_path):
    answers = iter([True, True, False])
    thread = HeartbeatThread(tmp_path / "worker", lambda: next(answers), interval=0)
    thread.start()
    thread.join(WITHIN)
    assert not thread.is_alive()
    assert thread.beats == 2
    assert heartbeat_problem(tmp_path / "worker", 60) is None


def test_beat_thread_stop_ends_it_at_once(tmp_path):
    thread = HeartbeatThread(tmp_path / "worker", lambda: True, interval=3600)
    thread.start()
    started = time.monotonic()
    thread.stop()
    assert not thread.is_alive()
    assert time.monotonic() - started < WITHIN
    assert thread.beats == 1  # it beats at once, not an interval after the start


def test_beat_thread_survives_an_unwritable_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    calls = threading.Semaphore(0)

    def alive() -> bool:
        calls.release()
        return True

    thread = HeartbeatThread(blocker / "worker", alive, interval=0)  # parent is a file: OSError
    thread.start()
    for _ in range(3):  # still looping after failed writes
        assert calls.acquire(timeout=WITHIN)
    thread.stop()
    assert thread.beats == 0


def test_dramatiq_worker_alive_follows_its_threads():
    broker = StubBroker()

    @dramatiq.actor(broker=broker)
    def nothing() -> None:
        return None

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=10)
    assert not dramatiq_worker_alive(worker)  # not started yet
    worker.start()
    try:
        assert dramatiq_worker_alive(worker)
    finally:
        worker.stop()
        broker.close()
    assert not dramatiq_worker_alive(worker)


async def test_scheduler_beats_after_each_pass_that_succeeded(db, tmp_path):
    settings = Settings(database_url=db.url, scheduler_interval=0.01, heartbeat_dir=tmp_path)
    beat = scheduler_heartbeat(settings)
    scheduler: Scheduler

    def on_pass() -> None:
        beat()
        scheduler.stop()

    scheduler = Scheduler(RecordingQueue(), settings, on_pass=on_pass)
    await scheduler.run()
    assert scheduler.passes == 1
    assert heartbeat_problem(tmp_path / "scheduler", 60) is None


async def test_a_failed_pass_does_not_beat(monkeypatch, tmp_path):
    outcomes = iter([RuntimeError("database gone"), None])

    async def flaky_pass(queue: object, settings: Settings, **options: object) -> list[int]:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        return []

    monkeypatch.setattr(scheduler_module, "dispatch_pass", flaky_pass)
    beats: list[int] = []
    scheduler: Scheduler

    def on_pass() -> None:
        beats.append(scheduler.passes)
        scheduler.stop()

    scheduler = Scheduler(RecordingQueue(), Settings(scheduler_interval=0.01), on_pass=on_pass)
    await scheduler.run()
    assert beats == [1]  # only the second pass (after one failed) beat
