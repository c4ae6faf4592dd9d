"""Measurements 5 and 6 with real `updatedesk worker` and `updatedesk scheduler` processes on Redis
(simulated executor, zero-second steps):

5. dispatch latency: from the commit that makes a request due (staff schedule it for now) until
   its IN_PROGRESS event arrives, with an idle worker;
6. throughput: 1,000 due SCHEDULED requests until all are COMPLETED, one worker process, against
   raw dramatiq no-op jobs per second on the same Redis (same thread count and idle wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker

from bench.common import BenchEnv, Row, median, ms, percentile
from infra.bus import RedisBus, install_bus_sink
from infra.settings import DEFAULT_WORKER_THREADS
from models.enums import EnvironmentKind, EventType, HostingModel, Role, UpdateKind, UpdateStatus
from models.events import UpdateRequestChanged, add_event_sink, remove_event_sink
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.tables import District, Environment, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district
from workers.broker import redis_client

#: Issue 18: due -> IN_PROGRESS p50 at most 25 ms (goal 10 ms).
TARGET_DISPATCH_P50 = 0.025
TARGET_THROUGHPUT_RATIO = 0.10
WITHIN = 60.0
WORKER_ENV = {
    "UPDATEDESK_SIMULATED_STEP_SECONDS": "0",
    "UPDATEDESK_STEP_RETRY_DELAY": "0",
}


class Watch:
    """Events of the run's bus, by (request id, status): when each arrived here."""

    def __init__(self, bus: RedisBus) -> None:
        self.bus = bus
        self.arrivals: dict[tuple[int, UpdateStatus], float] = {}
        self.committed: dict[tuple[int, UpdateStatus], float] = {}
        self._changed = asyncio.Condition()

    async def collect(self) -> None:
        async with self.bus.subscribe(max_queued=100_000) as events:
            async for event in events:
                if event.type is EventType.STATUS_CHANGED:
                    self.arrivals.setdefault((event.update_request_id, event.status), time.perf_counter())
                    async with self._changed:
                        self._changed.notify_all()

    async def on_commit(self, event: UpdateRequestChanged) -> None:
        """A domain sink of this process: stamps our own commits (SCHEDULED by staff)."""
        self.committed.setdefault((event.update_request_id, event.status), time.perf_counter())

    async def arrival(self, request_id: int, status: UpdateStatus, within: float = WITHIN) -> float:
        key = (request_id, status)
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: key in self.arrivals)
        return self.arrivals[key]


@contextlib.asynccontextmanager
async def watched_bus(env: BenchEnv) -> AsyncIterator[Watch]:
    bus = RedisBus(env.redis_url, env.namespace)
    await bus.start()
    watch = Watch(bus)
    add_event_sink(watch.on_commit)  # before the bus sink: stamps right after the commit
    uninstall = install_bus_sink(bus)
    collector = asyncio.create_task(watch.collect())
    try:
        await asyncio.wait_for(bus.listening.wait(), WITHIN)
        yield watch
    finally:
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        uninstall()
        remove_event_sink(watch.on_commit)
        await bus.close()


async def measure_dispatch_latency(env: BenchEnv) -> list[Row]:
    samples = env.options.count(30, 6)
    await make_catalog()
    district = await make_district(environments=[EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX])
    requester = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    staff = await actor_of(await make_account(Role.HOSTING_STAFF, email="staff@bench.example"))
    delays: list[float] = []
    async with watched_bus(env) as watch:
        env.start("worker", "worker", "--threads", str(DEFAULT_WORKER_THREADS), **WORKER_ENV)
        env.start("scheduler", "scheduler", **WORKER_ENV)
        for index in range(samples + 1):  # the first one waits for the processes to start
            request = await request_update(
                requester,
                district_id=district.id,
                kind=UpdateKind.DATABASE_REFRESH,
                environment=EnvironmentKind.SANDBOX,
            )
            await schedule_update_request(
                staff, request.id, datetime.now(UTC), override_maintenance_window=True
            )
            started = await watch.arrival(request.id, UpdateStatus.IN_PROGRESS)
            await watch.arrival(request.id, UpdateStatus.COMPLETED)
            if index > 0:
                delays.append(started - watch.committed[(request.id, UpdateStatus.SCHEDULED)])
            await asyncio.sleep(0.3)  # the worker goes idle again
    p50 = median(delays)
    return [
        Row(
            "dispatch latency: due -> IN_PROGRESS, idle worker (p50)",
            ms(p50),
            f"p99 {ms(percentile(delays, 99))}",
            target=f"<= {TARGET_DISPATCH_P50 * 1000:.0f} ms",
            ok=p50 <= TARGET_DISPATCH_P50,
        )
    ]


# --------------------------------------------------------------------------- throughput


