"""What an operation asks for below a field, so a resolver can read it up front (one statement
for a page) only when it is asked for."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.types.nodes import SelectedField, Selection

from resolvers.context import Info


def selects(info: Info, *path: str) -> bool:
    """Whether the operation selects `path` (field names, aliases aside) below the current field,
    through fragments and inline fragments alike (a @skip is not evaluated: it may say yes)."""
    return any(_below(field.selections, path) for field in info.selected_fields)


def _below(selections: Sequence[Selection], path: Sequence[str]) -> bool:
    if not path:
        return True
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name == path[0] and _below(selection.selections, path[1:]):
                return True
        elif _below(selection.selections, path):  # a fragment: its fields are at this level
            return True
    return False
