"""Prometheus metrics of the service, one registry per process, served at GET /metrics."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

from models.enums import UpdateStatus
from models.tables import UpdateRequest

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
QUEUE_DEPTH = Gauge("updatedesk_queue_depth", "Jobs waiting in the queue.", ["queue"], registry=REGISTRY)
REQUESTS_BY_STATUS = Gauge(
    "updatedesk_update_requests", "Update requests (not deleted) by status.", ["status"], registry=REGISTRY
)

#: Known operation names are bounded by clients; cap label cardinality all the same.
MAX_OPERATION_NAME = 64


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    return name[:MAX_OPERATION_NAME]


async def refresh_request_counts() -> None:
    counts = {status: 0 for status in UpdateStatus}
    rows = await UpdateRequest.filter(deleted_at__isnull=True).group_by("status").values_list("status")
    for (status,) in rows:
        counts[UpdateStatus(status)] += 1
    for status, count in counts.items():
        REQUESTS_BY_STATUS.labels(status.value).set(count)


async def metrics_endpoint(request: Request) -> Response:
    await refresh_request_counts()
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
