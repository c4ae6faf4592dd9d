"""Strings a client sends, checked once for every argument of every field before anything runs:
no control characters (NUL included: PostgreSQL refuses it in text) and no lone surrogates (they
cannot be encoded as UTF-8). Free text (`notes`, `message`) may hold line breaks and tabs.

Pure: walks the document's arguments with their input types, literal values and variables alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.language import Visitor, visit
from graphql.utilities import TypeInfo, TypeInfoVisitor, get_operation_ast

#: Documents whose argument sites are kept (as many as the parser cache keeps).
SITES_CACHE_SIZE = 256
#: Inputs that are free text a person writes: line breaks and tabs are part of them.
FREE_TEXT_FIELDS = frozenset({"notes", "message"})
#: The argument holding a mutation's input object is left out of field paths, so a refusal names
#: `notes`, as the mutation's own refusals do, rather than `input.notes`.
INPUT_ARGUMENT = "input"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_IN_FREE_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True)
class BadText:
    field: str
    character: str

    @property
    def message(self) -> str:
        code = f"U+{ord(self.character):04X}"
        what = "a lone surrogate" if 0xD800 <= ord(self.character) <= 0xDFFF else "a control character"
        return f"{self.field} contains {what} ({code}); send text without it."


def bad_text(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> BadText | None:
    """The first string argument with a forbidden character, or None. Assumes a valid document."""
    sites, defaults = _argument_sites(schema, document, operation_name)
    checker = _Checker(variables or {}, defaults)
    for argument_type, name, value in sites:
        found = checker.check(value, argument_type, "" if name == INPUT_ARGUMENT else name)
        if found is not None:
            return found
    return None


_Site = tuple[GraphQLInputType, str, ValueNode]


@lru_cache(maxsize=SITES_CACHE_SIZE)
def _argument_sites(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> tuple[tuple[_Site, ...], Mapping[str, ValueNode]]:
    """Every field argument of the operation (input type, name, value) and the defaults of its
    variables: they depend on the document only, so they are found once per document."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return (), {}
    defaults = {
        d.variable.name.value: d.default_value
        for d in operation.variable_definitions or ()
        if d.default_value
    }
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    # Fragments are checked wherever they are defined: a valid document uses every one of them.
    sites = tuple(site for root in (operation, *fragments) for site in _arguments(schema, root))
    return sites, defaults


def _arguments(schema: GraphQLSchema, root: Any) -> list[_Site]:
    """(input type, argument name, value) of every field argument under `root`."""
    info = TypeInfo(schema)
    found: list[_Site] = []

    class Arguments(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            parent = info.get_parent_type()
            if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                return
            field = parent.fields.get(node.name.value)
            for argument in node.arguments or ():
                definition = field.args.get(argument.name.value) if field else None
                if definition is not None:
                    found.append((definition.type, argument.name.value, argument.value))

    visit(root, TypeInfoVisitor(info, Arguments()))
    return found


class _Checker:
    def __init__(self, variables: Mapping[str, Any], defaults: Mapping[str, ValueNode]) -> None:
        self.variables = variables
        self.defaults = defaults

    def check(self, value: ValueNode, type_: GraphQLInputType, path: str) -> BadText | None:
        """A literal value of `type_` (variables inside it are looked up)."""
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                return self.check_raw(self.variables[name], type_, path)
            default = self.defaults.get(name)
            return self.check(default, type_, path) if default is not None else None
        if isinstance(value, StringValueNode):
            return _bad(value.value, path)
        nullable: Any = get_nullable_type(type_)
        if isinstance(value, ListValueNode):
            item_type = nullable.of_type if is_list_type(nullable) else nullable
            for item in value.values:
                if found := self.check(item, item_type, path):
                    return found
        elif isinstance(value, ObjectValueNode):
            named = get_named_type(type_)
            if isinstance(named, GraphQLInputObjectType):
                for field in value.fields:
                    definition = named.fields.get(field.name.value)
                    if definition is None:
                        continue
                    if found := self.check(field.value, definition.type, _join(path, field.name.value)):
                        return found
        return None

    def check_raw(self, value: Any, type_: GraphQLInputType, path: str) -> BadText | None:
        """A variable's JSON value of `type_`."""
        if isinstance(value, str):
            return _bad(value, path)
        nullable: Any = get_nullable_type(type_)
        if isinstance(value, list):
            item_type = nullable.of_type if is_list_type(nullable) else nullable
            for item in value:
                if found := self.check_raw(item, item_type, path):
                    return found
        elif isinstance(value, dict):
            named = get_named_type(type_)
            if isinstance(named, GraphQLInputObjectType):
                for key, item in value.items():
                    definition = named.fields.get(key)
                    if definition is None:
                        continue
                    if found := self.check_raw(item, definition.type, _join(path, key)):
                        return found
        return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _bad(text: str, path: str) -> BadText | None:
    name = path.rpartition(".")[2]
    pattern = _CONTROL_IN_FREE_TEXT if name in FREE_TEXT_FIELDS else _CONTROL
    match = pattern.search(text)
    return BadText(path or INPUT_ARGUMENT, match.group()) if match else None
