"""The GraphQL side of windows, blackouts, notify preferences and the calendar feed URL: staff
change the data, everyone else is FORBIDDEN, bad input is VALIDATION naming the field, and each
caller sees the blackouts over their districts (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from models.enums import HostingModel, Role
from models.tables import Blackout, MaintenanceWindow
from tests.factories import make_account, make_district, make_group, make_token
from tests.support_graphql import GraphQLClient, api_client, error_codes, gid

WINDOW_FIELDS = (
    "maintenanceWindow { id hostingModel weekday startTime endTime timeZone } errors { code field }"
)
CREATE_WINDOW = (
    f"mutation($i: MaintenanceWindowInput!) {{ createMaintenanceWindow(input: $i) {{ {WINDOW_FIELDS} }} }}"
)
UPDATE_WINDOW = f"""mutation($id: ID!, $i: MaintenanceWindowInput!) {{
  updateMaintenanceWindow(id: $id, input: $i) {{ {WINDOW_FIELDS} }} }}"""
DELETE_WINDOW = "mutation($id: ID!) { deleteMaintenanceWindow(id: $id) { deletedId errors { code field } } }"
BLACKOUT_FIELDS = """blackout { id start end reason hostingModel updateGroup { name } district { name } }
  errors { code field }"""
CREATE_BLACKOUT = f"mutation($i: BlackoutInput!) {{ createBlackout(input: $i) {{ {BLACKOUT_FIELDS} }} }}"
DELETE_BLACKOUT = "mutation($id: ID!) { deleteBlackout(id: $id) { deletedId errors { code field } } }"
SLOTS = "query($d: ID!) { maintenanceWindows(districtId: $d, first: 1) { start end } }"

#: Wednesday night into Thursday, past the end of the seeded Thursday 00:30-03:30 window: whenever
#: that window is open, this one is too, so the next slot starts on Wednesday night at any hour.
WEDNESDAY_NIGHT = {
    "hostingModel": "CAMPUS_CLOUD",
    "weekday": 3,
    "startTime": "22:00",
    "endTime": "04:00",
    "timeZone": "America/Chicago",
}
WINTER = {"start": "2099-12-21T00:00:00-06:00", "end": "2100-01-04T00:00:00-06:00", "reason": "Winter break"}


async def staff_token() -> str:
    return await make_token(await make_account(Role.HOSTING_STAFF))


async def payload(client: GraphQLClient, query: str, variables: dict[str, Any], token: str) -> Any:
    data = await client.data(query, variables, token)
    (value,) = data.values()
    return value


async def test_staff_manage_window_rules_and_slots_follow_at_once(db):
    token = await staff_token()
    district = await make_district()
    async with api_client() as client:
        created = await payload(client, CREATE_WINDOW, {"i": WEDNESDAY_NIGHT}, token)
        assert created["errors"] == []
        window = created["maintenanceWindow"]
        assert {k: window[k] for k in WEDNESDAY_NIGHT} == WEDNESDAY_NIGHT
        rules = await client.data("{ maintenanceWindowRules { id weekday startTime } }", token=token)
        assert [(r["weekday"], r["startTime"]) for r in rules["maintenanceWindowRules"]] == [
            (3, "22:00"),
            (4, "00:30"),
        ]
        # The next slot is the new Wednesday-night one, whatever the hour: it starts before Thursday's
        # and outlasts it, so inside Thursday's window the slot in progress still starts on Wednesday.
        (slot,) = (await client.data(SLOTS, {"d": gid(district)}, token))["maintenanceWindows"]
        assert slot["start"].endswith(("T04:00:00+00:00", "T03:00:00+00:00"))
        assert slot["end"].endswith(("T10:00:00+00:00", "T09:00:00+00:00"))  # Thursday 04:00 Chicago
        moved = {**WEDNESDAY_NIGHT, "weekday": 7, "startTime": "05:00", "endTime": "06:15"}
        updated = await payload(client, UPDATE_WINDOW, {"id": window["id"], "i": moved}, token)
        assert (updated["errors"], updated["maintenanceWindow"]["id"]) == ([], window["id"])
        row = await MaintenanceWindow.get(weekday=7)
        assert (row.hosting_model, row.time_zone) == (HostingModel.CAMPUS_CLOUD, "America/Chicago")
        node = await client.data(
            "query($id: ID!) { node(id: $id) { ... on MaintenanceWindow { weekday endTime } } }",
            {"id": window["id"]},
            token,
        )
        assert node["node"] == {"weekday": 7, "endTime": "06:15"}
        deleted = await payload(client, DELETE_WINDOW, {"id": window["id"]}, token)
        assert deleted == {"deletedId": window["id"], "errors": []}
        again = await payload(client, DELETE_WINDOW, {"id": window["id"]}, token)
        assert again["errors"] == [{"code": "NOT_FOUND", "field": "id"}]
        assert await MaintenanceWindow.all().count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weekday": 0}, "weekday"),
        ({"weekday": 8}, "weekday"),
        ({"startTime": "25:00"}, "startTime"),
        ({"startTime": "10 pm"}, "startTime"),
        ({"endTime": "1:00"}, "endTime"),
        ({"endTime": "22:00"}, "endTime"),
        ({"timeZone": "Central"}, "timeZone"),
        ({"timeZone": "US/Nowhere"}, "timeZone"),
    ],
)
async def test_bad_window_input_is_validation_naming_the_field(db, change, field):
    token = await staff_token()
    (seeded,) = await MaintenanceWindow.all()
    async with api_client() as client:
        for query, variables in (
            (CREATE_WINDOW, {"i": {**WEDNESDAY_NIGHT, **change}}),
            (UPDATE_WINDOW, {"id": gid(seeded), "i": {**WEDNESDAY_NIGHT, **change}}),
        ):
            result = await payload(client, query, variables, token)
            assert result == {"maintenanceWindow": None, "errors": [{"code": "VALIDATION", "field": field}]}
    assert await MaintenanceWindow.all().count() == 1


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.HOSTING_STAFF])
async def test_only_staff_change_windows_and_blackouts(db, role):
    district = await make_district()
    token = await make_token(await make_account(role, [district]))
    (seeded,) = await MaintenanceWindow.all()
    blackout = await Blackout.create(start=WINTER["start"], end=WINTER["end"], reason="Winter break")
    attempts: list[tuple[str, dict[str, Any]]] = [
        (CREATE_WINDOW, {"i": WEDNESDAY_NIGHT}),
        (UPDATE_WINDOW, {"id": gid(seeded), "i": {**WEDNESDAY_NIGHT, "weekday": 99}}),
        (DELETE_WINDOW, {"id": gid(seeded)}),
        (CREATE_BLACKOUT, {"i": {**WINTER, "districtId": "not-an-id"}}),
        (DELETE_BLACKOUT, {"id": gid(blackout)}),
    ]
    async with api_client() as client:
        for query, variables in attempts:
            result = await payload(client, query, variables, token)
            assert [e["code"] for e in result["errors"]] == ["FORBIDDEN"], (query, result)
        # Reading is for everyone signed in.
        rules = await client.data("{ maintenanceWindowRules { weekday } }", token=token)
        assert rules["maintenanceWindowRules"] == [{"weekday": 4}]
    assert await MaintenanceWindow.all().count() == 1 and await Blackout.all().count() == 1


async def test_blackouts_through_the_api_per_role(db):
    group = await make_group("Example State")
    lakeside = await make_district("Lakeside", group=group)
    hilltop = await make_district("Hilltop", hosting_model=HostingModel.ASP_HOSTED)
    token = await staff_token()
    lakeside_token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [lakeside]))
    hilltop_token = await make_token(await make_account(Role.VIEWER, [hilltop]))
    async with api_client() as client:
        made = {}
        for name, scope in {
            "everything": {},
            "cloud": {"hostingModel": "CAMPUS_CLOUD"},
            "state": {"updateGroupId": gid(group)},
            "hilltop": {"districtId": gid(hilltop)},
        }.items():
            result = await payload(client, CREATE_BLACKOUT, {"i": {**WINTER, "reason": name, **scope}}, token)
            assert result["errors"] == [], result
            made[name] = result["blackout"]
        assert made["state"]["updateGroup"] == {"name": "Example State"}
        assert made["hilltop"]["district"] == {"name": "Hilltop"}
        assert made["everything"]["start"] == "2099-12-21T06:00:00+00:00"

        query = "query($f: DateTime, $t: DateTime) { blackouts(from: $f, to: $t) { id reason } }"

        async def reasons(token: str, **bounds: str) -> set[str]:
            data = await client.data(query, {"f": bounds.get("f"), "t": bounds.get("t")}, token)
            return {b["reason"] for b in data["blackouts"]}

        assert await reasons(token) == {"everything", "cloud", "state", "hilltop"}
        assert await reasons(lakeside_token) == {"everything", "cloud", "state"}
        assert await reasons(hilltop_token) == {"everything", "hilltop"}
        assert await reasons(token, t="2099-12-21T06:00:00Z") == set()  # ends where they begin
        assert await reasons(token, f="2100-01-04T06:00:00Z") == set()
        assert len(await reasons(token, f="2099-12-25T00:00:00Z", t="2099-12-26T00:00:00Z")) == 4
        backwards = await client.post(
            query, {"f": "2100-01-01T00:00:00Z", "t": "2099-01-01T00:00:00Z"}, token
        )
        assert error_codes(backwards) == ["VALIDATION"]

        node = "query($id: ID!) { node(id: $id) { ... on Blackout { reason } } }"
        assert (await client.data(node, {"id": made["hilltop"]["id"]}, lakeside_token))["node"] is None
        assert (await client.data(node, {"id": made["state"]["id"]}, lakeside_token))["node"] == {
            "reason": "state"
        }

        deleted = await payload(client, DELETE_BLACKOUT, {"id": made["cloud"]["id"]}, token)
        assert deleted == {"deletedId": made["cloud"]["id"], "errors": []}
        assert await reasons(lakeside_token) == {"everything", "state"}


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"end": WINTER["start"]}, "VALIDATION", "end"),
        ({"reason": "  "}, "VALIDATION", "reason"),
        ({"hostingModel": "ASP_HOSTED", "districtId": "X"}, "VALIDATION", "districtId"),
        ({"districtId": "not-an-id"}, "NOT_FOUND", "districtId"),
        ({"end": "2000-01-01T00:00:00Z", "start": "1999-01-01T00:00:00Z"}, "VALIDATION", "end"),
    ],
)
async def test_bad_blackouts_are_refused_naming_the_field(db, change, code, field):
    token = await staff_token()
    async with api_client() as client:
        result = await payload(client, CREATE_BLACKOUT, {"i": {**WINTER, **change}}, token)
    assert result == {"blackout": None, "errors": [{"code": code, "field": field}]}
    assert await Blackout.all().count() == 0


async def test_notify_preference_defaults_and_changes(db):
    district = await make_district()
    defaults = {
        Role.TECHNICAL_CONTACT: "ALL_MY_DISTRICTS",
        Role.STATE_CONTACT: "MY_REQUESTS",
        Role.PARTNER: "MY_REQUESTS",
        Role.HOSTING_STAFF: "NONE",
    }
    query = "{ viewer { preferences { hideCompleted notify } } }"
    async with api_client() as client:
        for role, expected in defaults.items():
            token = await make_token(await make_account(role, [district]))
            assert (await client.data(query, token=token))["viewer"]["preferences"]["notify"] == expected
        token = await make_token(await make_account(Role.STATE_CONTACT, [district]))
        changed = await client.data(
            "mutation { setPreferences(notify: ALL_MY_DISTRICTS) { hideCompleted notify } }", token=token
        )
        assert changed["setPreferences"] == {"hideCompleted": False, "notify": "ALL_MY_DISTRICTS"}
        other = await client.data(
            "mutation { setPreferences(hideCompleted: true) { hideCompleted notify } }", token=token
        )
        assert other["setPreferences"] == {"hideCompleted": True, "notify": "ALL_MY_DISTRICTS"}
        assert (await client.data(query, token=token))["viewer"]["preferences"] == other["setPreferences"]


async def test_calendar_feed_url_is_stable_until_rotated(db):
    token = await make_token(await make_account(Role.VIEWER, [await make_district()]))
    query = "{ viewer { calendarFeedUrl } }"
    async with api_client() as client:
        first = (await client.data(query, token=token))["viewer"]["calendarFeedUrl"]
        assert first.startswith("http://testserver/calendar/ud_cal_") and first.endswith(".ics")
        assert (await client.data(query, token=token))["viewer"]["calendarFeedUrl"] == first
        rotated = await client.data("mutation { rotateCalendarFeed { calendarFeedUrl } }", token=token)
        new = rotated["rotateCalendarFeed"]["calendarFeedUrl"]
        assert new != first and new.startswith("http://testserver/calendar/ud_cal_")
        assert (await client.data(query, token=token))["viewer"]["calendarFeedUrl"] == new
        anonymous = await client.post("mutation { rotateCalendarFeed { calendarFeedUrl } }")
        assert error_codes(anonymous) == ["UNAUTHENTICATED"]
