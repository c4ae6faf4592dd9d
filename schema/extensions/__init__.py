"""Schema extensions: sign-in before execution, limits (depth, aliases, tokens, directives, cost),
caches, input checks, error masking and logging.

Extensions are passed as classes or factories, so each request gets fresh instances.
"""

from __future__ import annotations

from collections.abc import Callable

from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from schema.extensions.anonymous import AnonymousCallerLimits
from schema.extensions.guard import DocumentGuard
from schema.extensions.masking import MASKED_MESSAGE, is_internal_fault, log_errors, masked, masking_extension
from schema.extensions.operation_log import OperationLog
from schema.extensions.parsing import SafeParserCache
from schema.extensions.signin import SIGN_IN_HINT, RequireSignIn

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000
#: Parsed documents kept per process.
DOCUMENT_CACHE_SIZE = 256
#: The depth and alias rules, built once: strawberry's limiters make new rule classes per instance,
#: and the rule classes are part of the validation cache's key (schema.extensions.guard), so rules
#: built per request made every validation a miss (a third of a list query's time).
LIMIT_RULES = (
    QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules
    + MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules
)


def default_extensions() -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    return [
        OperationLog,  # first, so its duration covers parsing, validation and execution
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: SafeParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        AnonymousCallerLimits,
        lambda: AddValidationRules(LIMIT_RULES),  # depth and aliases
        DocumentGuard,  # validation (cached), then input text, cost and cost budget
        RequireSignIn,
        masking_extension,
    ]


__all__ = [
    "MASKED_MESSAGE",
    "SIGN_IN_HINT",
    "default_extensions",
    "is_internal_fault",
    "log_errors",
    "masked",
]
