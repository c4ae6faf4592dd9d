"""A Redis broker whose idle consumers are woken by the enqueue instead of polling.

dramatiq's Redis consumer finds nothing, sleeps up to ``worker_timeout`` (jittered, 50-100 ms at
our default of 0.1 s) and fetches again: a job enqueued meanwhile waits out the sleep, which was
most of the scheduler-to-worker latency. Here an idle consumer (nothing fetched, room to prefetch)
blocks on a per-queue wake list (BLPOP, up to ``worker_timeout``, which stays the fallback poll),
and every enqueue pushes one token onto that list in the same round trip as its trim and expiry:
the blocked consumer returns at once and fetches the message through dramatiq's own script.

What stays as it was: messages are fetched, acked and requeued by dramatiq's scripts (the token
carries nothing; a lost or extra token only costs one fetch or one poll); a consumer whose prefetch
is full sleeps dramatiq's short backoff (a job ending frees the slot, not an enqueue); messages
that reach a queue without an enqueue of ours (requeued from a dead worker by dramatiq's
maintenance) are found by the fallback poll. The list holds at most one token, so a burst of
enqueues with no consumer waiting costs a waiting consumer one extra fetch, not a spin.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from dramatiq import Message, Worker
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)

#: Milliseconds a token outlives its enqueue when no consumer takes it.
WAKE_TOKEN_TTL_MS = 60_000
#: On top of the blocking wait: the waiting connection's socket timeout (a dead Redis is noticed).
WAIT_SOCKET_MARGIN = 10.0
CONNECT_TIMEOUT = 5.0


def wake_key(namespace: str, queue_name: str) -> str:
    return f"{namespace}:__wake__.{queue_name}"


class WakingRedisBroker(RedisBroker):
    """``RedisBroker`` plus the wake list: ``wait_url`` is where the consumers' waiting connections go."""

    def __init__(self, *, wait_url: str, **options: Any) -> None:
        super().__init__(**options)
        self.wait_url = wait_url
        self.stopping = threading.Event()
        self.add_middleware(_StopWaiting())

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return WakingConsumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        enqueued = super().enqueue(message, delay=delay)
        try:
            self.wake(enqueued.queue_name)
        except redis.RedisError as error:  # the message is queued: the consumers' poll finds it
            logger.warning("could not wake the consumers of %s: %s", enqueued.queue_name, error)
        return enqueued

    def wake(self, *queue_names: str) -> None:
        """One token per queue: a consumer blocked on it fetches now."""
        pipeline = self.client.pipeline(transaction=False)
        for queue_name in queue_names:
            key = wake_key(self.namespace, queue_name)
            pipeline.rpush(key, b"1")
            pipeline.ltrim(key, -1, -1)
            pipeline.pexpire(key, WAKE_TOKEN_TTL_MS)
        pipeline.execute()

    def wake_all(self) -> None:
        names = [*self.get_declared_queues(), *self.get_declared_delay_queues()]
        if names:
            self.wake(*names)


class _StopWaiting(Middleware):
    """A stopping worker's consumers go back to plain sleeps, and any blocked now return."""

    def before_worker_shutdown(self, broker: Any, worker: Worker) -> None:
        if isinstance(broker, WakingRedisBroker):
            broker.stopping.set()
            broker.wake_all()


class WakingConsumer(_RedisConsumer):
    """dramatiq's Redis consumer with the idle sleep replaced by a wait on the queue's wake list."""

    def __init__(self, broker: WakingRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        # dramatiq's own idle sleep is made zero: this class decides how to wait.
        super().__init__(broker, queue_name, prefetch, 0)
        self.idle_ms = timeout
        self.key = wake_key(broker.namespace, queue_name)
        self.waiter = redis.Redis.from_url(
            broker.wait_url,
            socket_timeout=timeout / 1000 + WAIT_SOCKET_MARGIN,
            socket_connect_timeout=CONNECT_TIMEOUT,
            client_name=f"wait:{self.key}",  # shows which queue a blocked connection waits for
        )

    def __next__(self) -> Any:
        try:
            message = super().__next__()
        except redis.TimeoutError as error:  # dramatiq converts only ConnectionError
            raise ConnectionClosed(error) from None
        if message is None:
            self._wait()
        return message

    def ack(self, message: Any) -> None:
        """As dramatiq's, but a Redis timeout is a lost connection too: dramatiq lets it escape,
        calls it a bug of its own and the worker thread that acked stops for good."""
        try:
            super().ack(message)
        except redis.TimeoutError as error:
            raise ConnectionClosed(error) from None

    def nack(self, message: Any) -> None:
        try:
            super().nack(message)
        except redis.TimeoutError as error:
            raise ConnectionClosed(error) from None

    def _wait(self) -> None:
        broker: WakingRedisBroker = self.broker
        if self.outstanding_message_count >= self.prefetch or broker.stopping.is_set():
            # Not idle (every prefetch slot is taken), or shutting down: dramatiq's backoff.
            _, backoff_ms = compute_backoff(max(self.misses - 1, 0), max_backoff=self.idle_ms)
            time.sleep(backoff_ms / 1000)
            return
        try:
            self.waiter.blpop([self.key], timeout=self.idle_ms / 1000)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise ConnectionClosed(error) from None

    def requeue(self, messages: Any) -> None:
        """Put fetched messages back (a stopping worker's unstarted and delayed ones). dramatiq's
        stop and close only expect its own ConnectionClosed: a raw Redis error escaping them
        skipped the rest of the stop, and the event loop's thread then kept the process alive.
        What is not put back stays in this worker's acks; maintenance requeues it later."""
        try:
            super().requeue(messages)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise ConnectionClosed(error) from None

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.waiter.close()
