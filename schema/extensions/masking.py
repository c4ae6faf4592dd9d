"""Internal faults are masked ("Unexpected error.") and logged with their traceback; public
refusals and the caller's own document errors go through unchanged. A database that did not
answer (a statement it cancelled at its statement timeout, a lost or refused connection:
`models.errors.database_unavailable`) is no fault of the service's code: the caller gets
`UNAVAILABLE` and a message to try again (which clients such as the live page act on), the
operator a warning naming where it happened."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from models.errors import DomainError, database_unavailable, statement_cancelled
from resolvers.errors import PublicError, ServiceCode

logger = logging.getLogger("updatedesk.graphql")

MASKED_MESSAGE = "Unexpected error."
SLOW_DATABASE_MESSAGE = "The database took too long to answer; try again."
UNREACHABLE_DATABASE_MESSAGE = "The database could not be reached; try again."


def is_internal_fault(error: GraphQLError) -> bool:
    """Masked: an exception raised while resolving a field that is not one of our public refusals.
    Parse, validation and variable errors (no path) describe the caller's document and stay."""
    original = error.original_error
    if error.path is None or original is None:
        return False
    return not isinstance(original, (PublicError, DomainError, GraphQLError))


def masked(error: GraphQLError) -> GraphQLError:
    """What the client sees of an internal fault: UNAVAILABLE when the database did not answer
    (worth trying again), else MASKED_MESSAGE; never the exception's own text."""
    original = error.original_error
    if database_unavailable(original):
        return GraphQLError(
            SLOW_DATABASE_MESSAGE if statement_cancelled(original) else UNREACHABLE_DATABASE_MESSAGE,
            error.nodes,
            error.source,
            error.positions,
            error.path,
            extensions={"code": ServiceCode.UNAVAILABLE.value},
        )
    return GraphQLError(MASKED_MESSAGE, error.nodes, error.source, error.positions, error.path)


class PublicMasking(MaskErrors):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error)


def masking_extension() -> MaskErrors:
    return PublicMasking(should_mask_error=is_internal_fault, error_message=MASKED_MESSAGE)


def log_errors(errors: list[GraphQLError]) -> None:
    """Internal faults with their traceback (the client sees only what `masked` gives); the rest
    are the caller's mistakes, worth a debug line."""
    for error in errors:
        original = error.original_error
        if is_internal_fault(error) and original is not None:
            where = ".".join(str(part) for part in error.path or ())
            if database_unavailable(original):
                logger.warning(
                    "GraphQL resolver at %s: the database did not answer (%s)",
                    where,
                    "statement timeout" if statement_cancelled(original) else type(original).__name__,
                    exc_info=(type(original), original, original.__traceback__),
                )
                continue
            logger.error(
                "GraphQL resolver failed at %s",
                where,
                exc_info=(type(original), original, original.__traceback__),
            )
        else:
            logger.debug("GraphQL error returned to the client: %s", error.message)
