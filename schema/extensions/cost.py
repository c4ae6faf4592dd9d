"""The cost of an operation, computed from its document and variables before anything runs.

Cost is the largest number of objects the answer could hold (scalars are free), in the manner of
GitHub's node limit and Shopify's calculated cost:
- a field returning an object costs 1 for every time it can appear;
- a list multiplies everything beneath it by its length: a paged field by its `first` (the
  argument, a variable, or the field's default; at most `MAX_PAGE`, since a larger `first` is
  refused by the resolver anyway), any other list by its estimate in `LIST_SIZES`;
- a connection (a paged field returning one object) costs 1 and passes its `first` to the list
  inside it (`edges`), so `updateRequests(first: 100) { edges { node { id } } }` costs 201;
- aliases count separately, fragments are expanded where they are spread, and selections of the
  same response key merge as GraphQL merges them; `@skip` and `@include` are not evaluated (the
  cost is an upper bound);
- introspection is priced by what it returns: `__schema` as many objects as this schema's full
  introspection answer holds (GraphiQL's query: about 1,100 here), `__type` as many as its
  largest type's part of that answer. graphql-core's introspection depth rule keeps any other
  selection under them near that size; at 1 each, one document of 15 aliased `__schema` walks
  cost 15 and held the event loop for most of a second.

Pure: graphql-core only, no request, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    SelectionSetNode,
    VariableNode,
    get_introspection_query,
    get_named_type,
    get_nullable_type,
    graphql_sync,
    is_composite_type,
    is_list_type,
)
from graphql.utilities import get_operation_ast

#: The paging argument whose value is the length of a list.
PAGE_ARGUMENT = "first"
#: A larger `first` is refused by the resolvers (VALIDATION on `first`); count no more than this.
MAX_PAGE = 100
#: Estimated length of lists without `first`, by schema coordinate.
LIST_SIZES: Mapping[str, int] = {
    "District.environments": 4,  # one per EnvironmentKind
    "UpdateRequest.history": 10,  # a request moves through a handful of statuses
    "Environment.scheduledUpdates": 5,
    "Query.releases": 50,
    # A mutation refuses for a reason or two, not fifty.
    "UpdateRequestPayload.errors": 5,
    "DeletePayload.errors": 5,
    "RollOutGroupUpdatePayload.errors": 5,
    "GroupRolloutPayload.errors": 5,
    "GroupRollout.counts": 10,  # at most one per UpdateStatus
    "GroupRollout.skipped": 20,  # the districts that could not take part: a few of a group
}
#: Any other list (districts of an account or group, requests of a rollout...).
DEFAULT_LIST_SIZE = 50
#: Introspection entry points, priced by `introspection_costs`.
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})

_Parent = GraphQLObjectType | GraphQLInterfaceType
_Occurrence = tuple[_Parent, FieldNode]


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The cost of the operation `operation_name` of `document` (0 if there is no such operation)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    values = dict(variables or {})
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return _Counter(schema, fragments, values).cost(root, [operation.selection_set], 1, None)


def _objects(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_objects(item) for item in value.values())
    if isinstance(value, list):
        return sum(_objects(item) for item in value)
    return 0


@lru_cache(maxsize=4)
def introspection_costs(schema: GraphQLSchema) -> tuple[int, int]:
    """What `__schema` and `__type` cost in `schema`: the objects of its full introspection answer,
    and of its largest type's part of it (worked out once per schema)."""
    answer = graphql_sync(schema, get_introspection_query(descriptions=True)).data or {}
    types = answer.get("__schema", {}).get("types", [])
    return _objects(answer.get("__schema")), max((_objects(item) for item in types), default=1)


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def cost(
        self, parent: _Parent, selections: Iterable[SelectionSetNode], times: int, page: int | None
    ) -> int:
        """Cost of `selections` on `parent`, which appears `times` times; `page` is the `first` of
        the connection `parent` is, if it is one."""
        total = 0
        for occurrences in self.collect(parent, selections).values():
            owner, node = occurrences[0]
            name = node.name.value
            if name in INTROSPECTION_FIELDS:
                whole_schema, one_type = introspection_costs(self.schema)
                total += times * (whole_schema if name == "__schema" else one_type)
                continue
            field = owner.fields.get(name)
            if field is None:
                continue  # __typename, or a field validation refuses anyway
            named = get_named_type(field.type)
            if not is_composite_type(named):
                continue
            length, inner_page = self.length(owner, name, field, occurrences, page)
            count = times * length
            total += count
            children = [n.selection_set for _, n in occurrences if n.selection_set is not None]
            if children and count and isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
                total += self.cost(named, children, count, inner_page)
            elif children and count and isinstance(named, GraphQLUnionType):
                # A union is one of its members: the dearest one at most.
                total += max(
                    (
                        self.cost(member, children, count, inner_page)
                        for member in self.schema.get_possible_types(named)
                    ),
                    default=0,
                )
        return total

    def length(
        self, owner: _Parent, name: str, field: GraphQLField, occurrences: list[_Occurrence], page: int | None
    ) -> tuple[int, int | None]:
        """(how many times the field's value appears per parent, the page it passes on)."""
        is_list = is_list_type(get_nullable_type(field.type))
        if PAGE_ARGUMENT in field.args:
            first = max(self.first(field, node) for _, node in occurrences)
            return (first, None) if is_list else (1, first)
        if is_list:
            if page is not None:
                return page, None
            return LIST_SIZES.get(f"{owner.name}.{name}", DEFAULT_LIST_SIZE), None
        return 1, None

    def first(self, field: GraphQLField, node: FieldNode) -> int:
        default = field.args[PAGE_ARGUMENT].default_value
        value: Any = default if isinstance(default, int) else MAX_PAGE
        for argument in node.arguments or ():
            if argument.name.value != PAGE_ARGUMENT:
                continue
            given = argument.value
            if isinstance(given, IntValueNode):
                value = int(given.value)
            elif isinstance(given, VariableNode):
                # Left out or null: the default. bool is an int in Python; a string, a float... fail
                # coercion later and count as the default until then.
                raw = self.variables.get(given.name.value)
                if isinstance(raw, int) and not isinstance(raw, bool):
                    value = raw
            elif not isinstance(given, NullValueNode):
                value = MAX_PAGE
        return min(max(value, 0), MAX_PAGE)

    def collect(
        self, parent: _Parent, selections: Iterable[SelectionSetNode]
    ) -> dict[str, list[_Occurrence]]:
        """Fields by response key, fragments expanded, as GraphQL's field collection does."""
        fields: dict[str, list[_Occurrence]] = {}
        seen_fragments: set[str] = set()
        pending: list[tuple[_Parent, SelectionSetNode]] = [(parent, s) for s in selections]
        while pending:
            owner, selection_set = pending.pop(0)
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append((owner, selection))
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition.name.value if selection.type_condition else None
                    pending.append((self.narrowed(owner, condition), selection.selection_set))
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in seen_fragments:
                        continue  # unknown or cyclic: validation refuses the document
                    seen_fragments.add(name)
                    pending.append(
                        (self.narrowed(owner, fragment.type_condition.name.value), fragment.selection_set)
                    )
        return fields

    def narrowed(self, owner: _Parent, condition: str | None) -> _Parent:
        if condition is None:
            return owner
        named = self.schema.get_type(condition)
        return named if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) else owner
