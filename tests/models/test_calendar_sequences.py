"""Probes of calendars that stay true over a longer life, and of who is told (SQLite and
PostgreSQL): scheduled, moved by the system out of a blackout, rescheduled by staff, then
cancelled, is one event whose SEQUENCE rises with each mail, and the feed shows the same
SEQUENCE and start as the latest mail, then drops the event; a feed shows only the work and
blackouts of the districts the account sees now; notices follow each account's `notify`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from models.blackouts import BlackoutScope, create_blackout
from models.calendar_feed import feed_of
from models.calendars import blackout_uid
from models.enums import EnvironmentKind, NotificationKind, NotifyPreference, Role, UpdateKind, UpdateStatus
from models.notices import invitation_uid
from models.preferences import set_notify
from models.requests.dispatch import dispatch
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request, set_update_request_status
from models.requests.withdrawing import cancel_update_request
from models.tables import Account, Notification
from tests.factories import actor_of, make_account, make_group
from tests.models.scenario import IN_WINDOW, T0, make_world

K = NotificationKind
#: Thursday 2026-11-05, the whole day (CST), blacked out for the district.
THURSDAY = (datetime(2026, 11, 5, 6, 0, tzinfo=UTC), datetime(2026, 11, 6, 6, 0, tzinfo=UTC))
NEXT_OPENING = datetime(2026, 11, 12, 6, 30, tzinfo=UTC)
IN_TWO_WEEKS = IN_WINDOW + timedelta(days=14)


async def mailed(request_id: int, recipient: str) -> list[tuple[str, str, int, datetime]]:
    """(METHOD, UID, SEQUENCE, DTSTART) of each calendar mail to `recipient`, in order."""
    found = []
    for row in await Notification.filter(
        update_request_id=request_id, recipient=recipient, calendar__isnull=False
    ).order_by("id"):
        calendar = Calendar.from_ical(row.calendar or "")
        (event,) = calendar.walk("VEVENT")
        found.append(
            (
                str(calendar["method"]),
                str(event["uid"]),
                int(str(event["sequence"])),
                event.decoded("dtstart"),
            )
        )
    return found


async def in_feed(account: Account, now: datetime) -> dict[str, tuple[int, datetime]]:
    """UID -> (SEQUENCE, DTSTART) of each event of the account's feed."""
    calendar = Calendar.from_ical(await feed_of(account, now))
    return {
        str(event["uid"]): (int(str(event["sequence"])), event.decoded("dtstart"))
        for event in calendar.walk("VEVENT")
    }


async def test_schedule_system_move_reschedule_cancel_keep_one_event_and_the_feed_in_step(db):
    world = await make_world()
    request = await world.request_version()
    uid = invitation_uid(request.id)
    viewer = world.viewer  # told nothing by default, but the feed shows its district's work
    await world.schedule(request.id, IN_WINDOW)
    assert (await in_feed(viewer, T0))[uid] == (0, IN_WINDOW)

    await create_blackout(
        world.staff_actor,
        start=THURSDAY[0],
        end=THURSDAY[1],
        reason="State testing week",
        scope=BlackoutScope(district_id=world.district.id),
        now=T0,
    )
    assert not await dispatch(request.id, now=IN_WINDOW)  # the system moves it a week on
    assert (await in_feed(viewer, IN_WINDOW))[uid] == (1, NEXT_OPENING)

    await schedule_update_request(
        world.staff_actor, request.id, IN_TWO_WEEKS, now=IN_WINDOW + timedelta(hours=4)
    )
    assert (await in_feed(viewer, IN_WINDOW))[uid] == (2, IN_TWO_WEEKS)

    await cancel_update_request(world.requester_actor, request.id, now=IN_WINDOW + timedelta(hours=5))
    assert uid not in await in_feed(viewer, IN_WINDOW)
    assert await mailed(request.id, world.requester.email) == [
        ("REQUEST", uid, 0, IN_WINDOW),
        ("REQUEST", uid, 1, NEXT_OPENING),
        ("REQUEST", uid, 2, IN_TWO_WEEKS),
        ("CANCEL", uid, 3, IN_TWO_WEEKS),
    ]
    assert await mailed(request.id, world.viewer.email) == []


