"""The dramatiq actors, declared on dramatiq's StubBroker with the AsyncIO middleware as the app's
broker has it: their queues, their retry and time-limit options, and the mail retry policy as
dramatiq's Retries middleware applies it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Retries

from infra.settings import Settings
from models.enums import NotificationKind, NotificationState, UpdateStatus
from models.requests.dispatch import dispatch
from models.tables import Notification, UpdateRequest
from tests import support
from tests.workers.scenario import make_scene, request_and_schedule
from workers.actors import (
    MAIL_MAX_BACKOFF_MS,
    MAIL_MIN_BACKOFF_MS,
    MAIL_OTHER_FAULT_RETRIES,
    MAIL_QUEUE,
    MAIL_TIME_LIMIT_MS,
    RUNBOOK_MAX_RETRIES,
    RUNBOOK_MIN_BACKOFF_MS,
    RUNBOOK_TIME_LIMIT_MS,
    UPDATE_QUEUE,
    WEBHOOK_QUEUE,
    Actors,
    _mail_should_retry,
    declare_actors,
)
from workers.errors import MailDeliveryError
from workers.mail import MAIL_MAX_ATTEMPTS

SETTINGS = Settings(simulated_step_seconds=0, step_retry_delay=0)


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    stub = StubBroker()
    stub.add_middleware(AsyncIO())
    try:
        yield stub
    finally:
        stub.close()


@pytest.fixture
def actors(broker: StubBroker) -> Actors:
    return declare_actors(cast(Any, broker), SETTINGS)


# --------------------------------------------------------------------------- declaration


def test_every_actor_is_declared_on_its_own_queue(broker: StubBroker, actors: Actors) -> None:
    assert broker.get_declared_actors() == {"run_update_request", "send_notification", "deliver_webhook"}
    assert {UPDATE_QUEUE, MAIL_QUEUE, WEBHOOK_QUEUE} <= broker.get_declared_queues()
    assert broker.get_actor("run_update_request") is actors.run_update_request
    assert broker.get_actor("send_notification") is actors.send_notification
    assert broker.get_actor("deliver_webhook") is actors.deliver_webhook
    assert actors.run_update_request.queue_name == UPDATE_QUEUE
    assert actors.send_notification.queue_name == MAIL_QUEUE
    assert actors.deliver_webhook.queue_name == WEBHOOK_QUEUE


def test_the_runbook_actor_retries_a_few_times_and_bounds_a_stuck_job(actors: Actors) -> None:
    assert actors.run_update_request.options == {
        "max_retries": RUNBOOK_MAX_RETRIES,
        "min_backoff": RUNBOOK_MIN_BACKOFF_MS,
        "time_limit": RUNBOOK_TIME_LIMIT_MS,
    }


def test_the_mail_actor_retries_by_its_policy_with_bounded_backoff(actors: Actors) -> None:
    assert actors.send_notification.options == {
        "retry_when": _mail_should_retry,
        "min_backoff": MAIL_MIN_BACKOFF_MS,
        "max_backoff": MAIL_MAX_BACKOFF_MS,
        "time_limit": MAIL_TIME_LIMIT_MS,
    }


# --------------------------------------------------------------------------- the mail retry policy


@pytest.mark.parametrize("retries", range(MAIL_MAX_ATTEMPTS))
def test_an_smtp_refusal_is_retried_while_the_mail_has_attempts_left(retries: int) -> None:
    assert _mail_should_retry(retries, MailDeliveryError("451 try again later"))


def test_an_smtp_refusal_is_not_retried_past_the_mail_s_attempts() -> None:
    assert not _mail_should_retry(MAIL_MAX_ATTEMPTS, MailDeliveryError("451 try again later"))


@pytest.mark.parametrize("retries", range(MAIL_OTHER_FAULT_RETRIES))
def test_another_fault_is_retried_a_few_times(retries: int) -> None:
    assert _mail_should_retry(retries, ConnectionError("database went away"))


def test_another_fault_is_not_retried_past_its_limit() -> None:
    assert MAIL_OTHER_FAULT_RETRIES < MAIL_MAX_ATTEMPTS  # otherwise the next check proves nothing
    assert not _mail_should_retry(MAIL_OTHER_FAULT_RETRIES, ConnectionError("database went away"))


def _processed_with(broker: StubBroker, actors: Actors, retries: int, error: Exception) -> MessageProxy:
    """Let dramatiq's Retries middleware handle `error` from the mail job's retry number `retries`."""
    proxy = MessageProxy(actors.send_notification.message(7, None))
    proxy.options["retries"] = retries
    (middleware,) = [m for m in broker.middleware if isinstance(m, Retries)]
    middleware.after_process_message(broker, proxy, exception=error)
    return proxy


def _delayed(broker: StubBroker) -> list[Message[Any]]:
    return [Message.decode(data) for data in broker.queues[f"{MAIL_QUEUE}.DQ"].queue]


def test_dramatiq_delays_a_refused_mail_by_the_mail_backoff(broker: StubBroker, actors: Actors) -> None:
    before = int(time.time() * 1000)
    proxy = _processed_with(broker, actors, 0, MailDeliveryError("451 try again later"))
    after = int(time.time() * 1000)
    assert not proxy.failed
    (retry,) = _delayed(broker)
    assert retry.args == (7, None)
    # dramatiq's first backoff: the minimum, plus up to 100 % jitter.
    assert before + MAIL_MIN_BACKOFF_MS <= retry.options["eta"] <= after + 2 * MAIL_MIN_BACKOFF_MS


def test_dramatiq_gives_up_a_mail_job_when_the_policy_says_so(broker: StubBroker, actors: Actors) -> None:
    refused = _processed_with(broker, actors, MAIL_MAX_ATTEMPTS, MailDeliveryError("451"))
    faulty = _processed_with(broker, actors, MAIL_OTHER_FAULT_RETRIES, ConnectionError("database went away"))
    assert refused.failed and faulty.failed
    assert _delayed(broker) == []


# --------------------------------------------------------------------------- the jobs


async def test_the_mail_job_delivers_with_the_declared_settings(
    db: support.TestDatabase, actors: Actors
) -> None:
    notification = await Notification.create(
        kind=NotificationKind.COMPLETED, recipient="pat@district.example", subject="Completed", body="Done."
    )
    job = actors.send_notification.fn.__wrapped__  # type: ignore[attr-defined]
    await job(notification.id, "req-42")
    # SETTINGS has no SMTP_URL: the mail is logged and kept in the outbox.
    assert (await Notification.get(id=notification.id)).state is NotificationState.LOGGED


async def test_the_runbook_job_runs_the_request_with_the_declared_settings(
    db: support.TestDatabase, actors: Actors
) -> None:
    scene = await make_scene()
    request = await request_and_schedule(scene)
    assert await dispatch(request.id)
    job = actors.run_update_request.fn.__wrapped__  # type: ignore[attr-defined]
    await job(request.id, "req-42")
    assert (await UpdateRequest.get(id=request.id)).status is UpdateStatus.COMPLETED
