"""Limits for callers without a valid token: no introspection and no "Did you mean" hints, so the
schema cannot be mapped anonymously."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, get_named_type, is_introspection_type
from graphql.language import FieldNode
from graphql.validation import ValidationRule
from strawberry.extensions import SchemaExtension

from models.enums import ErrorCode
from schema.extensions.signin import SIGN_IN_HINT, is_signed_in

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


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
        anonymous = not is_signed_in(self.execution_context.context)
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