async def test_a_feed_shows_only_what_its_account_sees_now(db):
    group = await make_group()
    lakeside = await make_world(group=group)
    hilltop = await make_world()
    staff = lakeside.staff_actor
    contact = lakeside.requester
    await contact.districts.add(hilltop.district)
    mine = await lakeside.request_refresh()
    theirs = await hilltop.request_refresh()
    await lakeside.schedule(mine.id, IN_WINDOW)
    await hilltop.schedule(theirs.id, IN_WINDOW)
    span = {"start": IN_TWO_WEEKS, "end": IN_TWO_WEEKS + timedelta(days=1), "now": T0}
    by_group = await create_blackout(
        staff, reason="Group testing", scope=BlackoutScope(update_group_id=group.id), **span
    )
    by_district = await create_blackout(
        staff, reason="Hilltop exams", scope=BlackoutScope(district_id=hilltop.district.id), **span
    )
    both = {
        invitation_uid(mine.id),
        invitation_uid(theirs.id),
        blackout_uid(by_group.id),
        blackout_uid(by_district.id),
    }
    assert set(await in_feed(contact, T0)) == both
    assert set(await in_feed(hilltop.viewer, T0)) == {invitation_uid(theirs.id), blackout_uid(by_district.id)}
    # Unlinked from Hilltop: its work and its blackout leave the contact's feed at once.
    await contact.districts.remove(hilltop.district)
    assert set(await in_feed(contact, T0)) == {invitation_uid(mine.id), blackout_uid(by_group.id)}
    assert set(await in_feed(await make_account(Role.PARTNER), T0)) == set()


async def test_who_is_told_follows_each_accounts_notify_choice(db):
    world = await make_world()
    district = world.district
    own_only = await make_account(Role.TECHNICAL_CONTACT, [district], email="own-only@district.example")
    await set_notify(own_only.id, NotifyPreference.MY_REQUESTS)
    second = await make_world()
    state = await make_account(Role.STATE_CONTACT, [district, second.district], email="state@state.example")
    await set_notify(state.id, NotifyPreference.ALL_MY_DISTRICTS)
    asking_staff = await make_account(Role.HOSTING_STAFF, email="asking-staff@hosting.example")
    await set_notify(asking_staff.id, NotifyPreference.MY_REQUESTS)

    colleagues = await world.request_version()  # asked by the world's technical contact
    await world.schedule(colleagues.id, IN_WINDOW)
    theirs = await request_update(
        await actor_of(own_only),
        district_id=district.id,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.STAGING,
        now=T0,
    )
    await world.schedule(theirs.id, IN_WINDOW + timedelta(days=7))
    staffs = await request_update(
        await actor_of(asking_staff),
        district_id=second.district.id,
        kind=UpdateKind.VERSION_UPDATE,
        environment=EnvironmentKind.PRODUCTION,
        target_version="Campus.2435.4",
        now=T0,
    )
    await second.schedule(staffs.id, IN_WINDOW)

    async def told(request_id: int) -> set[str]:
        rows = await Notification.filter(update_request_id=request_id, kind=K.SCHEDULED)
        return {row.recipient for row in rows}

    assert await told(colleagues.id) == {world.requester.email, state.email}
    assert await told(theirs.id) == {world.requester.email, own_only.email, state.email}
    assert await told(staffs.id) == {second.requester.email, state.email, asking_staff.email}
    assert world.staff.email not in await told(staffs.id)


async def test_staff_giving_up_dispatched_work_cancel_its_calendar_event(db):
    """Staff give up an update the dispatcher started but no worker began: its mail says it could
    not be completed, and its calendar event, which would otherwise stay as a phantom
    maintenance, is cancelled for everyone who holds it; the feed drops it."""
    world = await make_world()
    request = await world.request_version()
    uid = invitation_uid(request.id)
    await world.schedule(request.id, IN_WINDOW)
    assert await dispatch(request.id, now=IN_WINDOW)
    await set_update_request_status(
        world.staff_actor,
        request.id,
        UpdateStatus.UNABLE_TO_COMPLETE,
        "The site's server is being replaced.",
        now=IN_WINDOW,
    )
    assert await mailed(request.id, world.requester.email) == [
        ("REQUEST", uid, 0, IN_WINDOW),
        ("CANCEL", uid, 1, IN_WINDOW),
    ]
    [notice] = await Notification.filter(update_request_id=request.id, kind=K.UNABLE_TO_COMPLETE)
    assert notice.calendar is not None and "will not take place" in notice.body
    assert uid not in await in_feed(world.viewer, IN_WINDOW)
