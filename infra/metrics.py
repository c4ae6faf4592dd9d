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

from models.enums import NotificationState, UpdateStatus
from models.tables import Notification, UpdateRequest

REGISTRY = CollectorRegistry(auto_describe=True)

GRAPHQL_REQUESTS = Counter(
    "updatedesk_graphql_operations_total",
    "GraphQL operations by operation name and outcome (ok, error, refused).",
    ["operation", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "updatedesk_graphql_operation_seconds",
    "Time to answer a GraphQL operation, by operation name.",
    ["operation"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
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
    "job_not_begun: dispatched work no worker began).",
    ["reason"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "updatedesk_queue_depth",
    "Jobs waiting: dispatched requests not begun, mails not sent.",
    ["queue"],
    registry=REGISTRY,
)
REQUESTS_BY_STATUS = Gauge(
    "updatedesk_update_requests", "Update requests (not deleted) by status.", ["status"], registry=REGISTRY
)

#: Known operation names are bounded by clients; cap label cardinality all the same.
MAX_OPERATION_NAME = 64


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    return name[:MAX_OPERATION_NAME]


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
