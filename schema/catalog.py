"""The release catalog and maintenance slots."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.tables import Release as ReleaseRow
from schema.nodes import Node, global_id


@strawberry.type(name="Release", description="A published version that updates may target.")
class ReleaseType(Node):
    id: strawberry.ID
    version: str
    released_at: datetime

    @classmethod
    def from_row(cls, row: ReleaseRow) -> ReleaseType:
        return cls(id=global_id("Release", row.id), version=row.version, released_at=row.released_at)


@strawberry.type(description="One upcoming maintenance window occurrence; start inclusive, end exclusive.")
class MaintenanceSlot:
    start: datetime
    end: datetime
