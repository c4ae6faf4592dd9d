"""`schema/` declares what clients see: per feature (accounts, districts, catalog, requests) its
GraphQL types, inputs, payloads, queries, mutations and subscriptions, whose fields call
`resolvers/` for the answers; `schema.graphql` at the repository root is exported from here
(`uv run python -m schema > schema.graphql`)."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema.accounts.types import AccountType
from schema.catalog.types import ReleaseType
from schema.districts.types import DistrictType, EnvironmentType, UpdateGroupType
from schema.execution import RowsAreValues, lean_resolvers
from schema.extensions import default_extensions, log_errors
from schema.mutation import Mutation
from schema.query import Query
from schema.requests.types import UpdateRequestType
from schema.rollouts.types import GroupRolloutType
from schema.scalars import SCALAR_MAP
from schema.subscription import Subscription
from schema.webhooks.types import WebhookType


class UpdatedeskSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


def build_schema(**overrides: Any) -> UpdatedeskSchema:
    options: dict[str, Any] = {
        "query": Query,
        "mutation": Mutation,
        "subscription": Subscription,
        # Every Node type, so `node(id)` can answer any of them.
        "types": [
            AccountType,
            DistrictType,
            EnvironmentType,
            GroupRolloutType,
            ReleaseType,
            UpdateGroupType,
            UpdateRequestType,
            WebhookType,
        ],
        "extensions": default_extensions(),
        "config": StrawberryConfig(scalar_map=SCALAR_MAP, relay_max_results=100),
        "execution_context_class": RowsAreValues,
    }
    options.update(overrides)
    built = UpdatedeskSchema(**options)
    lean_resolvers(built)
    return built


schema = build_schema()

__all__ = ["UpdatedeskSchema", "build_schema", "schema"]
