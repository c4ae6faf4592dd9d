"""Districts (the dropdown), their groups and environments."""

from __future__ import annotations

import strawberry

from models.requests.queries import visible_districts
from models.tables import District, Environment, UpdateGroup, UpdateRequest
from resolvers.access import visible_district, visible_districts_of_group, visible_group
from resolvers.context import GraphQLContext
from resolvers.ids import decode_id_of


async def districts(context: GraphQLContext) -> list[District]:
    """The caller's districts (all of them for staff), by name."""
    return list(await visible_districts(context.actor))


async def district(context: GraphQLContext, id: strawberry.ID) -> District | None:
    return await visible_district(context, decode_id_of(id, "District"))


async def group_of(context: GraphQLContext, district: District) -> UpdateGroup | None:
    return await visible_group(context, district.update_group_id)


async def districts_of_group(context: GraphQLContext, group: UpdateGroup) -> list[District]:
    return await visible_districts_of_group(context, group.id)


async def environments_of(context: GraphQLContext, district: District) -> list[Environment]:
    return await context.loaders.environments_of_district.load(district.id)


async def scheduled_updates_of(context: GraphQLContext, environment: Environment) -> list[UpdateRequest]:
    return await context.loaders.scheduled_of_environment.load(environment.id)
