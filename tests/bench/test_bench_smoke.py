"""Keeps `bench/` from rotting: its cheapest measurement (SQL statements per list query) runs with
quick counts in a child process (the bench starts and stops its own ORM and database). Only the
shape of the result is checked, never a speed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bench.common import Row
from bench.runner import format_table

pytestmark = pytest.mark.postgres


def quick_bench(*measurements: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench --quick --only MEASUREMENT ...`, one round; it ran (a missed target exits 1)."""
    only = [argument for measurement in measurements for argument in ("--only", measurement)]
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *only, "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "UPDATEDESK_LOG_JSON": "false"},
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return result


def test_table_format() -> None:
    table = format_table([Row("m", "1 ms", "2 ms", "0.50x", "<= 2x", True), Row("n", "3")])
    lines = table.splitlines()
    assert lines[0].split("|")[1].strip() == "measurement"
    assert [line.split("|")[6].strip() for line in lines[2:]] == ["pass", "-"]


def test_statements_measurement_prints_one_row() -> None:
    result = quick_bench("statements")
    rows = [line for line in result.stdout.splitlines() if line.startswith("| SQL statements")]
    assert len(rows) == 1, result.stdout + result.stderr[-2000:]
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert len(cells) == 6
    assert re.fullmatch(r"\d+/\d+/\d+/\d+", cells[1]), cells
    assert cells[5] in ("pass", "FAIL"), cells


def test_fanout_measurement_holds_every_socket() -> None:
    """The fan-out rows open hundreds of sockets from one address and account: the server's caps
    on those (issue 21) must not close them, or the rows measure nothing (that happened once)."""
    result = quick_bench("fanout")
    rows = [line for line in result.stdout.splitlines() if line.startswith("| fan-out")]
    assert rows, result.stdout + result.stderr[-2000:]
    for row in rows:
        held = re.search(r"(\d+) of (\d+) held", row)
        assert held is not None and held.group(1) == held.group(2), row


def test_event_latency_measurement_prints_its_rows() -> None:
    """The latency rows check every event they time (its status and move) on the bare client."""
    result = quick_bench("events")
    rows = [line for line in result.stdout.splitlines() if line.startswith("| event latency")]
    assert len(rows) == 3, result.stdout + result.stderr[-2000:]
    # Cells are padded to the widest value of their column (a slow run's "12.34 ms", "1234 us").
    assert all(re.search(r"\| \d+\.\d\d ms +\|", row) for row in rows), rows
    cpu = [line for line in result.stdout.splitlines() if line.startswith("| API process CPU per event")]
    assert len(cpu) == 1 and re.search(r"\| \d+ us +\| \d+ us \(", cpu[0]), result.stdout


def test_cpu_seconds_counts_every_thread_of_a_process() -> None:
    """The events row's CPU per event reads `/proc/<pid>/task/*/schedstat`: work done in a thread
    other than the main one counts too (while that thread lives, as the server's threads do)."""
    import threading
    import time

    from bench.common import cpu_seconds

    burnt, stop = threading.Event(), threading.Event()

    def burn() -> None:
        start = time.thread_time()
        while time.thread_time() - start < 0.05:
            pass
        burnt.set()
        stop.wait(10)

    before = cpu_seconds(os.getpid())
    worker = threading.Thread(target=burn)
    worker.start()
    try:
        assert burnt.wait(10)
        assert cpu_seconds(os.getpid()) - before >= 0.05
    finally:
        stop.set()
        worker.join()


def test_worker_measurements_run_their_requests_to_the_end() -> None:
    """Both run real refreshes through a worker and a scheduler: when the domain's rules change
    (a refresh needs its district's production), the seeded data must still let them complete,
    or the rows say "error" (`make bench` carried such an error for a session)."""
    result = quick_bench("dispatch", "throughput")
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    rows = {line.split("|")[1].strip().split(":")[0]: line for line in table}
    assert re.search(r"\| \d+ req/s +\|", rows.get("throughput", "")), result.stdout + result.stderr[-2000:]
    assert re.search(r"\| \d+\.\d\d ms +\|", rows.get("dispatch latency", "")), result.stdout
