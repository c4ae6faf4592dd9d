"""Leaf coercion of the plain paths (schema/execution.py): what each enum's lookup answers is what
the type's own coercion answers, for every member and for what it refuses."""

from __future__ import annotations

import enum

import pytest
import strawberry
from graphql import GraphQLEnumType, GraphQLScalarType
from strawberry.schema.schema_converter import CustomGraphQLEnumType

from schema import schema
from schema.execution import leaf_output

ENUMS = sorted(
    name
    for name, graphql_type in schema._schema.type_map.items()
    if isinstance(graphql_type, CustomGraphQLEnumType)
)


def test_the_schema_has_enums_to_check() -> None:
    assert {"UpdateStatus", "EventType"} <= set(ENUMS)


@pytest.mark.parametrize("name", ENUMS)
def test_each_member_of_each_enum_is_named_as_its_type_names_it(name: str) -> None:
    graphql_type = schema._schema.type_map[name]
    assert isinstance(graphql_type, CustomGraphQLEnumType)
    output = leaf_output(graphql_type)
    assert output is not graphql_type.coerce_output_value  # the lookup, not the scan
    members: list[enum.Enum] = list(graphql_type.wrapped_cls)
    assert members
    for member in members:
        assert output(member) == graphql_type.coerce_output_value(member)


@strawberry.enum
class Shade(enum.Enum):
    LIGHT = "light"
    DARK = ["dark"]  # an unhashable value: no lookup, the type's own scan finds it


@strawberry.type
class Query:
    shade: Shade = Shade.LIGHT


def test_unhashable_values_foreign_values_and_refusals_answer_as_the_type_does() -> None:
    graphql_type = strawberry.Schema(query=Query)._schema.type_map["Shade"]
    assert isinstance(graphql_type, CustomGraphQLEnumType)
    output = leaf_output(graphql_type)
    assert [output(Shade.LIGHT), output(Shade.DARK)] == ["LIGHT", "DARK"]
    assert [output(Shade.LIGHT), output(Shade.DARK)] == [
        graphql_type.coerce_output_value(Shade.LIGHT),
        graphql_type.coerce_output_value(Shade.DARK),
    ]
    # Not a member: the type's own coercion answers (a value it knows) or refuses (one it does not).
    assert output("light") == graphql_type.coerce_output_value("light")
    with pytest.raises(Exception) as refused:
        output("violet")
    with pytest.raises(type(refused.value)):
        graphql_type.coerce_output_value("violet")


def test_other_leaf_types_keep_their_own_coercion() -> None:
    date_time = schema._schema.type_map["DateTime"]
    assert isinstance(date_time, GraphQLScalarType) and not isinstance(date_time, GraphQLEnumType)
    assert leaf_output(date_time) == date_time.coerce_output_value
