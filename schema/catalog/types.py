"""Release and MaintenanceSlot."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models.tables import Release as ReleaseRow
from schema.nodes import Node, rows_of


@strawberry.type(name="Release", description="A published version that updates may target.")
class ReleaseType(Node):
    version: str
    released_at: datetime
    is_type_of = staticmethod(rows_of(ReleaseRow))


@strawberry.type(description="One upcoming maintenance window occurrence; start inclusive, end exclusive.")
class MaintenanceSlot:
    start: datetime
    end: datetime
