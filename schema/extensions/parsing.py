"""Parsing with a cache that never hides a syntax error.

Strawberry's `ParserCache` parses in its hook, outside the error handling of the parsing step:
over WebSocket a subscribe whose document does not parse then got only `complete`. Here a
document that does not parse is left to strawberry's own parsing, which answers with the error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class SafeParserCache(ParserCache):
    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield
