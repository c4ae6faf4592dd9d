"""Worker processes killed (SIGKILL) or stopped (SIGTERM) in the middle of a runbook.

The operator command of these trials writes one line per finished step into an effects log; a step
the trial picked hangs (SIGKILL) or runs slowly (SIGTERM) the first time, and the trial strikes
while it runs. Afterwards every request must be COMPLETED, every step's effect must be in the log
exactly once, and the audit history must hold only lifecycle moves.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from models.enums import NotificationKind, UpdateStatus
from models.tables import Environment, Notification, UpdateRequest
from tests.reliability.scenario import scheduled_request, staff_actor
from tests.reliability.support import Row, broken_chains, count, illegal_moves, record
from tests.support_live import wait_until
from tests.workers.conftest import POLL_SECONDS
from tests.workers.test_processes import Processes, group_gone
from workers.runbooks import VERSION_UPDATE_STEPS
from workers.runtime import Runtime
from workers.scheduler import dispatch_pass

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.postgres]

#: A request not COMPLETED this long after the fault counts as stuck.
DEADLINE = 30.0
STEPS = [step.name for step in VERSION_UPDATE_STEPS]


def operator_script(directory: Path, strike_seconds: int) -> str:
    """The operator command: the step named in strike-<request> stalls for `strike_seconds` the
    first time (writing its pid to striking-<request>); every finished step appends its effect."""
    script = directory / "operator.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"d={directory}\n"
        "r=$UPDATEDESK_REQUEST_ID; s=$UPDATEDESK_STEP\n"
        'if [ -e "$d/strike-$r" ] && [ "$(cat "$d/strike-$r")" = "$s" ] && [ ! -e "$d/striking-$r" ]; then\n'
        '  echo $$ > "$d/striking-$r.tmp" && mv "$d/striking-$r.tmp" "$d/striking-$r"\n'
        f"  sleep {strike_seconds}\n"
        "fi\n"
        'echo "PROGRESS 50 working"\n'
        'echo "$r $s" >> "$d/effects.log"\n'
    )
    return f"sh {script}"


def worker_env(command: str) -> dict[str, str]:
    return {
        "UPDATEDESK_EXECUTOR": "command",
        "UPDATEDESK_COMMAND_VERSION_UPDATE": command,
        "UPDATEDESK_WORKER_HEARTBEAT_TIMEOUT": "1.5",
        "UPDATEDESK_WORKER_MAINTENANCE_CHANCE": "1000000",
        # A dead worker's request is found by its lapsed lease (the scheduler), not by the broker.
        "UPDATEDESK_LEASE_SECONDS": "1",
    }


def effects(directory: Path) -> Counter[tuple[int, str]]:
    log = directory / "effects.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter((int(r), s) for r, s in (line.split() for line in lines))


async def judge(row: Row, ids: list[int], directory: Path) -> None:
    """Fill lost / duplicated / illegal from the database and the effects log."""
    done = effects(directory)
    for request_id in ids:
        request = await UpdateRequest.get(id=request_id)
        if request.status is not UpdateStatus.COMPLETED:
            row.lost += 1
        row.duplicated += sum(max(0, done[(request_id, step)] - 1) for step in STEPS)
        # A completed request with a missing effect lost a step.
        if request.status is UpdateStatus.COMPLETED and any(done[(request_id, s)] == 0 for s in STEPS):
            row.lost += 1
    row.illegal = len(await illegal_moves(ids)) + len(await broken_chains(ids))


async def test_worker_sigkill_mid_runbook(
    processes: Processes, api: Runtime, tmp_path: Path, request
) -> None:
    """The worker dies mid-step and its guard stops the command it ran; its lease lapses, the
    scheduler enqueues the job again, and a fresh worker resumes after the last checkpoint."""
    trials = count(3, 50)
    rng = random.Random(8)
    staff = await staff_actor()
    env = worker_env(operator_script(tmp_path, strike_seconds=60))
    worker = processes.start("worker", "--threads", "1", **env)
    processes.start("scheduler", **env)
    row = Row("worker SIGKILL mid-runbook", "fault", note="SIGKILL of the worker and its step command")
    row.test = request.node.nodeid
    ids: list[int] = []
    for _ in range(trials):
        scheduled = await scheduled_request(staff)
        ids.append(scheduled.id)
        (tmp_path / f"strike-{scheduled.id}").write_text(rng.choice(STEPS))
        striking = tmp_path / f"striking-{scheduled.id}"  # the scheduler process dispatches it

        await wait_until(striking.exists, "the worker to reach the chosen step", DEADLINE)
        command_group = os.getpgid(int(striking.read_text().strip()))
        # The worker dies (out of memory, a crash); its guard stops the command it was running.
        worker.kill()
        worker.wait()
        killed_at = time.monotonic()
        await wait_until(partial(group_gone, command_group), "the dead worker's command to stop", DEADLINE)
        worker = processes.start("worker", "--threads", "1", **env)
        await count_trial(row, scheduled.id, killed_at)
    await judge(row, ids, tmp_path)
    attempts = [r.attempts for r in await UpdateRequest.filter(id__in=ids)]
    row.note += f"; attempts per request {sorted(Counter(attempts).items())}"
    record(row)
    row.assert_clean()


async def completed_within(request_id: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await UpdateRequest.get(id=request_id)).status is UpdateStatus.COMPLETED:
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False


async def test_worker_sigterm_mid_runbook(
    processes: Processes, api: Runtime, tmp_path: Path, request
) -> None:
    """SIGTERM while a long step runs (a deploy): the worker stops the step and its command, hands
    the request back without counting the try and exits cleanly at once; the scheduler's next pass
    enqueues it again and a fresh worker completes it, every step's effect once."""
    trials = count(2, 10)
    rng = random.Random(15)
    staff = await staff_actor()
    env = worker_env(operator_script(tmp_path, strike_seconds=600))
    worker = processes.start("worker", "--threads", "1", **env)
    row = Row("worker SIGTERM mid-runbook", "fault", note="graceful stop while a 10 min step runs")
    row.test = request.node.nodeid
    ids: list[int] = []
    exit_codes: list[int | None] = []
    for _ in range(trials):
        scheduled = await scheduled_request(staff)
        ids.append(scheduled.id)
        (tmp_path / f"strike-{scheduled.id}").write_text(rng.choice(STEPS))
        assert await dispatch_pass(api.queue, api.settings) == [scheduled.id]
        striking = tmp_path / f"striking-{scheduled.id}"

        await wait_until(striking.exists, "the worker to reach the chosen step", DEADLINE)
        worker.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        try:
            # In a thread: this loop runs the API runtime the stopping worker may be waiting on
            # (a blocked loop holds whatever its half-done transaction holds for the whole wait).
            exit_codes.append(await asyncio.to_thread(worker.wait, DEADLINE))
        except subprocess.TimeoutExpired:
            exit_codes.append(None)
            worker.kill()
            worker.wait()
        worker = processes.start("worker", "--threads", "1", **env)
        # The scheduler's next pass finds the handed-back request and enqueues it again.
        assert await dispatch_pass(api.queue, api.settings) == [scheduled.id]
        await count_trial(row, scheduled.id, stopped_at)
    await judge(row, ids, tmp_path)
    attempts = [r.attempts for r in await UpdateRequest.filter(id__in=ids)]
    row.note += f"; worker exit codes {sorted(Counter(exit_codes).items(), key=str)}"  # None: hung
    row.note += f"; attempts per request {sorted(Counter(attempts).items())}"
    record(row)
    row.assert_clean()
    assert exit_codes == [0] * trials, "a stopped worker must exit cleanly"
    assert attempts == [1] * trials, "a stop is not a try: only the finishing job's counts"


