"""The Query root: each field delegates to its resolver in resolvers.queries."""

from __future__ import annotations

import strawberry

from resolvers import queries
from schema.accounts import Viewer
from schema.catalog import MaintenanceSlot, ReleaseType
from schema.districts import DistrictType
from schema.nodes import Node
from schema.requests import UpdateRequestConnection, UpdateRequestType


@strawberry.type
class Query:
    viewer: Viewer = strawberry.field(resolver=queries.viewer, description="The signed-in caller.")
    districts: list[DistrictType] = strawberry.field(
        resolver=queries.districts, description="The districts the caller may see: the district dropdown."
    )
    district: DistrictType | None = strawberry.field(resolver=queries.district)
    node: Node | None = strawberry.field(resolver=queries.node, description="Any object by its global id.")
    update_request: UpdateRequestType | None = strawberry.field(resolver=queries.update_request)
    update_requests: UpdateRequestConnection = strawberry.field(
        resolver=queries.update_requests,
        description="Requests the caller may see, newest first; at most 100 per page.",
    )
    releases: list[ReleaseType] = strawberry.field(
        resolver=queries.releases, description="The release catalog, newest version first."
    )
    maintenance_windows: list[MaintenanceSlot] = strawberry.field(
        resolver=queries.maintenance_windows,
        description="The district's next maintenance slots; empty when it is not bound to windows.",
    )
