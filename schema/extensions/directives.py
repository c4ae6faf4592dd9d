"""At most a few directives on one field (or fragment, or operation), checked before validation:
a field carrying `@aa` a thousand times would otherwise cost a thousand validation errors
("directive overloading"). Real documents use `@include` and `@skip`, one or two at a time."""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, Node
from graphql.language import BREAK, Visitor, visit

MAX_DIRECTIVES_PER_FIELD = 5


def overloaded_directives(
    document: DocumentNode, limit: int = MAX_DIRECTIVES_PER_FIELD
) -> tuple[Node, int] | None:
    """The first node carrying more than `limit` directives, and how many; None if there is none."""
    found: list[tuple[Node, int]] = []

    class Counter(Visitor):
        def enter(self, node: Node, *_: Any) -> Any:
            directives = getattr(node, "directives", None)
            if directives and len(directives) > limit:
                found.append((node, len(directives)))
                return BREAK
            return None

    visit(document, Counter())
    return found[0] if found else None
