"""End to end on PostgreSQL and Redis with real `updatedesk worker` and `updatedesk scheduler`
processes; and a worker killed mid-runbook whose request a second worker finishes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from infra.settings import Settings
from models.enums import EventType, NotificationKind, NotificationState, UpdateStatus
from models.events import UpdateRequestChanged
from models.tables import Environment, Notification, UpdateRequest
from tests import support
from tests.support_live import free_port
from tests.workers.conftest import REDIS_URL, Mailbox, wait_until
from tests.workers.scenario import TARGET_VERSION, make_scene, request_and_schedule
from workers.runbooks import VERSION_UPDATE_STEPS
from workers.runtime import Runtime, api_runtime

pytestmark = pytest.mark.slow
WITHIN = 30.0
STOP_WITHIN = 10.0


@pytest.fixture
def namespace(run_id: str) -> Iterator[str]:
    name = f"{run_id}-{uuid.uuid4().hex[:6]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


class Processes:
    """Child processes of one test, stopped (and killed if need be) at its end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{args[0]}-{len(self.children)}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, "-m", "updatedesk.cli", *args],
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(STOP_WITHIN)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@pytest.fixture
def processes(postgres_db: support.TestDatabase, namespace: str, tmp_path: Path) -> Iterator[Processes]:
    env = {
        **os.environ,
        "DATABASE_URL": postgres_db.url,
        "REDIS_URL": REDIS_URL,
        "UPDATEDESK_REDIS_NAMESPACE": namespace,
        "UPDATEDESK_SIMULATED_STEP_SECONDS": "0.05",
        "UPDATEDESK_SCHEDULER_INTERVAL": "0.2",
        "UPDATEDESK_STEP_RETRY_DELAY": "0",
        "UPDATEDESK_LOG_JSON": "false",
        "UPDATEDESK_HEARTBEAT_DIR": str(tmp_path / "heartbeats"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SMTP_URL", None)
    group = Processes(env, tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
async def api(postgres_db: support.TestDatabase, namespace: str, mailbox: Mailbox) -> AsyncIterator[Runtime]:
    """This test process plays the API process: mails and events go through Redis."""
    settings = Settings(
        database_url=postgres_db.url, redis_url=REDIS_URL, redis_namespace=namespace, smtp_url=mailbox.url
    )
    async with api_runtime(settings) as runtime:
        yield runtime


async def test_scheduled_request_runs_to_completion_in_worker_processes(
    processes: Processes, api: Runtime, mailbox: Mailbox
) -> None:
    scene = await make_scene()
    metrics_port = free_port()
    processes.start(
        "worker", "--threads", "2", SMTP_URL=mailbox.url, UPDATEDESK_WORKER_METRICS_PORT=str(metrics_port)
    )
    processes.start("scheduler", SMTP_URL=mailbox.url)
    events: list[UpdateRequestChanged] = []

    async def collect() -> None:
        async with api.bus.subscribe() as subscription:
            async for event in subscription:
                events.append(event)

    collector = asyncio.create_task(collect())
    await asyncio.wait_for(api.bus.listening.wait(), WITHIN)
    request = await request_and_schedule(scene)

    async def everything_done() -> bool:
        sandbox_done = await UpdateRequest.filter(automatic=True, status=UpdateStatus.COMPLETED).exists()
        mails_pending = await Notification.exclude(state=NotificationState.SENT).exists()
        return sandbox_done and not mails_pending and len(mailbox.received()) >= 3

    async def describe() -> str:
        requests = await UpdateRequest.all().order_by("id").values_list("id", "status", "automatic")
        mails = await Notification.all().order_by("id").values_list("kind", "state", "last_error")
        return f"requests {requests}, outbox {mails}, received {len(mailbox.received())}"

    await wait_until(everything_done, WITHIN, "the update, the sandbox update and their mails", describe)
    collector.cancel()

    assert (await UpdateRequest.get(id=request.id)).status is UpdateStatus.COMPLETED
    for environment in await Environment.filter(district_id=scene.district.id):
        assert environment.current_version == TARGET_VERSION and environment.online
    progress = [e.progress.percent for e in events if e.update_request_id == request.id and e.progress]
    assert progress == sorted(progress) and progress[-1] == 100 and len(set(progress)) >= 6
    changes = [
        e.status for e in events if e.update_request_id == request.id and e.type is EventType.STATUS_CHANGED
    ]
    assert changes[-3:] == [UpdateStatus.NOT_STARTED, UpdateStatus.IN_PROGRESS, UpdateStatus.COMPLETED]
    subjects = [str(m["Subject"]).strip() for m in mailbox.received()]
    assert any(s.startswith("Scheduled:") for s in subjects)
    assert sum(s.startswith("Completed:") for s in subjects) == 2  # production and sandbox
    scheduled = next(m for m in mailbox.received() if str(m["Subject"]).strip().startswith("Scheduled:"))
    assert any(part.get_content_type() == "text/calendar" for part in scheduled.walk())
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    assert 'updatedesk_jobs_total{kind="VERSION_UPDATE",outcome="COMPLETED"} 2.0' in scraped
    # Both processes keep the liveness heartbeat that the compose healthchecks read.
    for role in ("worker", "scheduler"):
        check = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "updatedesk.cli", "healthcheck", role, "--max-age", str(WITHIN)),
            env=processes.env,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(check.communicate(), WITHIN)
        assert (check.returncode, stderr) == (0, b""), role
    # Metrics are for the machine's own scraper unless configured otherwise: loopback only.
    assert listening_addresses(metrics_port) == {"127.0.0.1"}


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a TCP port listens on, from the kernel's socket table (Linux)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


CRASHING_STEP = "install_version"


def _operator_script(tmp_path: Path) -> tuple[str, Path, Path]:
    log, mark = tmp_path / "steps.log", tmp_path / "hanging.pid"
    script = tmp_path / "operator.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$UPDATEDESK_STEP" = {CRASHING_STEP} ] && [ ! -e {mark} ]; then\n'
        f"  echo $$ > {mark}.tmp && mv {mark}.tmp {mark}\n"
        "  exec sleep 60\n"
        "fi\n"
        'echo "PROGRESS 50 working"\n'
        f'echo "$UPDATEDESK_STEP" >> {log}\n'
    )
    return f"sh {script}", log, mark


