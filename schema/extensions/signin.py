"""Nothing executes without a valid token: one UNAUTHENTICATED error instead of any data. On a
WebSocket, every operation first re-checks the connection's access (`recheck_connection`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from models.enums import ErrorCode
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError
from resolvers.live.access import recheck_connection
from schema.extensions.masking import MASKED_MESSAGE

SIGN_IN_HINT = "send 'Authorization: Bearer <token>'"


def is_signed_in(context: object) -> bool:
    return isinstance(context, GraphQLContext) and context.authenticated


class RequireSignIn(SchemaExtension):
    """Nothing executes without a valid token: one UNAUTHENTICATED error instead of any data."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if (
            isinstance(context, GraphQLContext)
            and context.authenticated
            and isinstance(context.request, WebSocket)
        ):
            try:
                # Revoked, expired, switched off: the socket closes (4403). Links changed: the
                # fresh actor sees only its districts now.
                await recheck_connection(context)
            except PublicError as error:
                self.execution_context.result = GraphQLExecutionResult(
                    data=None, errors=[GraphQLError(error.message, extensions=error.extensions)]
                )
                yield
                return
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
