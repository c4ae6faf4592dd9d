"""Prometheus metrics of the service, one registry per process (the API serves it at GET /metrics,
a worker on its own port)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from tortoise.functions import Count

from models.clock import utcnow
from models.enums import NotificationState, UpdateStatus, WebhookDeliveryState
from models.tables import Notification, UpdateRequest, WebhookDelivery

REGISTRY = CollectorRegistry(auto_describe=True)

# GraphQL series are labelled by the operation's root fields (a set the schema closes, plus
# "introspection" and "invalid"), never by the client's operation name: clients cannot add series.
GRAPHQL_REQUESTS = Counter(
    "updatedesk_graphql_operations_total",
    "GraphQL operations by root field and outcome (ok, error, refused); an operation with several "
    "root fields counts once under each.",
    ["root_field", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "updatedesk_graphql_operation_seconds",
    "Time to answer a GraphQL operation, by root field.",
    ["root_field"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GRAPHQL_COST = Histogram(
    "updatedesk_graphql_operation_cost",
    "Cost of signed-in GraphQL operations (objects the answer may hold), refused ones included.",
    registry=REGISTRY,
    buckets=(10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000),
)
HTTP_REQUESTS = Counter(
    "updatedesk_http_requests_total",
    "HTTP requests by path and status code.",
    ["path", "status"],
    registry=REGISTRY,
)
OPEN_SUBSCRIPTIONS = Gauge(
    "updatedesk_open_subscriptions", "GraphQL subscriptions open on this process.", registry=REGISTRY
)
JOBS = Counter(
    "updatedesk_jobs_total",
    "Runbook jobs by update kind and outcome.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
STAFF_ALERTS = Counter(
    "updatedesk_staff_alerts_total",
    "Alerts for the hosting team by reason (given_up: a request whose leases lapsed; "
    "job_not_begun: dispatched work no worker began; rollout_halted: a group rollout spent its "
    "error budget; webhook_deactivated: an endpoint that failed for 24 hours).",
    ["reason"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "updatedesk_queue_depth",
    "Jobs waiting: dispatched requests not begun, mails not sent.",
    ["queue"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "updatedesk_alerts_total",
    "Alerts for the hosting team (each also logged at ERROR as 'alert: ...'), by kind.",
    ["kind"],
    registry=REGISTRY,
)
EVENTS_REANNOUNCED = Counter(
    "updatedesk_events_reannounced_total",
    "Moves whose event record never reached the stream (the writer died after its commit, or "
    "could not reach Redis), announced again by the scheduler.",
    registry=REGISTRY,
)
REQUESTS_BY_STATUS = Gauge(
    "updatedesk_update_requests", "Update requests (not deleted) by status.", ["status"], registry=REGISTRY
)
WEBHOOK_ATTEMPTS = Counter(
    "updatedesk_webhook_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, retry, final).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_LAG = Histogram(
    "updatedesk_webhook_delivery_lag_seconds",
    "From an event's fan-out to its delivery's successful attempt (retries included).",
    registry=REGISTRY,
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400),
)
WEBHOOK_OLDEST_DUE = Gauge(
    "updatedesk_webhook_oldest_due_seconds",
    "How long the longest-waiting due webhook delivery has waited for its attempt (0: none).",
    registry=REGISTRY,
)
WEBHOOK_DISPATCH_LAG = Gauge(
    "updatedesk_webhook_dispatch_lag_seconds",
    "How long the oldest event record not yet fanned out to webhooks has waited (0: caught up); set "
    "by the process holding the dispatcher after each batch and at each renewal of its lease.",
    registry=REGISTRY,
)
WEBHOOK_DISPATCH_GAPS = Counter(
    "updatedesk_webhook_dispatch_gaps_total",
    "Times the webhook dispatcher found that event records may have been lost before it read them "
    "(stream outage, or its position no longer kept).",
    ["reason"],
    registry=REGISTRY,
)
WEBHOOK_DISPATCHER_HELD = Gauge(
    "updatedesk_webhook_dispatcher_held",
    "1 while this process holds the webhook dispatcher (one process of a deployment at a time).",
    registry=REGISTRY,
)


async def refresh_database_gauges() -> None:
    """Gauges read from the database at scrape time: it is the source of truth for every process."""
    counts = {status: 0 for status in UpdateStatus}
    rows = (
        await UpdateRequest.filter(deleted_at__isnull=True)
        .annotate(count=Count("id"))
        .group_by("status")
        .values_list("status", "count")
    )
    for status, count in rows:
        counts[UpdateStatus(status)] = int(count)
    for status, count in counts.items():
        REQUESTS_BY_STATUS.labels(status.value).set(count)
    # Dispatched but not yet begun by a worker, and mails not yet handed to the SMTP server.
    QUEUE_DEPTH.labels("updates").set(counts[UpdateStatus.NOT_STARTED])
    QUEUE_DEPTH.labels("mail").set(await Notification.filter(state=NotificationState.PENDING).count())
    await refresh_webhook_gauges()


async def refresh_webhook_gauges() -> None:
    """Pending webhook deliveries, and the queue lag: the wait of the oldest one that is due."""
    now = utcnow()
    pending = WebhookDelivery.filter(state=WebhookDeliveryState.PENDING)
    QUEUE_DEPTH.labels("webhooks").set(await pending.count())
    oldest = await pending.filter(next_attempt_at__lte=now).order_by("next_attempt_at").first()
    WEBHOOK_OLDEST_DUE.set(0 if oldest is None else (now - oldest.next_attempt_at).total_seconds())
