"""Internal faults are masked ("Unexpected error.") and logged with their traceback; public
refusals and the caller's own document errors go through unchanged."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from models.errors import DomainError
from resolvers.errors import PublicError

logger = logging.getLogger("updatedesk.graphql")

MASKED_MESSAGE = "Unexpected error."


def is_internal_fault(error: GraphQLError) -> bool:
    """Masked: an exception raised while resolving a field that is not one of our public refusals.
    Parse, validation and variable errors (no path) describe the caller's document and stay."""
    original = error.original_error
    if error.path is None or original is None:
        return False
    return not isinstance(original, (PublicError, DomainError, GraphQLError))


def masking_extension() -> MaskErrors:
    return MaskErrors(should_mask_error=is_internal_fault, error_message=MASKED_MESSAGE)


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