async def test_a_killed_worker_s_request_is_finished_by_another_without_repeating_steps(
    processes: Processes, api: Runtime, tmp_path: Path
) -> None:
    """The worker (and the command it runs) dies mid-step: its lease lapses, the scheduler process
    enqueues the job again, and a new worker resumes after the last checkpoint."""
    scene = await make_scene()
    command, log, mark = _operator_script(tmp_path)
    crash_env = {
        "UPDATEDESK_EXECUTOR": "command",
        "UPDATEDESK_COMMAND_VERSION_UPDATE": command,
        "UPDATEDESK_WORKER_HEARTBEAT_TIMEOUT": "1.5",
        "UPDATEDESK_WORKER_MAINTENANCE_CHANCE": "1000000",
        "UPDATEDESK_LEASE_SECONDS": "1",
    }
    first = processes.start("worker", "--threads", "1", **crash_env)
    processes.start("scheduler", **crash_env)
    request = await request_and_schedule(scene)

    async def hanging() -> bool:
        return mark.exists()

    await wait_until(hanging, WITHIN, f"the first worker to hang in {CRASHING_STEP}")
    command_group = os.getpgid(int(mark.read_text().strip()))
    # The worker is killed (out of memory, a crash): its guard stops the command it was running,
    # which would otherwise run on beside the next worker's copy of the step.
    first.kill()
    first.wait()

    async def command_stopped() -> bool:
        return not group_alive(command_group)

    await wait_until(command_stopped, WITHIN, "the killed worker's command to be stopped")

    processes.start("worker", "--threads", "1", **crash_env)

    async def completed() -> bool:
        return (await UpdateRequest.get(id=request.id)).status is UpdateStatus.COMPLETED

    await wait_until(completed, WITHIN, "the second worker to finish the request")
    assert log.read_text().splitlines() == [step.name for step in VERSION_UPDATE_STEPS]
    finished = await UpdateRequest.get(id=request.id)
    assert finished.attempts == 2


