"""Resolvers: authorize the caller, load through the per-request DataLoaders, call `models.operations`.

No business rule lives here. Import the schema (`from schema import schema`) before importing a
mutation module directly: mutation modules and the schema refer to each other.
"""
