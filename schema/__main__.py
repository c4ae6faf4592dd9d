"""Print the schema in SDL: `uv run python -m schema > schema.graphql`."""

from schema import schema

print(schema.as_str())
