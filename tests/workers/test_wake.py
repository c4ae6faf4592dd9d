"""An idle worker is woken by the enqueue (workers.wake), not by its poll: the worker here polls
once a minute (worker_timeout), waits blocked on its queue's wake list, and must still run a job
enqueued then within a bound far below that minute. Real Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq import Message, Worker
from dramatiq.broker import MessageProxy
from dramatiq.errors import ConnectionClosed

from infra.settings import Settings
from tests.workers.conftest import REDIS_URL
from workers.broker import build_broker
from workers.wake import WakingRedisBroker, wake_key

POLL_MS = 60_000
#: Bounds each wait; far below the poll, so only the wake-up can meet it.
WITHIN = 10.0
QUEUE = "probe"
STOP_MS = 1000


@pytest.fixture
def broker(run_id: str) -> Iterator[WakingRedisBroker]:
    namespace = f"{run_id}-wake-{uuid.uuid4().hex[:8]}"
    built = build_broker(Settings(redis_url=REDIS_URL, redis_namespace=namespace))
    assert isinstance(built, WakingRedisBroker)
    try:
        yield built
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
        client.close()
        built.close()


def blocked_on(key: str) -> bool:
    """Whether a consumer's connection is blocked waiting on `key` now (Redis's client list)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return any(c.get("name") == f"wait:{key}" and c.get("cmd") == "blpop" for c in client.client_list())
    finally:
        client.close()


def test_an_idle_consumer_runs_a_job_enqueued_while_it_waits(broker: WakingRedisBroker) -> None:
    ran = threading.Event()
    probe = dramatiq.actor(broker=broker, actor_name="probe", queue_name=QUEUE)(lambda: ran.set())
    worker = Worker(broker, worker_timeout=POLL_MS, worker_threads=1)
    worker.start()
    try:
        key = wake_key(broker.namespace, QUEUE)
        blocked = threading.Event()
        for _ in range(int(WITHIN / 0.02)):  # until the consumer found nothing and waits
            if blocked_on(key):
                blocked.set()
                break
            threading.Event().wait(0.02)
        assert blocked.is_set(), "the idle consumer never blocked on its wake list"
        probe.send()
        assert ran.wait(WITHIN), "the job waited for the poll: the enqueue did not wake the consumer"
    finally:
        # Its worker thread waits up to the poll for work (dramatiq), so its join is cut short;
        # the consumers are woken by the stop (the check below).
        worker.stop(timeout=STOP_MS)
    assert not blocked_on(key)  # stopping woke it; nothing is left waiting


def test_a_token_is_kept_once_when_nobody_waits(broker: WakingRedisBroker) -> None:
    """Enqueues with no consumer leave one token, not one per enqueue (no spin afterwards)."""
    probe = dramatiq.actor(broker=broker, actor_name="probe", queue_name=QUEUE)(lambda: None)
    for _ in range(5):
        probe.send()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.llen(wake_key(broker.namespace, QUEUE)) == 1
    finally:
        client.close()


def test_a_failed_wake_leaves_the_job_queued(
    broker: WakingRedisBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message is in Redis before the wake: a failed wake is logged, the poll finds the job."""
    probe = dramatiq.actor(broker=broker, actor_name="probe", queue_name=QUEUE)(lambda: None)

    def fail(*queue_names: str) -> None:
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(broker, "wake", fail)
    probe.send()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.llen(f"{broker.namespace}:{QUEUE}") == 1
    finally:
        client.close()


@pytest.mark.parametrize("step", ["do_ack", "do_nack", "do_fetch"])
def test_a_redis_timeout_is_a_lost_connection_to_dramatiq(
    broker: WakingRedisBroker, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """dramatiq turns a Redis ConnectionError into its ConnectionClosed (the worker reconnects and
    goes on) but lets a TimeoutError escape: it logs a bug of its own and the worker thread that
    acked, or the consumer that fetched, stops for good."""
    consumer = broker.consume(QUEUE, prefetch=1, timeout=STOP_MS)
    try:

        def time_out(*args: object) -> None:
            raise redis.TimeoutError("Timeout reading from socket")

        monkeypatch.setattr(broker, step, time_out)
        message = MessageProxy(Message(QUEUE, "probe", (), {}, {"redis_message_id": "m-1"}))
        with pytest.raises(ConnectionClosed):
            if step == "do_ack":
                consumer.ack(message)
            elif step == "do_nack":
                consumer.nack(message)
            else:
                next(consumer)
    finally:
        consumer.close()
