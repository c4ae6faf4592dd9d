"""The private calendar feed over real HTTP (uvicorn on loopback): the URL from GraphQL, the
iCalendar body parsed back (events, UIDs, zones), cache headers with ETag/304, rotation, and a
bare 404 for anything that is not a current secret (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import httpx
from icalendar import Calendar

from infra.logs import redact_text
from infra.settings import Settings
from models import calendar_feed
from models.blackouts import BlackoutScope, create_blackout
from models.calendars import blackout_uid, compose_feed
from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind
from models.notices import invitation_uid
from models.requests.requesting import request_update
from models.requests.staff import schedule_update_request
from models.requests.withdrawing import cancel_update_request
from models.tables import Account, District
from tests.factories import actor_of, make_account, make_catalog, make_district, make_group, make_token
from tests.support_live import live_server, ws_client

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
IN_WINDOW = datetime(2026, 11, 5, 7, 0, tzinfo=UTC)  # Thursday 01:00 CST
REFRESH_AT = datetime(2026, 11, 7, 14, 0, tzinfo=UTC)  # Saturday 09:00 EST
TESTING = (datetime(2099, 4, 12, 5, tzinfo=UTC), datetime(2099, 4, 17, 5, tzinfo=UTC))
URL_QUERY = "{ viewer { calendarFeedUrl } }"
ROTATE = "mutation { rotateCalendarFeed { calendarFeedUrl } }"


async def graphql(http: httpx.AsyncClient, query: str, token: str) -> dict:
    response = await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def events_of(body: bytes) -> dict[str, object]:
    calendar = Calendar.from_ical(body)
    assert "method" not in calendar  # a subscribed calendar, not an iTIP message
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


async def test_the_feed_over_http(db) -> None:
    await make_catalog()
    other_group = await make_group()
    lakeside = await make_district("Lakeside")
    hilltop = await make_district("Hilltop", hosting_model=HostingModel.ASP_HOSTED)
    await District.filter(id=hilltop.id).update(time_zone="America/New_York")
    foreign = await make_district("Far Away", group=other_group)
    contact = await make_account(Role.TECHNICAL_CONTACT, [lakeside, hilltop])
    stranger = await make_account(Role.TECHNICAL_CONTACT, [foreign])
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    me, them = await actor_of(contact), await actor_of(stranger)

    async def scheduled(actor, district, kind, environment, start, version="Campus.2435.4"):
        request = await request_update(
            actor,
            district_id=district.id,
            kind=kind,
            environment=environment,
            target_version=version if kind is UpdateKind.VERSION_UPDATE else None,
            now=T0,
        )
        return await schedule_update_request(staff, request.id, start, now=T0)

    update = await scheduled(me, lakeside, UpdateKind.VERSION_UPDATE, EnvironmentKind.PRODUCTION, IN_WINDOW)
    refresh = await scheduled(me, hilltop, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX, REFRESH_AT)
    await scheduled(them, foreign, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX, IN_WINDOW)
    dropped = await scheduled(me, lakeside, UpdateKind.DATABASE_REFRESH, EnvironmentKind.STAGING, REFRESH_AT)
    await cancel_update_request(me, dropped.id, now=T0)
    start, end = TESTING
    everywhere = await create_blackout(staff, start=start, end=end, reason="State testing", now=T0)
    own = await create_blackout(
        staff,
        start=start,
        end=end,
        reason="Lakeside exams",
        scope=BlackoutScope(district_id=lakeside.id),
        now=T0,
    )
    await create_blackout(
        staff,
        start=start,
        end=end,
        reason="Not mine",
        scope=BlackoutScope(update_group_id=other_group.id),
        now=T0,
    )

    token = await make_token(contact)
    server_running = live_server(Settings(database_url=db.url), live=False)
    async with server_running as server, httpx.AsyncClient(base_url=server.http_url) as http:
        url = (await graphql(http, URL_QUERY, token))["viewer"]["calendarFeedUrl"]
        assert url.startswith(f"{server.http_url}/calendar/ud_cal_") and url.endswith(".ics")
        assert "ud_cal_" not in redact_text(f"GET {url} 200")  # access logs never keep the secret
        async with ws_client(server, token) as socket:  # asked over the WebSocket: still an http URL
            await socket.subscribe("q", query=URL_QUERY)
            answer = await socket.receive_for("q")
            assert answer["payload"]["data"]["viewer"]["calendarFeedUrl"] == url, answer

        response = await http.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        assert response.headers["cache-control"] == "private, max-age=300"
        etag = response.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        events = events_of(response.content)
        assert set(events) == {
            invitation_uid(update.id),
            invitation_uid(refresh.id),
            blackout_uid(everywhere.id),
            blackout_uid(own.id),
        }
        work = events[invitation_uid(update.id)]
        assert work["dtstart"].params["TZID"] == "America/Chicago"  # type: ignore[index]
        assert work.decoded("dtstart") == IN_WINDOW  # type: ignore[attr-defined]
        assert "Lakeside" in str(work["summary"]) and "Campus.2435.4" in str(work["summary"])  # type: ignore[index]
        other = events[invitation_uid(refresh.id)]
        assert other["dtstart"].params["TZID"] == "America/New_York"  # type: ignore[index]
        assert other.decoded("dtstart").strftime("%H:%M %Z") == "09:00 EST"  # type: ignore[attr-defined]
        blackout = events[blackout_uid(own.id)]
        assert blackout.decoded("dtstart") == start and blackout.decoded("dtend") == end  # type: ignore[attr-defined]
        assert str(blackout["summary"]) == "Blackout: Lakeside exams"  # type: ignore[index]
        zones = {str(tz["TZID"]) for tz in Calendar.from_ical(response.content).walk("VTIMEZONE")}
        assert {"America/Chicago", "America/New_York"} <= zones

        # Unchanged: 304 with no body; any other validator: the body again.
        for tag in (etag, f"W/{etag}", f'"other", {etag}'):
            cached = await http.get(url, headers={"If-None-Match": tag})
            assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", etag)
        assert (await http.get(url, headers={"If-None-Match": '"other"'})).status_code == 200
        head = await http.head(url)
        assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", etag)

        # A reschedule changes the event (same UID, higher SEQUENCE) and the ETag.
        await schedule_update_request(
            staff, update.id, IN_WINDOW + timedelta(days=7), now=T0 + timedelta(hours=1)
        )
        changed = await http.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        moved = events_of(changed.content)[invitation_uid(update.id)]
        assert moved.decoded("dtstart") == IN_WINDOW + timedelta(days=7)  # type: ignore[attr-defined]
        assert int(moved["sequence"]) == 1  # type: ignore[index]

        # Rotation: the old URL is dead at once, the new one serves the same calendar.
        new_url = (await graphql(http, ROTATE, token))["rotateCalendarFeed"]["calendarFeedUrl"]
        assert new_url != url
        gone = await http.get(url)
        assert (gone.status_code, gone.text) == (404, "Not Found")
        assert (await http.get(new_url)).content == changed.content

        # Anything else is the same bare 404.
        secret = new_url.rsplit("/", 1)[1].removesuffix(".ics")
        forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        for path in (f"/calendar/{forged}.ics", "/calendar/ud_cal_short.ics", "/calendar/../graphql.ics"):
            missing = await http.get(path)
            assert (missing.status_code, missing.text) == (404, "Not Found"), path
        await Account.filter(id=contact.id).update(active=False)
        assert (await http.get(new_url)).status_code == 404


async def test_other_callers_are_answered_while_a_big_feed_is_rendered(db, monkeypatch) -> None:
    # A staff feed with thousands of scheduled requests takes seconds of CPU to render (icalendar
    # is pure Python). Here the rendering waits until another caller has been answered: it can be
    # only if the rendering leaves the event loop free (which, embedded, also runs every job).
    await make_catalog()
    district = await make_district("Lakeside", hosting_model=HostingModel.ASP_HOSTED)
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    request = await request_update(
        await actor_of(contact), district_id=district.id, kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.SANDBOX, now=T0,
    )  # fmt: skip
    await schedule_update_request(staff, request.id, REFRESH_AT, now=T0)
    rendering, other_answered = threading.Event(), threading.Event()
    answered_during_rendering: list[bool] = []

    def slow_compose(name: str, entries: list) -> bytes:
        rendering.set()
        answered_during_rendering.append(other_answered.wait(timeout=10))
        return compose_feed(name, entries)

    monkeypatch.setattr(calendar_feed, "compose_feed", slow_compose)
    token = await make_token(contact)
    server_running = live_server(Settings(database_url=db.url), live=False)
    async with server_running as server, httpx.AsyncClient(base_url=server.http_url) as http:
        url = (await graphql(http, URL_QUERY, token))["viewer"]["calendarFeedUrl"]
        feed = asyncio.create_task(http.get(url))
        assert await asyncio.to_thread(rendering.wait, 10)
        assert (await graphql(http, URL_QUERY, token))["viewer"]["calendarFeedUrl"] == url
        other_answered.set()
        response = await feed
    assert response.status_code == 200 and invitation_uid(request.id) in events_of(response.content)
    assert answered_during_rendering == [True]
