"""What a document must pass before it runs, in place of strawberry's ValidationCache (whose cached
validation it keeps), cheapest check first:

1. at most `MAX_DIRECTIVES_PER_FIELD` directives on any field (before validation, which would
   report each of a thousand unknown directives);
2. GraphQL validation (cached per document and rule set);
3. a subscription only over WebSocket;
4. for a signed-in caller (nothing runs for anyone else): no control characters in any string
   argument, a cost within `query_max_cost`, and a cost budget not spent (`query_cost_per_minute`).

A refusal is a pre-execution error, so HTTP and WebSocket answer it alike and nothing executes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from functools import lru_cache

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from models.enums import ErrorCode
from resolvers.context import GraphQLContext
from resolvers.errors import ServiceCode
from schema.extensions.cost import operation_cost
from schema.extensions.directives import MAX_DIRECTIVES_PER_FIELD, overloaded_directives
from schema.extensions.signin import is_signed_in
from schema.extensions.text_inputs import bad_text

logger = logging.getLogger("updatedesk.graphql")

#: Validation results kept per process (documents x rule sets).
VALIDATION_CACHE_SIZE = 256
#: Where the guard leaves an operation's cost for the operation log.
_COST_ATTRIBUTE = "_updatedesk_cost"

_cached_validation = lru_cache(maxsize=VALIDATION_CACHE_SIZE)(validate_document)
_cached_overloaded_directives = lru_cache(maxsize=VALIDATION_CACHE_SIZE)(overloaded_directives)


def recorded_cost(execution_context: ExecutionContext) -> int | None:
    """The cost the guard computed for this operation (None: not computed, e.g. anonymous)."""
    cost: int | None = getattr(execution_context, _COST_ATTRIBUTE, None)
    return cost


def _error(message: str, code: ErrorCode | ServiceCode, **extensions: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code.value, **extensions})


class DocumentGuard(SchemaExtension):
    async def on_validate(self) -> AsyncIterator[None]:
        self.execution_context.pre_execution_errors = await self._errors()
        yield

    async def _errors(self) -> list[GraphQLError]:
        ec = self.execution_context
        document = ec.graphql_document
        assert document is not None  # on_validate runs after a successful parse
        overloaded = _cached_overloaded_directives(document)
        if overloaded is not None:
            node, count = overloaded
            return [
                GraphQLError(
                    f"At most {MAX_DIRECTIVES_PER_FIELD} directives may be applied at one place; "
                    f"this one has {count}.",
                    node,
                    extensions={"code": ErrorCode.VALIDATION.value},
                )
            ]
        errors = _cached_validation(ec.schema._schema, document, ec.validation_rules)
        if errors:
            return list(errors)
        context = ec.context
        over_http = isinstance(context, GraphQLContext) and not isinstance(context.request, WebSocket)
        if over_http and ec.operation_type is OperationType.SUBSCRIPTION:
            return [
                _error(
                    "Subscriptions run over WebSocket: connect to /graphql with the "
                    "graphql-transport-ws protocol; HTTP serves queries and mutations.",
                    ServiceCode.BAD_REQUEST,
                )
            ]
        if not isinstance(context, GraphQLContext) or not is_signed_in(context):
            return []  # nothing runs without a token: RequireSignIn answers
        return await self._caller_errors(context)

    async def _caller_errors(self, context: GraphQLContext) -> list[GraphQLError]:
        ec = self.execution_context
        schema = ec.schema._schema
        document = ec.graphql_document
        assert document is not None
        found = bad_text(schema, document, ec.operation_name, ec.variables)
        if found is not None:
            return [_error(found.message, ErrorCode.VALIDATION, field=found.field)]
        cost = operation_cost(schema, document, ec.operation_name, ec.variables)
        setattr(ec, _COST_ATTRIBUTE, cost)
        limit = context.settings.query_max_cost
        if cost > limit:
            return [
                _error(
                    f"This operation may return up to {cost} objects (its cost); the limit is {limit}. "
                    "Ask for smaller pages (first) or fewer nested lists, and page with after.",
                    ServiceCode.QUERY_TOO_COMPLEX,
                    cost=cost,
                    maxCost=limit,
                )
            ]
        budget = context.cost_budget
        if budget is None:
            return []
        try:
            decision = await budget.take(str(context.account.id), cost)
        except Exception as error:  # Redis away: serve without the budget rather than not at all
            logger.warning("query cost budget unavailable, operation allowed: %s", error)
            return []
        if decision.allowed:
            return []
        wait = math.ceil(decision.retry_after)
        return [
            _error(
                f"Query cost budget spent: this operation costs {cost}, and {int(decision.remaining)} of "
                f"{int(budget.capacity)} per minute are left; try again in {wait} s.",
                ServiceCode.RATE_LIMITED,
                cost=cost,
                retryAfterSeconds=wait,
            )
        ]
