"""What `updatedesk worker` and `updatedesk scheduler` run (the CLI module calls these).

Also runnable on its own: ``python -m updatedesk.cli_workers worker [--processes N] [--threads N]``
and ``python -m updatedesk.cli_workers scheduler``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from infra.logs import configure_logging
from infra.settings import Settings, load_settings


def positive_count(flag: str) -> Callable[[str], int]:
    """An argparse type: a whole number of at least 1 for `flag` (processes, threads)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be a positive whole number, not '{text}'")
        return value

    return parse


def run_worker(settings: Settings, processes: int | None = None, threads: int | None = None) -> int:
    """Run dramatiq worker process(es) until SIGTERM/SIGINT. One process runs here; more are
    started as child processes (each with its own event loop and ORM), signals forwarded."""
    processes = processes or settings.worker_processes
    threads = threads or settings.worker_threads
    if processes == 1:
        from workers.process import worker_main

        worker_main(settings, threads)
        return 0
    command = [
        sys.executable,
        "-m",
        "updatedesk.cli_workers",
        "worker",
        "--processes",
        "1",
        "--threads",
        str(threads),
    ]
    children = [subprocess.Popen(command, env=_child_env(settings, index)) for index in range(processes)]

    def forward(signum: int, frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


def _child_env(settings: Settings, index: int) -> dict[str, str]:
    env = dict(os.environ)
    if settings.worker_metrics_port is not None:
        env["UPDATEDESK_WORKER_METRICS_PORT"] = str(settings.worker_metrics_port + index)
    return env


def run_scheduler(settings: Settings) -> int:
    """Run the dispatch loop until SIGTERM/SIGINT."""
    from workers.process import scheduler_main

    asyncio.run(scheduler_main(settings))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="updatedesk-workers")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="dramatiq worker process(es)")
    worker.add_argument("--processes", type=positive_count("--processes"), default=None)
    worker.add_argument("--threads", type=positive_count("--threads"), default=None)
    commands.add_parser("scheduler", help="dispatch loop")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(json=settings.log_json)
    if args.command == "worker":
        return run_worker(settings, args.processes, args.threads)
    return run_scheduler(settings)


if __name__ == "__main__":
    sys.exit(main())
