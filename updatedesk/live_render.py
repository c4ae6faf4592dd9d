"""Events rendered without a GraphQL execution, for documents that select only plain fields.

A live event is rendered once per render group, but each render was a graphql-core execution
(~0.15 ms warm, ~0.4 ms right after the process woke: the largest part of the server's share of
the commit -> subscriber latency, BENCHMARKS.md). Most subscription documents select fields of
the event and of its request that are read from attributes and serialized by their type. For
such a document the selection is worked out once (`plain_plan`) and each event is rendered by
reading and serializing those fields directly (`render_plain`), in the document's order, with its
aliases and `__typename`s: the same answer graphql-core gives (tested against it).

Anything else keeps the full execution: fragments, directives, arguments below the root field,
fields with a resolver that needs an Info, interfaces and unions. And at render time, anything
unusual (null where the schema forbids it, a value the type refuses, something awaitable) raises
`NotPlain`, and the caller renders that event the full way, which reports it as GraphQL does.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    SelectionSetNode,
    get_nullable_type,
    get_operation_ast,
    is_leaf_type,
)

from schema.execution import RowsAreValues, basic_read, is_awaitable_result

#: A plan: for each selected field, (response key, kind, what the kind needs).
Plan = tuple[tuple[str, str, Any], ...]
TYPENAME, LEAF, OBJECT = "typename", "leaf", "object"


class NotPlain(Exception):
    """This event cannot be rendered the plain way: render it with graphql-core."""


def plain_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> tuple[str, Plan] | None:
    """(the root field's response key, the plan of its selection), or None when the document
    needs graphql-core."""
    operation = get_operation_ast(document, operation_name)
    root_type = schema.subscription_type
    if operation is None or root_type is None or operation.directives:
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode) or selections[0].directives:
        return None
    root = selections[0]
    field = root_type.fields.get(root.name.value)
    if field is None or root.selection_set is None:
        return None
    event_type = get_nullable_type(field.type)
    if not isinstance(event_type, GraphQLObjectType):
        return None
    plan = _plan(event_type, root.selection_set)
    return None if plan is None else (_key(root), plan)


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias is not None else node.name.value


def _plan(parent: GraphQLObjectType, selection_set: SelectionSetNode) -> Plan | None:
    steps: list[tuple[str, str, Any]] = []
    seen: set[str] = set()
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        key = _key(node)
        if key in seen:
            return None  # merged fields: graphql-core's rules
        seen.add(key)
        if node.name.value == "__typename":
            steps.append((key, TYPENAME, parent.name))
            continue
        field = parent.fields.get(node.name.value)
        read = None if field is None else basic_read(field)
        if field is None or read is None:
            return None
        nullable = not isinstance(field.type, GraphQLNonNull)
        kind = get_nullable_type(field.type)
        if is_leaf_type(kind) and node.selection_set is None:
            steps.append((key, LEAF, (read, kind, nullable)))
        elif isinstance(kind, GraphQLObjectType) and node.selection_set is not None:
            inner = _plan(kind, node.selection_set)
            if inner is None:
                return None
            steps.append((key, OBJECT, (read, kind, nullable, inner)))
        else:
            return None  # lists, interfaces, unions
    return tuple(steps)


def render_plain(plan: Plan, source: Any) -> dict[str, Any]:
    """The plan's answer for `source`; NotPlain when graphql-core must render it."""
    answer: dict[str, Any] = {}
    for key, kind, needs in plan:
        if kind == TYPENAME:
            answer[key] = needs
            continue
        read, graphql_type, nullable = needs[0], needs[1], needs[2]
        try:
            value = read(source, None)
        except Exception as error:
            raise NotPlain from error
        if value is None:
            if not nullable:
                raise NotPlain
            answer[key] = None
        elif is_awaitable_result(value):
            raise NotPlain
        elif kind == LEAF:
            answer[key] = _serialize(graphql_type, value)
        else:
            object_type: GraphQLObjectType = graphql_type
            if object_type.is_type_of is not None and not _is_type_of(object_type, value):
                raise NotPlain
            answer[key] = render_plain(needs[3], value)
    return answer


def _is_type_of(object_type: GraphQLObjectType, value: Any) -> bool:
    try:
        return bool(object_type.is_type_of(value, None))  # type: ignore[misc, arg-type]
    except Exception:
        return False


def _serialize(leaf: GraphQLLeafType, value: Any) -> Any:
    """As graphql-core completes a leaf (the executor's own step); NotPlain where it would fail."""
    try:
        return RowsAreValues.complete_leaf_value(leaf, value)
    except Exception as error:
        raise NotPlain from error
