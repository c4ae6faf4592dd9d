"""The guard between a worker and an operator command or database tool: `python guard.py <parent pid>
<argv...>`, started as the leader of its own process group.

A command runs in its own process group so that the worker can stop all of it when its step ends.
That also takes it out of the worker's reach when the worker dies without stopping it (killed,
out of memory): the command would run on while the next job, after the lease lapses, runs the same
step again on the same site. The guard asks the kernel to signal it when the worker dies
(`PR_SET_PDEATHSIG`), runs the command in its group, and on SIGTERM stops the whole group: SIGTERM,
then SIGKILL after a grace. Otherwise it exits as the command did.

Standard library only, and run by its path: it must start fast and import nothing of the service.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

#: prctl(2) option: the signal this process gets when its parent thread dies.
PR_SET_PDEATHSIG = 1
#: Grace between SIGTERM and SIGKILL of the group, seconds (as the worker's own stop).
KILL_GRACE_SECONDS = 2.0
POLL_SECONDS = 0.02
#: Exit status when the command cannot be started (as a shell's "not found").
CANNOT_START = 127


def _die_with_parent(parent_pid: int) -> None:
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None:  # not Linux: the command runs as before, stopped only by the worker
        return
    if prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the worker died before the request took effect
        sys.exit(CANNOT_START)


def _stop_group(child: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to the group (this guard ignores it), up to the grace for the command to end, then
    SIGKILL to the group, this guard included."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    group = os.getpgrp()
    if child is not None:
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    os.killpg(group, signal.SIGKILL)


def _exit_as(returncode: int) -> None:
    """Exit as the command did: its status, or the signal that ended it."""
    if returncode < 0:
        if -returncode != signal.SIGKILL:  # SIGKILL has no handler to reset
            signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
    sys.exit(returncode)


def main(argv: list[str]) -> None:
    parent_pid, command = int(argv[0]), argv[1:]
    child: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, frame: object) -> None:
        _stop_group(child)  # from the worker's stop, or the kernel's word that the worker died

    signal.signal(signal.SIGTERM, on_term)
    _die_with_parent(parent_pid)
    try:
        child = subprocess.Popen(command)
    except OSError as error:
        print(f"{command[0]}: cannot start: {error.strerror}", file=sys.stderr)
        sys.exit(CANNOT_START)
    _exit_as(child.wait())


if __name__ == "__main__":
    main(sys.argv[1:])
