"""The release catalog and the next maintenance slots of a district."""

from __future__ import annotations

import strawberry

from models.enums import ErrorCode
from models.maintenance import district_slots
from models.tables import Release
from models.versions import version_sort_key
from models.windows import Slot
from resolvers.access import visible_district
from resolvers.context import GraphQLContext
from resolvers.errors import PublicError
from resolvers.ids import decode_id_of
from resolvers.pagination import check_first

MAX_MAINTENANCE_SLOTS = 52
DEFAULT_MAINTENANCE_SLOTS = 4


async def releases(context: GraphQLContext) -> list[Release]:
    """The catalog, newest version first (numerically: 2435.10 is newer than 2435.9)."""
    context.require_auth()
    return sorted(await Release.all(), key=lambda row: version_sort_key(row.version), reverse=True)


async def maintenance_slots(
    context: GraphQLContext, district_id: strawberry.ID, first: int | None
) -> list[Slot]:
    """The district's next maintenance slots; empty when its work is not bound to windows."""
    count = check_first(first, DEFAULT_MAINTENANCE_SLOTS, MAX_MAINTENANCE_SLOTS)
    row = await visible_district(context, decode_id_of(district_id, "District"))
    if row is None:
        raise PublicError(ErrorCode.NOT_FOUND, "No district with that id.", "districtId")
    return await district_slots(row.hosting_model, count)
