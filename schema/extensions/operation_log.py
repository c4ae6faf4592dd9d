"""One log line and one metric sample per GraphQL operation."""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from infra.metrics import GRAPHQL_COST, GRAPHQL_LATENCY, GRAPHQL_REQUESTS
from schema.extensions.guard import recorded_cost
from schema.extensions.root_fields import root_field_labels

logger = structlog.get_logger("updatedesk.operations")

#: The client's operation name is logged (never a metric label), cut to this length.
MAX_LOGGED_NAME = 64


def _outcome(errors: list[GraphQLError] | None) -> str:
    if not errors:
        return "ok"
    codes = {(error.extensions or {}).get("code") for error in errors}
    if any(error.original_error is not None and error.path is not None for error in errors) and None in codes:
        return "error"
    return "refused"


class OperationLog(SchemaExtension):
    """Logs `graphql operation` with name, root fields, account, cost, duration and outcome; feeds
    the metrics (by root field)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            operation_type = context.operation_type
        except Exception:  # no parsed document or no such operation: nothing to classify
            operation_type = None
        if operation_type is OperationType.SUBSCRIPTION:
            return  # a subscription's lifetime is not a latency; it is counted as open sockets
        duration = time.perf_counter() - started
        labels = root_field_labels(context.schema._schema, context.graphql_document, context.operation_name)
        result = context.result
        errors = getattr(result, "errors", None) if result is not None else context.pre_execution_errors
        outcome = _outcome(errors)
        cost = recorded_cost(context)
        account = getattr(getattr(context.context, "auth", None), "account", None)
        for label in labels:
            GRAPHQL_REQUESTS.labels(label, outcome).inc()
            GRAPHQL_LATENCY.labels(label).observe(duration)
        if cost is not None:
            GRAPHQL_COST.observe(cost)
        logger.info(
            "graphql operation",
            operation=(context.operation_name or "anonymous")[:MAX_LOGGED_NAME],
            operation_type=operation_type.value if operation_type else None,
            root_fields=labels,
            account_id=getattr(account, "id", None),
            cost=cost,
            duration_ms=round(duration * 1000, 2),
            outcome=outcome,
        )