async def _seed_environments(count: int) -> list[Environment]:
    """`count` sandboxes, one per district (bulk inserts), each district with the production its
    refresh copies (a refresh without one fails at begin): independent sites, as a refresh holds
    its district's production too (one job per environment), so refreshes of one district would
    take turns and the run would measure that instead of the workers."""
    districts = [
        District(name=f"Bench district {i}", hosting_model=HostingModel.CAMPUS_CLOUD) for i in range(count)
    ]
    await District.bulk_create(districts)
    rows = await District.filter(name__startswith="Bench district ").order_by("id")
    await Environment.bulk_create(
        [
            Environment(district_id=d.id, kind=kind, current_version="Campus.2435.2")
            for d in rows
            for kind in (EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX)
        ]
    )
    sandboxes = Environment.filter(district_id__in=[d.id for d in rows], kind=EnvironmentKind.SANDBOX)
    return list(await sandboxes.order_by("id").limit(count))


@contextlib.asynccontextmanager
async def publishing_bus(env: BenchEnv) -> AsyncIterator[RedisBus]:
    """The run's bus for publishing only: the throughput run reads no event, so this process does
    not parse the ~7 records of every runbook on the cores the service is measured on."""
    bus = RedisBus(env.redis_url, env.namespace)
    try:
        yield bus
    finally:
        await bus.close()


async def _service_run(environments: list[Environment], bus: RedisBus) -> float:
    """Requests per second: `len(environments)` due refreshes until all are COMPLETED."""
    due = datetime.now(UTC) - timedelta(seconds=1)
    await UpdateRequest.bulk_create(
        [
            UpdateRequest(
                kind=UpdateKind.DATABASE_REFRESH,
                status=UpdateStatus.SCHEDULED,
                district_id=e.district_id,
                environment_id=e.id,
                scheduled_start=due,
                window_override=True,
            )
            for e in environments
        ]
    )
    ids = [row.id for row in await UpdateRequest.filter(status=UpdateStatus.SCHEDULED).only("id")]
    started = time.perf_counter()
    # Wake the scheduler as a SCHEDULED event would (the rows were written directly).
    await bus.publish(
        UpdateRequestChanged(
            EventType.STATUS_CHANGED, ids[0], environments[0].district_id, UpdateStatus.SCHEDULED, due
        )
    )
    deadline = time.monotonic() + 300
    while await UpdateRequest.filter(id__in=ids, status=UpdateStatus.COMPLETED).count() < len(ids):
        failed = await UpdateRequest.filter(id__in=ids, status=UpdateStatus.UNABLE_TO_COMPLETE).first()
        if failed is not None:  # the run cannot finish: say why now, not after the deadline
            raise RuntimeError(f"a request could not be completed: {failed.status_message}")
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not complete the requests within 300 s")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    # Free the environments for the next round.
    await UpdateRequest.filter(id__in=ids).update(deleted_at=datetime.now(UTC))
    return len(ids) / elapsed


def _raw_run(env: BenchEnv, jobs: int, round_index: int) -> float:
    """No-op dramatiq jobs per second: enqueue `jobs`, then one worker drains them."""
    broker = RedisBroker(client=redis_client(env.redis_url), namespace=f"{env.namespace}:raw{round_index}")
    done = threading.Event()
    counter = [0]
    lock = threading.Lock()

    def noop(n: int) -> None:
        with lock:
            counter[0] += 1
            if counter[0] == jobs:
                done.set()

    actor = dramatiq.actor(broker=broker, actor_name="noop", queue_name="bench")(noop)
    for n in range(jobs):
        actor.send(n)
    worker = Worker(
        broker,
        worker_timeout=int(env.settings().worker_idle_wait * 1000),
        worker_threads=DEFAULT_WORKER_THREADS,
    )
    started = time.perf_counter()
    worker.start()
    try:
        if not done.wait(120):
            raise RuntimeError("raw dramatiq worker did not finish")
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
        broker.close()
    return jobs / elapsed


async def measure_throughput(env: BenchEnv) -> list[Row]:
    jobs = env.options.count(1000, 100)
    rounds = env.options.count(2, 1)
    environments = await _seed_environments(jobs)
    await make_catalog()
    service: list[float] = []
    baseline: list[float] = []
    async with publishing_bus(env) as bus:
        env.start("worker", "worker", "--processes", "1", **WORKER_ENV)
        env.start("scheduler", "scheduler", **WORKER_ENV)
        await _service_run(environments[:10], bus)  # warm up: both processes are up
        for index in range(rounds):
            baseline.append(await asyncio.to_thread(_raw_run, env, jobs, index))
            service.append(await _service_run(environments, bus))
        baseline.append(await asyncio.to_thread(_raw_run, env, jobs, rounds))
    value, base = median(service), median(baseline)
    return [
        Row(
            f"throughput: {jobs} zero-length runbooks SCHEDULED -> COMPLETED, one worker",
            f"{value:.0f} req/s",
            f"{base:.0f} jobs/s (raw dramatiq no-op)",
            f"{value / base:.3f}",
            f">= {TARGET_THROUGHPUT_RATIO:.2f}",
            value / base >= TARGET_THROUGHPUT_RATIO,
        )
    ]
