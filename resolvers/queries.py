"""Query resolvers: authorize (every field requires a signed-in caller), load what the caller may
see, shape it into schema types. Unknown, malformed and foreign ids all answer null."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from models import operations
from models.enums import ErrorCode
from models.tables import District, Release
from models.versions import version_sort_key
from resolvers.access import (
    visible_account,
    visible_district,
    visible_environment,
    visible_group,
    visible_request,
)
from resolvers.context import GraphQLContext, Info
from resolvers.errors import PublicError
from resolvers.ids import decode_global_id, decode_id_of
from resolvers.pagination import check_first
from schema.accounts import AccountType, Preferences, Viewer
from schema.catalog import MaintenanceSlot, ReleaseType
from schema.districts import DistrictType, EnvironmentType, UpdateGroupType
from schema.enums import UpdateKind, UpdateStatus
from schema.nodes import Node
from schema.requests import UpdateRequestConnection, UpdateRequestType, update_request_connection

MAX_MAINTENANCE_SLOTS = 52


async def viewer(info: Info) -> Viewer:
    account = info.context.account
    return Viewer(
        account=AccountType.from_row(account), preferences=Preferences(hide_completed=account.hide_completed)
    )


async def districts(info: Info) -> list[DistrictType]:
    """The caller's districts (all of them for staff): the district dropdown, by name."""
    actor = info.context.actor
    query = District.all()
    if actor.district_ids is not None:
        query = query.filter(id__in=list(actor.district_ids))
    return [DistrictType.from_row(row) for row in await query.order_by("name")]


async def district(info: Info, id: strawberry.ID) -> DistrictType | None:
    row = await visible_district(info.context, decode_id_of(id, "District"))
    return DistrictType.from_row(row) if row else None


async def update_request(info: Info, id: strawberry.ID) -> UpdateRequestType | None:
    row = await visible_request(info.context, decode_id_of(id, "UpdateRequest"))
    return UpdateRequestType.from_row(row) if row else None


async def _release_node(context: GraphQLContext, pk: int) -> Node | None:
    row = await Release.get_or_none(id=pk)
    return ReleaseType.from_row(row) if row else None


async def _district_node(context: GraphQLContext, pk: int) -> Node | None:
    row = await visible_district(context, pk)
    return DistrictType.from_row(row) if row else None


async def _environment_node(context: GraphQLContext, pk: int) -> Node | None:
    row = await visible_environment(context, pk)
    return EnvironmentType.from_row(row) if row else None


async def _group_node(context: GraphQLContext, pk: int) -> Node | None:
    row = await visible_group(context, pk)
    return UpdateGroupType.from_row(row) if row else None


async def _request_node(context: GraphQLContext, pk: int) -> Node | None:
    row = await visible_request(context, pk)
    return UpdateRequestType.from_row(row) if row else None


async def _account_node(context: GraphQLContext, pk: int) -> Node | None:
    row = await visible_account(context, pk)
    return AccountType.from_row(row) if row else None


NODE_LOADERS: dict[str, Callable[[GraphQLContext, int], Awaitable[Node | None]]] = {
    "Account": _account_node,
    "District": _district_node,
    "Environment": _environment_node,
    "Release": _release_node,
    "UpdateGroup": _group_node,
    "UpdateRequest": _request_node,
}


async def node(info: Info, id: strawberry.ID) -> Node | None:
    info.context.require_auth()
    decoded = decode_global_id(id)
    if decoded is None or decoded[0] not in NODE_LOADERS:
        return None
    type_name, pk = decoded
    return await NODE_LOADERS[type_name](info.context, pk)


async def update_requests(
    info: Info,
    district_id: strawberry.ID | None = None,
    statuses: list[UpdateStatus] | None = None,
    kinds: list[UpdateKind] | None = None,
    hide_completed: bool | None = None,
    first: int | None = 50,
    after: str | None = None,
) -> UpdateRequestConnection:
    """Requests the caller may see, newest first. A district id that is unknown, malformed or
    outside the caller's districts lists nothing, as for a district without requests."""
    pk: int | None = None
    if district_id is not None:
        info.context.require_auth()
        pk = decode_id_of(district_id, "District")
        if pk is None or await visible_district(info.context, pk) is None:
            check_first(first, 50)
            return UpdateRequestConnection.empty()
    return await update_request_connection(
        info,
        district_id=pk,
        statuses=statuses,
        kinds=kinds,
        hide_completed=hide_completed,
        first=first,
        after=after,
    )


async def releases(info: Info) -> list[ReleaseType]:
    """The catalog, newest version first (numerically: 2435.10 is newer than 2435.9)."""
    info.context.require_auth()
    rows = sorted(await Release.all(), key=lambda row: version_sort_key(row.version), reverse=True)
    return [ReleaseType.from_row(row) for row in rows]


async def maintenance_windows(
    info: Info, district_id: strawberry.ID, first: int | None = 4
) -> list[MaintenanceSlot]:
    """The district's next maintenance slots; empty when its hosting model has no windows."""
    count = check_first(first, 4, MAX_MAINTENANCE_SLOTS)
    row = await visible_district(info.context, decode_id_of(district_id, "District"))
    if row is None:
        raise PublicError(ErrorCode.NOT_FOUND, "No district with that id.", "districtId")
    slots = await operations.upcoming_slots(row, count)
    return [MaintenanceSlot(start=slot.start, end=slot.end) for slot in slots]
