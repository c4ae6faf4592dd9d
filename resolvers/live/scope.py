"""What one subscription asked for: its arguments as primary keys, checked against the caller.
A missing, malformed or foreign `updateRequestId` / `districtId` is the same NOT_FOUND, and a
malformed `after` is VALIDATION naming `after`."""

from __future__ import annotations

from dataclasses import dataclass

from infra.bus import record_id_of
from models.access import Actor
from models.enums import ErrorCode
from models.events import UpdateRequestChanged
from models.tables import District, UpdateRequest
from resolvers.errors import PublicError
from resolvers.ids import decode_id_of


@dataclass(frozen=True)
class EventScope:
    """What one subscription asked for (primary keys, already checked against the caller)."""

    district_id: int | None = None
    request_id: int | None = None

    def matches(self, event: UpdateRequestChanged) -> bool:
        if self.request_id is not None and event.update_request_id != self.request_id:
            return False
        return self.district_id is None or event.district_id == self.district_id

    def visible_to(self, actor: Actor) -> bool:
        """Whether `actor` still sees what the scope narrows to (a request: its district)."""
        return self.district_id is None or actor.can_see(self.district_id)


def request_not_found() -> PublicError:
    return PublicError(ErrorCode.NOT_FOUND, "No update request with that id.", "updateRequestId")


def district_not_found() -> PublicError:
    return PublicError(ErrorCode.NOT_FOUND, "No district with that id.", "districtId")


def lost_sight(scope: EventScope) -> PublicError:
    return request_not_found() if scope.request_id is not None else district_not_found()


def resume_after(after: str | None) -> str | None:
    """The record id an `after` cursor names (None without one); VALIDATION when malformed."""
    if after is None:
        return None
    record_id = record_id_of(after)
    if record_id is None:
        raise PublicError(
            ErrorCode.VALIDATION,
            "`after` is not a cursor of this API: pass the `cursor` of an event you received.",
            "after",
        )
    return record_id


async def resolve_scope(actor: Actor, district_id: str | None, update_request_id: str | None) -> EventScope:
    """The subscription's arguments as primary keys; foreign and missing ids are both NOT_FOUND.
    With `updateRequestId` the scope also names the request's district (checked on every event)."""
    district_pk = None
    if district_id is not None:
        district_pk = decode_id_of(district_id, "District")
        if (
            district_pk is None
            or not actor.can_see(district_pk)
            or not await District.filter(id=district_pk).exists()
        ):
            raise district_not_found()
    request_pk = None
    if update_request_id is not None:
        request_pk = decode_id_of(update_request_id, "UpdateRequest")
        row = await UpdateRequest.get_or_none(id=request_pk) if request_pk is not None else None
        if (
            row is None
            or row.deleted_at is not None
            or not actor.can_see(row.district_id)
            or (district_pk is not None and row.district_id != district_pk)
        ):
            raise request_not_found()
        district_pk = row.district_id
    return EventScope(district_pk, request_pk)
