"""Resolvers answer what `schema/` declares: they authorize the caller, load rows through the
per-request DataLoaders and call the domain (`models/`). They return rows and domain values, never
GraphQL types, and hold no business rule: a rule lives in `models/`, a GraphQL shape in `schema/`.
"""
