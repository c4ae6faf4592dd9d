"""The metric labels of an operation: its root fields, a set the schema closes (plus
`introspection` and `invalid`), so no client can add a series by naming its operations."""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast

INTROSPECTION = "introspection"
#: No such operation, or a root field the schema does not have (the document is refused).
INVALID = "invalid"


def all_labels(schema: GraphQLSchema) -> frozenset[str]:
    """Every label an operation on `schema` can get."""
    labels = {INTROSPECTION, INVALID}
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        if root is not None:
            labels.update(root.fields)
    return frozenset(labels)


def root_field_labels(
    schema: GraphQLSchema, document: DocumentNode | None, operation_name: str | None
) -> list[str]:
    """The labels of the operation: its root fields' names, sorted, each once."""
    operation = get_operation_ast(document, operation_name) if document is not None else None
    root = schema.get_root_type(operation.operation) if operation is not None else None
    if operation is None or root is None:
        return [INVALID]
    assert document is not None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    labels: set[str] = set()
    seen: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                labels.add(
                    INTROSPECTION if name.startswith("__") else name if name in root.fields else INVALID
                )
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return sorted(labels) or [INVALID]
