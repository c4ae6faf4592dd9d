"""Nothing executes without a valid token: one UNAUTHENTICATED error instead of any data."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from models.enums import ErrorCode
from resolvers.context import GraphQLContext
from schema.extensions.masking import MASKED_MESSAGE

SIGN_IN_HINT = "send 'Authorization: Bearer <token>'"


def is_signed_in(context: object) -> bool:
    return isinstance(context, GraphQLContext) and context.authenticated


class RequireSignIn(SchemaExtension):
    """Nothing executes without a valid token: one UNAUTHENTICATED error instead of any data."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, GraphQLContext) and context.auth_fault:
            # Sign-in itself failed (database unreachable): masked, like any internal fault.
            self.execution_context.result = GraphQLExecutionResult(
                data=None, errors=[GraphQLError(MASKED_MESSAGE)]
            )
        elif not is_signed_in(context):
            reason = (
                context.auth_error.message
                if isinstance(context, GraphQLContext) and context.auth_error
                else (f"Sign in: {SIGN_IN_HINT}.")
            )
            self.execution_context.result = GraphQLExecutionResult(
                data=None,
                errors=[GraphQLError(reason, extensions={"code": ErrorCode.UNAUTHENTICATED.value})],
            )
        yield