async def test_a_worker_killed_past_its_retries_is_given_up_when_its_lease_lapses(
    processes: Processes, api: Runtime, tmp_path: Path
) -> None:
    """Issue 12: a request whose job died after its retries stayed IN_PROGRESS and its site offline.
    Real worker and scheduler processes, a 1 s lease and two attempts: each worker that takes the
    request is killed mid-step; the scheduler re-enqueues once, then gives the request up."""
    scene = await make_scene()
    pids = tmp_path / "hanging.pids"
    script = tmp_path / "operator.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$UPDATEDESK_STEP" = {CRASHING_STEP} ]; then echo $$ >> {pids}; exec sleep 60; fi\n'
        'echo "PROGRESS 50 working"\n'
    )
    env = {
        "UPDATEDESK_EXECUTOR": "command",
        "UPDATEDESK_COMMAND_VERSION_UPDATE": f"sh {script}",
        "UPDATEDESK_LEASE_SECONDS": "1",
        "UPDATEDESK_STEP_ATTEMPTS": "2",
        "UPDATEDESK_STAFF_ALERT_EMAIL": "oncall@hosting.example",
    }
    processes.start("scheduler", **env)
    request = await request_and_schedule(scene)
    for attempt in (1, 2):
        worker = processes.start("worker", "--threads", "1", **env)

        async def hanging(expected: int = attempt) -> bool:
            return pids.exists() and len(pids.read_text().split()) >= expected

        await wait_until(hanging, WITHIN, f"worker {attempt} to hang in {CRASHING_STEP}")
        command_group = os.getpgid(int(pids.read_text().split()[-1]))
        worker.kill()
        worker.wait()

        async def command_stopped(group: int = command_group) -> bool:
            return not group_alive(group)

        await wait_until(command_stopped, WITHIN, "its guard to stop the killed worker's command")

    async def given_up() -> bool:
        return (await UpdateRequest.get(id=request.id)).status is UpdateStatus.UNABLE_TO_COMPLETE

    async def describe() -> str:
        row = await UpdateRequest.get(id=request.id)
        return f"status {row.status}, attempts {row.attempts}, lease {row.lease_expires_at}"

    await wait_until(given_up, WITHIN, "the scheduler to give the request up", describe)
    failed = await UpdateRequest.get(id=request.id)
    assert (failed.attempts, failed.completed_steps) == (2, ["backup", "stop_site"])
    assert failed.internal_detail is not None and "UPDATEDESK_STEP_ATTEMPTS=2" in failed.internal_detail
    production = await Environment.get(id=failed.environment_id)
    assert (production.online, production.running_request_id) == (True, None)
    # (A slow worker start may also have brought a "not begun" alert: the workers were down.)
    alerts = await Notification.filter(update_request_id=request.id, kind=NotificationKind.STAFF_ALERT)
    given_up_alerts = [a for a in alerts if "could not be completed" in a.subject]
    assert [a.recipient for a in given_up_alerts] == ["oncall@hosting.example"]
    told = Notification.filter(update_request_id=request.id, kind=NotificationKind.UNABLE_TO_COMPLETE)
    assert await told.exists()


def group_gone(pgid: int) -> bool:
    """Whether no process of the group `pgid` is left."""
    return not group_alive(pgid)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_deploys_during_a_long_step_stop_its_command_and_cost_the_request_no_try(
    processes: Processes, api: Runtime, tmp_path: Path
) -> None:
    """Two deploys (SIGTERM to the worker) while a step's command runs, with one try per request:
    each stopping worker stops the command (its own process group, which would otherwise run on
    as an orphan beside the next job's copy of the step), hands the request back without counting
    the try, and exits at once; the worker after the deploys finishes it from its checkpoint."""
    scene = await make_scene()
    pids, log = tmp_path / "hanging.pids", tmp_path / "steps.log"
    script = tmp_path / "operator.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"hung=$(cat {pids} 2>/dev/null | wc -l)\n"
        f'if [ "$UPDATEDESK_STEP" = {CRASHING_STEP} ] && [ "$hung" -lt 2 ]; then\n'
        f"  echo $$ >> {pids}; exec sleep 60\n"
        "fi\n"
        f'echo "$UPDATEDESK_STEP" >> {log}\n'
    )
    env = {
        "UPDATEDESK_EXECUTOR": "command",
        "UPDATEDESK_COMMAND_VERSION_UPDATE": f"sh {script}",
        "UPDATEDESK_LEASE_SECONDS": "2",
        "UPDATEDESK_STEP_ATTEMPTS": "1",
    }
    processes.start("scheduler", **env)
    request = await request_and_schedule(scene)
    for deploy in (1, 2):
        worker = processes.start("worker", "--threads", "1", **env)

        async def hanging(expected: int = deploy) -> bool:
            return pids.exists() and len(pids.read_text().split()) >= expected

        await wait_until(hanging, WITHIN, f"worker {deploy} to be inside {CRASHING_STEP}")
        command_group = os.getpgid(int(pids.read_text().split()[-1]))
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, STOP_WITHIN)  # TimeoutExpired: it did not stop
        assert not group_alive(command_group), f"deploy {deploy}: the step's command outlived its worker"
        handed_back = await UpdateRequest.get(id=request.id)
        assert (handed_back.status, handed_back.attempts, handed_back.lease_token) == (
            UpdateStatus.IN_PROGRESS,
            0,
            None,
        )

    processes.start("worker", "--threads", "1", **env)

    async def completed() -> bool:
        return (await UpdateRequest.get(id=request.id)).status is UpdateStatus.COMPLETED

    await wait_until(completed, WITHIN, "the worker after the deploys to finish the request")
    assert log.read_text().splitlines() == [step.name for step in VERSION_UPDATE_STEPS]
    assert (await UpdateRequest.get(id=request.id)).attempts == 1
