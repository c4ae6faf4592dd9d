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
`NotPlain` (`schema.execution`), and the caller renders that event the full way, which reports it
as GraphQL does.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    SelectionSetNode,
    get_nullable_type,
    get_operation_ast,
)

from schema.execution import (
    NotPlain,
    attribute_read,
    basic_read,
    complete_plain_leaf,
    is_awaitable_result,
    plain_leaf,
)

#: A plan: for each selected field, (response key, kind, what the kind needs).
Plan = tuple[tuple[str, str, Any], ...]
TYPENAME, LEAF, OBJECT = "typename", "leaf", "object"


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
        leaf = plain_leaf(parent, node.name.value)
        if leaf is not None and node.selection_set is None:
            steps.append((key, LEAF, leaf))
            continue
        field = parent.fields.get(node.name.value)
        read = None if field is None else basic_read(field)
        kind = None if field is None else get_nullable_type(field.type)
        if read is None or not isinstance(kind, GraphQLObjectType) or node.selection_set is None:
            return None  # resolvers that need an Info, lists, interfaces, unions
        inner = _plan(kind, node.selection_set)
        if inner is None:
            return None
        nullable = not isinstance(field.type, GraphQLNonNull)
        steps.append((key, OBJECT, (read, attribute_read(field), kind, nullable, inner)))
    return tuple(steps)


def render_plain(plan: Plan, source: Any) -> dict[str, Any]:
    """The plan's answer for `source`; NotPlain when graphql-core must render it."""
    answer: dict[str, Any] = {}
    for key, kind, needs in plan:
        if kind == TYPENAME:
            answer[key] = needs
        elif kind == LEAF:
            answer[key] = complete_plain_leaf(needs, source)
        else:
            answer[key] = _plain_object(needs, source)
    return answer


def _plain_object(
    needs: tuple[Any, str | None, GraphQLObjectType, bool, Plan], source: Any
) -> dict[str, Any] | None:
    # `attribute`: what strawberry's basic resolver would read, read directly (as plain leaves).
    read, attribute, object_type, nullable, plan = needs
    try:
        value = read(source, None) if attribute is None else getattr(source, attribute)
    except Exception as error:
        raise NotPlain from error
    if value is None:
        if nullable:
            return None
        raise NotPlain
    if is_awaitable_result(value) or not _is_type_of(object_type, value):
        raise NotPlain
    return render_plain(plan, value)


def _is_type_of(object_type: GraphQLObjectType, value: Any) -> bool:
    if object_type.is_type_of is None:
        return True
    try:
        return bool(object_type.is_type_of(value, None))  # type: ignore[arg-type]
    except Exception:
        return False
