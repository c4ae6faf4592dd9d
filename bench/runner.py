"""`python -m bench [--quick] [--only NAME ...] [--rounds N]`: run the measurements on a fresh
PostgreSQL database and a unique Redis namespace, print one table."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import BenchEnv, Options, Row, bench_env, raise_open_files
from infra.logs import configure_logging

Measurement = Callable[[BenchEnv], Awaitable[list[Row]]]


async def _list_query(env: BenchEnv) -> list[Row]:
    from bench.list_query import measure_list_query, seed_list_world

    return await measure_list_query(env, await seed_list_world())


async def _statements(env: BenchEnv) -> list[Row]:
    from bench.list_query import measure_statements, seed_list_world

    return await measure_statements(env, await seed_list_world())


async def _events(env: BenchEnv) -> list[Row]:
    from bench.events import measure_event_latency

    return await measure_event_latency(env)


async def _fanout(env: BenchEnv) -> list[Row]:
    from bench.fanout import measure_fanout

    return await measure_fanout(env)


async def _resume(env: BenchEnv) -> list[Row]:
    from bench.resume import measure_resume

    return await measure_resume(env)


async def _dispatch(env: BenchEnv) -> list[Row]:
    from bench.workers import measure_dispatch_latency

    return await measure_dispatch_latency(env)


async def _throughput(env: BenchEnv) -> list[Row]:
    from bench.workers import measure_throughput

    return await measure_throughput(env)


MEASUREMENTS: dict[str, Measurement] = {
    "list": _list_query,
    "statements": _statements,
    "events": _events,
    "fanout": _fanout,
    "resume": _resume,
    "dispatch": _dispatch,
    "throughput": _throughput,
}


def format_table(rows: list[Row]) -> str:
    header = ("measurement", "value", "baseline", "ratio", "target", "result")
    lines = [header, *((r.measurement, r.value, r.baseline, r.ratio, r.target, r.verdict) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(line: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


async def run(names: list[str], options: Options, logs: Path) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        # Each measurement gets its own database and namespace: no state leaks between them.
        started = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            async with bench_env(options, logs) as env:
                rows.extend(await MEASUREMENTS[name](env))
        except Exception as error:
            traceback.print_exc()
            rows.append(Row(name, f"error: {type(error).__name__}: {error}"[:100], ok=False))
        print(f"bench: {name} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run, not a result)")
    parser.add_argument(
        "--only", action="append", choices=list(MEASUREMENTS), metavar="NAME",
        help=f"run only this measurement (repeatable): {', '.join(MEASUREMENTS)}",
    )  # fmt: skip
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 7; quick 3)")
    args = parser.parse_args(argv)
    options = Options(quick=args.quick, rounds=args.rounds or (3 if args.quick else 7))
    os.environ.setdefault("UPDATEDESK_LOG_JSON", "false")
    configure_logging(json=False, level=logging.WARNING)
    for handler in logging.getLogger().handlers:  # statement counting turns tortoise to DEBUG
        handler.setLevel(logging.WARNING)
    raise_open_files()
    names = args.only or list(MEASUREMENTS)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="updatedesk-bench-") as logs:
        rows = asyncio.run(run(names, options, Path(logs)))
    print(format_table(rows))
    print(f"\n{len(rows)} rows in {time.monotonic() - started:.0f} s; "
          f"{sum(1 for r in rows if r.ok is False)} failed")  # fmt: skip
    errors = any(r.value.startswith("error:") for r in rows)
    sys.exit(1 if errors or (args.strict and any(r.ok is False for r in rows)) else 0)
