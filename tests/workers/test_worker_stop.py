"""A real `updatedesk worker` stopped (SIGTERM, a deploy) while its runbook runs a command that
ignores SIGTERM: it kills the command after the grace, hands the request back and exits cleanly
within its shutdown deadline; also when Redis is gone by then (its in-memory messages cannot be
put back: they are left for dramatiq's maintenance to requeue, the process must still exit)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from infra.settings import Settings
from models.enums import UpdateStatus
from models.tables import UpdateRequest
from tests import support
from tests.support_live import private_redis
from tests.workers.conftest import Mailbox, wait_until
from tests.workers.scenario import make_scene, request_and_schedule
from tests.workers.test_processes import WITHIN, Processes, group_alive
from workers.broker import broker_namespace
from workers.process import SHUTDOWN_DEADLINE_SECONDS, exit_past
from workers.queue import DramatiqQueue
from workers.runtime import api_runtime
from workers.scheduler import dispatch_pass

#: Past the worker's own deadline: a worker still running then hangs (the test kills it).
HUNG_AFTER = SHUTDOWN_DEADLINE_SECONDS + 5.0


def stubborn_script(directory: Path) -> str:
    """The install step ignores SIGTERM (a deploy tool busy with its own cleanup) and never ends
    by itself: only the SIGKILL after the grace stops it. Its pid goes to install.pid."""
    script = directory / "stubborn.sh"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$UPDATEDESK_STEP" = install_version ]; then\n'
        "  trap '' TERM\n"
        f"  echo $$ > {directory}/install.tmp && mv {directory}/install.tmp {directory}/install.pid\n"
        "  while :; do sleep 0.05; done\n"
        "fi\n"
    )
    return f"sh {script}"


def held_in_memory(client: redis.Redis, key: str) -> bool:
    """The message left the queue's list: the worker's consumer holds it."""
    return client.llen(key) == 0


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("redis_gone", [False, True], ids=["redis-up", "redis-gone"])
async def test_a_worker_stopped_mid_command_exits_cleanly_within_its_deadline(
    postgres_db: support.TestDatabase,
    mailbox: Mailbox,
    tmp_path: Path,
    redis_gone: bool,
) -> None:
    scene = await make_scene()
    async with private_redis(tmp_path) as server:
        # A Redis of this test's own: the default namespace.
        settings = Settings(database_url=postgres_db.url, redis_url=server.url, smtp_url=mailbox.url)
        env = {
            **os.environ,
            "DATABASE_URL": postgres_db.url,
            "REDIS_URL": server.url,
            "UPDATEDESK_REDIS_NAMESPACE": settings.redis_namespace,
            "UPDATEDESK_EXECUTOR": "command",
            "UPDATEDESK_COMMAND_VERSION_UPDATE": stubborn_script(tmp_path),
            "UPDATEDESK_LEASE_SECONDS": "2",
            "UPDATEDESK_STEP_RETRY_DELAY": "0",
            "UPDATEDESK_LOG_JSON": "false",
            "UPDATEDESK_HEARTBEAT_DIR": str(tmp_path / "heartbeats"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("SMTP_URL", None)
        processes = Processes(env, tmp_path)
        try:
            async with api_runtime(settings) as api:
                worker = processes.start("worker", "--threads", "1")
                request = await request_and_schedule(scene)
                assert await dispatch_pass(api.queue, api.settings) == [request.id]
                pid_file = tmp_path / "install.pid"

                async def installing() -> bool:
                    return pid_file.exists()

                await wait_until(installing, WITHIN, "the worker to be inside install_version")
                command_group = os.getpgid(int(pid_file.read_text()))
                # A mail job, fetched while the only thread runs the runbook: the worker holds it
                # in memory and puts it back into Redis when it stops.
                assert isinstance(api.queue, DramatiqQueue)
                await api.queue.enqueue_notification(0)
                client = redis.Redis.from_url(server.url, socket_timeout=5)
                mail_queue = f"{broker_namespace(settings)}:mail"

                async def held() -> bool:
                    return held_in_memory(client, mail_queue)

                await wait_until(held, WITHIN, "the worker to hold the mail job")
                client.close()
                if redis_gone:
                    await server.stop()
                worker.send_signal(signal.SIGTERM)
                stopped_at = time.monotonic()
                try:
                    code: int | None = await asyncio.to_thread(worker.wait, HUNG_AFTER)
                except subprocess.TimeoutExpired:
                    code = None
                took = time.monotonic() - stopped_at
        finally:
            processes.stop_all()
    assert code == 0, f"the stopped worker {'hung' if code is None else f'exited with {code}'}"
    assert took < SHUTDOWN_DEADLINE_SECONDS
    # dramatiq's own stop ran to its end: what it could not put back was a warning, not a failure.
    assert "stop failed half-way" not in (tmp_path / "worker-0.log").read_text()
    assert not group_alive(command_group), "the step's command outlived its worker"
    handed_back = await UpdateRequest.get(id=request.id)
    assert (handed_back.status, handed_back.attempts, handed_back.lease_token) == (
        UpdateStatus.IN_PROGRESS,
        0,
        None,
    )


def test_a_worker_still_stopping_past_its_deadline_exits_saying_where_it_waits() -> None:
    """The last resort behind the bounded waits: whatever still holds the process (here the main
    thread, waiting for ever) it exits (1), its threads' stacks on stderr."""
    hang = f"import threading, {exit_past.__module__} as p; p.exit_past(0.1); threading.Event().wait()"
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-c", hang]
    done = subprocess.run(command, capture_output=True, text=True, timeout=WITHIN, cwd=root)
    assert done.returncode == 1
    assert "not stopped after" in done.stderr
    assert 'File "<string>", line 1 in <module>' in done.stderr  # where the main thread waited
