"""How graphql-core runs our resolvers' results: a Tortoise row is a value, not an awaitable.

Tortoise models define ``__await__`` (awaiting a row gives the row back), so graphql-core's
awaitable check took every row a resolver returned, and every row of a returned list, for pending
work: a coroutine, a completion callback and, for lists, a gather per item. A page of 50 requests
with their districts, environments, authors and histories made some 350 of them per query, most
of what GraphQL added over the bare route. Awaiting a row only returns it, so completing it at
once is the same result, without the detour; anything else (coroutines, futures, querysets) is
checked as before.
"""

from __future__ import annotations

from typing import Any

from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from tortoise.models import Model


def is_awaitable_result(value: Any) -> bool:
    if isinstance(value, Model):
        return False
    return optimized_is_awaitable(value)


class RowsAreValues(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable_result  # type: ignore[assignment]
