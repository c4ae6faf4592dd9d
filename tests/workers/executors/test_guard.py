"""The guard (`workers/executors/guard.py`) between a worker and its commands: a worker killed
mid-step (SIGKILL: out of memory, a crash) does not leave the step's command running beside the
next job's copy of the step; and the guard exits as its command did."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from pathlib import Path

from tests.workers.conftest import wait_until
from tests.workers.executors.test_command import GONE_WITHIN, is_gone
from workers.executors.command import guarded

ROOT = Path(__file__).resolve().parents[3]
#: A worker in miniature: the command executor runs one step whose command writes its shell's pid
#: and that of a background child, then waits for ever.
WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from workers.executors.command import CommandExecutor
    from tests.workers.executors.jobs import STEP_JOB
    from models.enums import UpdateKind

    async def report(percent, message):
        pass

    command = 'sleep 300 >/dev/null 2>&1 & echo "$$ $!" > {pids}.tmp && mv {pids}.tmp {pids}; wait'
    executor = CommandExecutor({{UpdateKind.VERSION_UPDATE: command}}, timeout_seconds=600)
    asyncio.run(executor.run_step(STEP_JOB, report))
    """
)


async def test_a_worker_killed_mid_step_leaves_no_command_running(tmp_path: Path) -> None:
    pids = tmp_path / "command.pids"
    worker = await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER.format(pids=pids), cwd=ROOT)
    try:

        async def inside_the_step() -> bool:
            return pids.exists()

        await wait_until(inside_the_step, GONE_WITHIN, "the command to start")
        shell, child = (int(pid) for pid in pids.read_text().split())
        worker.send_signal(signal.SIGKILL)
        await worker.wait()

        async def command_gone() -> bool:
            return is_gone(shell) and is_gone(child)

        await wait_until(command_gone, GONE_WITHIN, f"the dead worker's command ({shell}, {child}) to end")
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


async def exit_of(*argv: str) -> tuple[int, bytes]:
    process = await asyncio.create_subprocess_exec(
        *guarded(list(argv)), stderr=asyncio.subprocess.PIPE, start_new_session=True
    )
    _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr


async def test_the_guard_exits_as_its_command_did() -> None:
    assert await exit_of("sh", "-c", "exit 0") == (0, b"")
    assert await exit_of("sh", "-c", "echo failing >&2; exit 3") == (3, b"failing\n")
    assert (await exit_of("sh", "-c", "kill -KILL $$"))[0] == -signal.SIGKILL
    status, stderr = await exit_of("/nonexistent/tool", "--help")
    assert status == 127 and b"/nonexistent/tool: cannot start" in stderr
