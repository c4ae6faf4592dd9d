"""Idempotency keys bind to their input, a replay is authorized like a read (issue 12, item 6);
deleting is recorded (item 7); words for people name no database numbers (item 8).
Against a real database, on both backends."""

from __future__ import annotations

import re

import pytest

from models.enums import EnvironmentKind, ErrorCode, Role, UpdateStatus
from models.requests.queries import hides_completed, listed_requests
from models.requests.withdrawing import delete_update_request
from models.tables import Notification, StatusChange, UpdateRequest
from tests.factories import actor_of
from tests.models.scenario import T0, make_world, refused

S = UpdateStatus
E = EnvironmentKind
#: How a database number would show in words meant for people.
NUMBERED = re.compile(r"(?i)\brequest\s*(?:number|no\.?|#)?\s*:?\s*\d+")


@pytest.mark.parametrize(
    "changed",
    [
        {"environment": E.STAGING},  # issue 12: silently answered with the production request
        {"version": "Campus.2435.9"},
    ],
)
async def test_a_key_with_different_input_is_refused(db, changed):
    world = await make_world()
    first = await world.request_version("Campus.2435.4", idempotency_key="form-7")
    error = await refused(
        world.request_version(**{"version": "Campus.2435.4", **changed}, idempotency_key="form-7")
    )
    assert (error.code, error.field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
    assert await UpdateRequest.all().count() == 1
    assert (await world.request_version("Campus.2435.4", idempotency_key="form-7")).id == first.id


async def test_a_key_for_another_district_is_refused(db):
    world = await make_world()
    other = await make_world()
    await other.requester.districts.add(world.district)
    both = await actor_of(other.requester)
    await world.request_refresh(actor=both, idempotency_key="k")
    error = await refused(other.request_refresh(actor=both, idempotency_key="k"))
    assert error.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_a_replay_is_not_found_once_the_district_is_out_of_sight(db):
    """Issue 12: a replayed key returned a request whose district the caller could no longer see."""
    world = await make_world()
    connected = await make_world(requester_role=Role.STATE_CONTACT)
    await connected.requester.districts.add(world.district)
    contact = await actor_of(connected.requester)
    await world.request_refresh(actor=contact, idempotency_key="k")
    await connected.requester.districts.remove(world.district)
    error = await refused(
        world.request_refresh(actor=await actor_of(connected.requester), idempotency_key="k")
    )
    assert error.code is ErrorCode.NOT_FOUND
    assert await UpdateRequest.filter(idempotency_key="k").count() == 1  # and no second request


async def test_a_replay_of_a_deleted_request_is_not_found(db):
    world = await make_world()
    request = await world.request_version(idempotency_key="k")
    await world.drive(request.id, S.COMPLETED)
    await delete_update_request(world.requester_actor, request.id, now=T0)
    error = await refused(world.request_version(idempotency_key="k"))
    assert (error.code, error.field) == (ErrorCode.NOT_FOUND, "idempotencyKey")


async def test_deleting_records_who_and_when_and_staff_can_list_deleted_requests(db):
    world = await make_world()
    request = await world.request_version()
    await world.drive(request.id, S.COMPLETED)
    await delete_update_request(world.requester_actor, request.id, now=T0)
    stored = await UpdateRequest.get(id=request.id)
    assert (stored.deleted_at, stored.deleted_by_id) == (T0, world.requester.id)
    staff = await listed_requests(world.staff_actor, hide_completed=False, include_deleted=True)
    assert request.id in [r.id for r in staff]
    assert request.id not in [r.id for r in await listed_requests(world.staff_actor, hide_completed=False)]
    requester = await listed_requests(world.requester_actor, hide_completed=False, include_deleted=True)
    assert request.id not in [r.id for r in requester]  # ignored for everyone but staff


async def test_district_facing_words_never_name_a_request_by_number(db):
    """Issue 12: messages said "Request 6 already asks..."; mails carried "Request number"."""
    world = await make_world()
    older = await world.request_version("Campus.2435.3")
    newer = await world.request_version("Campus.2435.4")
    duplicate = await refused(world.request_version("Campus.2435.4"))
    refresh = await world.request_refresh()
    second_refresh = await refused(world.request_refresh())
    await world.drive(newer.id, S.COMPLETED)  # completes the older one and brings the sandbox along
    await world.drive(refresh.id, S.UNABLE_TO_COMPLETE)
    words = [duplicate.message, second_refresh.message]
    words += [str(m) for m in await StatusChange.all().values_list("message", flat=True) if m]
    words += [str(m) for m in await UpdateRequest.all().values_list("status_message", flat=True) if m]
    for mail in await Notification.all():
        words += [mail.subject, mail.body]
    assert len(words) > 10 and older.target_version == "Campus.2435.3"
    offenders = [w for w in words if NUMBERED.search(w) or "Request number" in w]
    assert offenders == []


async def test_staff_see_deleted_requests_whatever_hide_complete_says(db):
    """Deleted requests are completed ones: with "Hide Complete" saved (or asked), a staff list
    that asks for deleted requests showed none of them. It shows them; the completed requests that
    were not deleted stay hidden."""
    world = await make_world()
    deleted = await world.request_version()
    await world.drive(deleted.id, S.COMPLETED)
    await delete_update_request(world.requester_actor, deleted.id, now=T0)
    kept = await world.request_refresh()
    await world.drive(kept.id, S.COMPLETED)
    staff = await listed_requests(world.staff_actor, hide_completed=True, include_deleted=True)
    assert deleted.id in [r.id for r in staff] and kept.id not in [r.id for r in staff]
    requester = await listed_requests(world.requester_actor, hide_completed=True, include_deleted=True)
    assert deleted.id not in [r.id for r in requester]


def test_hide_complete_applies_unless_the_query_says_otherwise():
    assert hides_completed(True, None, None) is True
    assert hides_completed(False, None, None) is False
    assert hides_completed(True, None, [S.SCHEDULED]) is True
    assert hides_completed(True, None, [S.SCHEDULED, S.COMPLETED]) is False
    assert hides_completed(True, None, []) is True
    assert hides_completed(True, False, None) is False
    assert hides_completed(False, True, [S.COMPLETED]) is True
