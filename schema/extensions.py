"""Schema extensions: sign-in before execution, limits, caches, error masking and logging.

Extensions are passed as classes or factories, so each request gets fresh instances.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, get_named_type, is_introspection_type
from graphql.language import FieldNode
from graphql.validation import ValidationRule
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from models.enums import ErrorCode
from models.errors import DomainError
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError
from updatedesk.observability import OperationLog

logger = logging.getLogger("updatedesk.graphql")

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000
MASKED_MESSAGE = "Unexpected error."
SIGN_IN_HINT = "send 'Authorization: Bearer <token>'"
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _is_signed_in(context: Any) -> bool:
    return isinstance(context, GraphQLContext) and context.authenticated


def is_internal_fault(error: GraphQLError) -> bool:
    """Masked: an exception raised while resolving a field that is not one of our public refusals.
    Parse, validation and variable errors (no path) describe the caller's document and stay."""
    original = error.original_error
    if error.path is None or original is None:
        return False
    return not isinstance(original, (PublicError, DomainError, GraphQLError))


class RequireSignIn(SchemaExtension):
    """Nothing executes without a valid token: one UNAUTHENTICATED error instead of any data."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, GraphQLContext) and context.auth_fault:
            # Sign-in itself failed (database unreachable): masked, like any internal fault.
            self.execution_context.result = GraphQLExecutionResult(
                data=None, errors=[GraphQLError(MASKED_MESSAGE)]
            )
        elif not _is_signed_in(context):
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


class _SignedInIntrospectionRule(ValidationRule):
    """Refuses __schema and __type (not __typename), like graphql-core's NoSchemaIntrospection
    rule, with a message that says how to get access."""

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        # Only the entry points: fields below them would repeat the same refusal.
        named = get_named_type(self.context.get_type())
        if node.name.value in INTROSPECTION_ROOTS and named is not None and is_introspection_type(named):
            self.report_error(
                GraphQLError(
                    f"Introspection is available to signed-in callers only; {SIGN_IN_HINT}.",
                    node,
                    extensions={"code": ErrorCode.UNAUTHENTICATED.value},
                )
            )


class AnonymousCallerLimits(SchemaExtension):
    """For callers without a valid token: no introspection and no "Did you mean" hints, so the
    schema cannot be mapped anonymously. The validation cache keys on the rule set, so signed-in
    and anonymous callers never share cached results."""

    def on_operation(self) -> Iterator[None]:
        anonymous = not _is_signed_in(self.execution_context.context)
        if anonymous:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                _SignedInIntrospectionRule,
            )
        yield
        result = self.execution_context.result
        if anonymous and result is not None and result.errors:
            # New error objects: the cached validation errors must stay untouched.
            result.errors = [_without_suggestions(error) for error in result.errors]


def _without_suggestions(error: GraphQLError) -> GraphQLError:
    if "Did you mean" not in error.message:
        return error
    return GraphQLError(
        _SUGGESTION.sub("", error.message),
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


def masking_extension() -> MaskErrors:
    return MaskErrors(should_mask_error=is_internal_fault, error_message=MASKED_MESSAGE)


def default_extensions() -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    return [
        OperationLog,  # first, so its duration covers parsing, validation and execution
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=256),
        AnonymousCallerLimits,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: ValidationCache(maxsize=256),
        RequireSignIn,
        masking_extension,
    ]


def log_errors(errors: list[GraphQLError]) -> None:
    """Internal faults with their traceback (the client sees only MASKED_MESSAGE); the rest are
    the caller's mistakes, worth a debug line."""
    for error in errors:
        original = error.original_error
        if is_internal_fault(error) and original is not None:
            logger.error(
                "GraphQL resolver failed at %s",
                ".".join(str(part) for part in error.path or ()),
                exc_info=(type(original), original, original.__traceback__),
            )
        else:
            logger.debug("GraphQL error returned to the client: %s", error.message)