async def count_trial(row: Row, request_id: int, fault_at: float) -> None:
    """One trial: the request must complete within the deadline; recovery time counts from the fault."""
    row.trials += 1
    row.submitted += 1
    if await completed_within(request_id, DEADLINE):
        row.recovery.append(time.monotonic() - fault_at)
    else:
        row.stuck += 1


def hanging_script(directory: Path) -> str:
    """The operator command of the lease trial: the install step hangs every time (its pid and
    request appended to hanging.log); the other steps finish at once."""
    script = directory / "hanging.sh"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$UPDATEDESK_STEP" = install_version ]; then\n'
        f'  echo "$UPDATEDESK_REQUEST_ID $$" >> {directory}/hanging.log\n'
        "  exec sleep 60\n"
        "fi\n"
    )
    return f"sh {script}"


def hanging(directory: Path, request_id: int) -> list[int]:
    log = directory / "hanging.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [int(pid) for r, pid in (line.split() for line in lines) if int(r) == request_id]


async def test_lease_lapsed_past_the_attempts_gives_the_request_up(
    processes: Processes, api: Runtime, tmp_path: Path, request
) -> None:
    """Every worker that takes the request is killed mid-step (machine lost, OOM, retries spent):
    nothing renews the lease. After UPDATEDESK_STEP_ATTEMPTS jobs the scheduler gives the request
    up: UNABLE_TO_COMPLETE, its site online and free, district and staff told. Recovery = the last
    kill to the request given up (one lease plus at most one scheduler pass)."""
    trials = count(2, 10)
    attempts = 2
    staff = await staff_actor()
    env = {
        "UPDATEDESK_EXECUTOR": "command",
        "UPDATEDESK_COMMAND_VERSION_UPDATE": hanging_script(tmp_path),
        "UPDATEDESK_LEASE_SECONDS": "1",
        "UPDATEDESK_STEP_ATTEMPTS": str(attempts),
        "UPDATEDESK_STAFF_ALERT_EMAIL": "oncall@hosting.example",
    }
    processes.start("scheduler", **env)
    row = Row("lease lapsed", "fault", note="", test=request.node.nodeid)
    ids: list[int] = []
    for _ in range(trials):
        scheduled = await scheduled_request(staff)
        ids.append(scheduled.id)
        row.trials += 1
        row.submitted += 1
        for attempt in range(1, attempts + 1):
            worker = processes.start("worker", "--threads", "1", **env)

            def reached(expected: int = attempt, request_id: int = scheduled.id) -> bool:
                return len(hanging(tmp_path, request_id)) >= expected

            await wait_until(reached, f"worker {attempt} to hang mid-step", DEADLINE)
            command_group = os.getpgid(hanging(tmp_path, scheduled.id)[-1])
            worker.kill()
            worker.wait()
            killed_at = time.monotonic()
            # Its guard stops the command the dead worker ran.
            await wait_until(
                partial(group_gone, command_group), "the dead worker's command to stop", DEADLINE
            )
        if await ended_within(scheduled.id, UpdateStatus.UNABLE_TO_COMPLETE, DEADLINE):
            row.recovery.append(time.monotonic() - killed_at)
        else:
            row.stuck += 1
    for request_id in ids:
        failed = await UpdateRequest.get(id=request_id)
        site = await Environment.get(id=failed.environment_id)
        told = await Notification.filter(
            update_request_id=request_id, kind=NotificationKind.UNABLE_TO_COMPLETE
        )
        alerted = await Notification.filter(update_request_id=request_id, kind=NotificationKind.STAFF_ALERT)
        stranded = not site.online or site.running_request_id is not None
        if failed.status is not UpdateStatus.UNABLE_TO_COMPLETE or stranded or not told or not alerted:
            row.lost += 1
        row.duplicated += max(0, failed.attempts - attempts)
    row.illegal = len(await illegal_moves(ids)) + len(await broken_chains(ids))
    row.note = (
        f"{attempts} workers killed mid-step per request, 1 s lease; lost = not given up, site offline or "
        "still held, district or staff not told; duplicated = jobs beyond the attempts"
    )
    record(row)
    row.assert_clean()


async def ended_within(request_id: int, status: UpdateStatus, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await UpdateRequest.get(id=request_id)).status is status:
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False
