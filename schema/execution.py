"""How graphql-core runs our resolvers' results: a Tortoise row is a value, not an awaitable.

Tortoise models define ``__await__`` (awaiting a row gives the row back), so graphql-core's
awaitable check took every row a resolver returned, and every row of a returned list, for pending
work: a coroutine, a completion callback and, for lists, a gather per item. A page of 50 requests
with their districts, environments, authors and histories made some 350 of them per query, most
of what GraphQL added over the bare route. Awaiting a row only returns it, so completing it at
once is the same result, without the detour; anything else (coroutines, futures, querysets) is
checked as before.

The same context also reads plain scalar and enum attributes without building an Info for each
(`RowsAreValues.execute_field`): ~1,000 of the ~1,350 fields of that page.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from types import GeneratorType
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLLeafType, GraphQLNonNull, GraphQLObjectType, Undefined, is_leaf_type
from strawberry.execution import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from tortoise.models import Model

#: Types whose values are never awaitable: rows, and every type a value of which was found not
#: awaitable (enums, dates, our dataclasses...), so the check after the first is one set lookup.
#: Generators are not cached: whether one is awaitable depends on the generator, not its type.
_NEVER_AWAITED: set[type] = {type(None), bool, int, float, str, bytes, list, tuple, dict}


def is_awaitable_result(value: Any) -> bool:
    kind = type(value)
    if kind in _NEVER_AWAITED:
        return False
    if isinstance(value, Model):
        _NEVER_AWAITED.add(kind)
        return False
    if optimized_is_awaitable(value):
        return True
    if not isinstance(value, GeneratorType) and "__await__" not in getattr(value, "__dict__", ()):
        _NEVER_AWAITED.add(kind)
    return False


class RowsAreValues(StrawberryGraphQLCoreExecutionContext):
    """Rows are values (above), and a plain attribute of a scalar or enum type is read and
    serialized directly (`plain_leaf`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable_result  # type: ignore[assignment]
        # Strawberry passes a manager per request, empty unless an extension resolves fields:
        # then every field goes its way.
        manager = self.middleware_manager
        self.plain_leaves = manager is None or not manager.middlewares

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        plan = plain_leaf(parent_type, node.name.value) if self.plain_leaves and not node.arguments else None
        if plan is not None:
            with contextlib.suppress(NotPlain):
                return complete_plain_leaf(plan, source)
        # Anything else, and every error (null where none may be, a value the type refuses): the
        # full path, which reads the attribute again (a plain read) and reports it with its path.
        return super().execute_field(parent_type, source, field_details_list, path, position_context)


#: A plain leaf field: (its read, its scalar or enum type, whether it may be null, the attribute
#: its read gets, when that is all it does: then it is read directly, two calls fewer a field;
#: the type's output coercion, `leaf_output`).
PlainLeaf = tuple[Any, GraphQLLeafType, bool, str | None, Callable[[Any], Any]]
_PLAIN_LEAVES: dict[tuple[GraphQLObjectType, str], PlainLeaf | None] = {}


class NotPlain(Exception):
    """The value cannot be completed the plain way: graphql-core's full path must do it."""


def complete_plain_leaf(plan: PlainLeaf, source: Any) -> Any:
    """The field's answer for `source`, as graphql-core completes it; NotPlain where graphql-core
    would report an error (null where none may be, a value the type refuses) or must wait."""
    read, _, nullable, attribute, output = plan
    try:
        value = read(source, None) if attribute is None else getattr(source, attribute)
        if value is None:
            if nullable:
                return None
        elif type(value) in _NEVER_AWAITED or not is_awaitable_result(value):  # the set: one call less
            coerced = output(value)
            # graphql-core refuses these (`complete_leaf_value`): its full path reports it.
            if coerced is not None and coerced is not Undefined:
                return coerced
    except Exception as error:
        raise NotPlain from error
    raise NotPlain


def leaf_output(leaf: GraphQLLeafType) -> Callable[[Any], Any]:
    """The output coercion of a scalar or enum type. A strawberry enum's own compares the value
    with each of the type's values in turn (three enum attribute reads a value): the same first
    match is looked up here, by the member's value."""
    if not isinstance(leaf, CustomGraphQLEnumType):
        return leaf.coerce_output_value
    names: dict[Any, str] = {}
    for name, definition in leaf.values.items():
        with contextlib.suppress(TypeError):  # an unhashable value: the type's own scan finds it
            names.setdefault(definition.value, name)
    wrapped, coerce = leaf.wrapped_cls, leaf.coerce_output_value

    def enum_output(value: Any) -> Any:
        if isinstance(value, wrapped):
            try:
                return names[value._value_]  # `.value` is a property: two Python calls
            except (KeyError, TypeError):  # not one of the type's values, or unhashable
                pass
        return coerce(value)

    return enum_output


def plain_leaf(parent_type: GraphQLObjectType, name: str) -> PlainLeaf | None:
    """A field that strawberry resolves by reading the attribute (no resolver, no field extension,
    no exception handler: its "basic" resolver, which takes no Info), or a lean resolver that
    takes no Info (`lean_resolvers`), and whose type is a scalar or an enum. graphql-core would
    build an Info for it, call the resolver and complete the value through the type checks; the
    same call with no Info and the type's own serialization are the same result, minus that.
    Decided once per field."""
    key = (parent_type, name)
    if key in _PLAIN_LEAVES:
        return _PLAIN_LEAVES[key]
    plan = None
    field = parent_type.fields.get(name)
    if field is not None and basic_read(field) is not None:
        kind, nullable = field.type, True
        if isinstance(kind, GraphQLNonNull):
            kind, nullable = kind.of_type, False
        if is_leaf_type(kind):
            plan = (field.resolve, kind, nullable, attribute_read(field), leaf_output(kind))
    _PLAIN_LEAVES[key] = plan
    return plan


#: The name of strawberry's resolver of a basic field (`schema_converter.from_resolver`).
_BASIC_RESOLVER = "_get_basic_result"
#: Marks a lean resolver that never reads its Info (`_lean`): a plain leaf may call it with none.
_NO_INFO = "reads_without_info"


def basic_read(field: GraphQLField) -> Any:
    """The field's resolver when it reads its source without an Info and takes no argument:
    strawberry's basic resolver or a lean one that takes no Info; else None."""
    resolve = field.resolve
    if field.args or resolve is None:
        return None
    if getattr(resolve, "__name__", "") == _BASIC_RESOLVER or getattr(resolve, _NO_INFO, False):
        return resolve
    return None


def attribute_read(field: GraphQLField) -> str | None:
    """The attribute strawberry's basic resolver of `field` reads with `getattr` (its default
    resolver, through two calls), or None when it does anything else."""
    if getattr(field.resolve, "__name__", "") != _BASIC_RESOLVER:
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or definition.base_resolver is not None:
        return None
    return definition.python_name if definition.default_resolver is getattr else None


def _without_info(resolve: Any) -> Any:
    setattr(resolve, _NO_INFO, True)
    return resolve


def lean_resolvers(schema: strawberry.Schema) -> int:
    """Let graphql-core call, directly, every resolver of an object type's field that takes no
    GraphQL argument and has no field extension (no permission class), with the row (as `self`,
    `root` or a parent) and, when it asks, the same `Info` strawberry would build.

    Strawberry runs each such call through its argument conversion, extension chain and wrappers
    (~6 frames and a few dicts a field); a page of 50 requests has ~600 of them (every `id`, the
    relations, each history move's `from` and `to`), a large part of what GraphQL added to the list
    after the rows stopped being awaited. The result is what strawberry's path returns: the same
    function, given the same values. Returns how many fields were made lean."""
    made = 0
    roots = {schema._schema.query_type, schema._schema.mutation_type, schema._schema.subscription_type}
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type in roots:
            continue
        for graphql_field in graphql_type.fields.values():
            definition = (graphql_field.extensions or {}).get(_BACKREF)
            if not isinstance(definition, StrawberryField):
                continue
            resolve = _lean(definition, schema.config.info_class)
            if resolve is not None:
                graphql_field.resolve = resolve
                made += 1
    return made


_BACKREF = "strawberry-definition"
_SOURCE, _INFO = "source", "info"


def _lean(field: StrawberryField, info_class: Any) -> Any:
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.arguments:
        return None
    function = resolver.wrapped_func
    if isinstance(function, (staticmethod, classmethod)) or not callable(function):
        return None
    sources = {
        parameter.name
        for parameter in (resolver.self_parameter, resolver.root_parameter, resolver.parent_parameter)
        if parameter is not None
    }
    info = resolver.info_parameter
    shape: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            return None
        if parameter.name in sources:
            shape.append(_SOURCE)
        elif info is not None and parameter.name == info.name:
            shape.append(_INFO)
        else:
            return None  # anything else: strawberry's own path
    if shape == [_SOURCE]:
        return _without_info(lambda source, _info: function(source))
    if shape == [_SOURCE, _SOURCE]:
        return _without_info(lambda source, _info: function(source, source))
    if shape == [_SOURCE, _INFO]:
        return lambda source, raw: function(source, info_class(_raw_info=raw, _field=field))
    if shape == [_SOURCE, _SOURCE, _INFO]:
        return lambda source, raw: function(source, source, info_class(_raw_info=raw, _field=field))
    return None
