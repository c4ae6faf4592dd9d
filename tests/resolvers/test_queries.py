"""Every query field through the API: lookups, lists, pagination, catalog, windows, history."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from models.access import Mover
from models.enums import EnvironmentKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.tables import Account, Environment, MaintenanceWindow, StatusChange, UpdateRequest
from tests.factories import make_account, make_catalog, make_district, make_group, make_request, make_token
from tests.support_graphql import api_client, error_codes, gid

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


async def setup():
    await make_catalog()
    group = await make_group("Example State")
    district = await make_district("Lakeside", group=group)
    contact = await make_account(Role.STATE_CONTACT, [district], email="sc@state.example", name="Sam")
    return district, group, contact, await make_token(contact)


async def test_viewer_district_environments_and_group(db) -> None:
    district, group, contact, token = await setup()
    production = await Environment.get(district_id=district.id, kind=EnvironmentKind.PRODUCTION)
    await Environment.filter(id=production.id).update(version_updated_at=T0)
    scheduled = await make_request(
        district, status=UpdateStatus.SCHEDULED, scheduled_start=T0 + timedelta(days=40)
    )
    query = """query($id: ID!) {
      viewer { account { id email name role districts { name } } preferences { hideCompleted } }
      district(id: $id) {
        id name hostingModel timeZone
        updateGroup { id name kind districts { name } }
        environments { id kind url currentVersion versionUpdatedAt lastRefreshedAt online
                       district { name } scheduledUpdates { id status } }
      }
    }"""
    async with api_client() as client:
        data = await client.data(query, {"id": gid(district)}, token)
    assert data["viewer"] == {
        "account": {
            "id": gid(contact),
            "email": "sc@state.example",
            "name": "Sam",
            "role": "STATE_CONTACT",
            "districts": [{"name": "Lakeside"}],
        },
        "preferences": {"hideCompleted": False},
    }
    found = data["district"]
    assert found["hostingModel"] == "CAMPUS_CLOUD" and found["timeZone"] == "America/Chicago"
    assert found["updateGroup"] == {
        "id": gid(group),
        "name": "Example State",
        "kind": "STATE",
        "districts": [{"name": "Lakeside"}],
    }
    kinds = [env["kind"] for env in found["environments"]]
    assert kinds == ["PRODUCTION", "SANDBOX", "STAGING", "PREVIEW"]
    prod = found["environments"][0]
    assert prod["versionUpdatedAt"] == "2026-09-01T12:00:00+00:00"
    assert prod["online"] is True and prod["currentVersion"] == "Campus.2435.2"
    assert prod["scheduledUpdates"] == [{"id": gid(scheduled), "status": "SCHEDULED"}]


async def test_node_resolves_every_type_and_nothing_else(db) -> None:
    district, group, contact, token = await setup()
    release = (await make_catalog())[0]
    environment = await Environment.get(district_id=district.id, kind=EnvironmentKind.SANDBOX)
    request = await make_request(district)
    expected = {
        gid(district): "District",
        gid(group): "UpdateGroup",
        gid(contact): "Account",
        gid(environment): "Environment",
        gid(request): "UpdateRequest",
        gid(release): "Release",
    }
    async with api_client() as client:
        for node_id, type_name in expected.items():
            data = await client.data(
                "query($id: ID!) { node(id: $id) { __typename id } }", {"id": node_id}, token
            )
            assert data["node"] == {"__typename": type_name, "id": node_id}
        for junk in ("", "xyz", "Tm9wZTox", "RGlzdHJpY3Q6LTE=", "RGlzdHJpY3Q6OTk5OTk5OTk5OTk5"):
            data = await client.data("query($id: ID!) { node(id: $id) { id } }", {"id": junk}, token)
            assert data["node"] is None, junk


async def test_update_request_fields_history_and_progress(db) -> None:
    district, _group, contact, token = await setup()
    request = await make_request(
        district, status=UpdateStatus.IN_PROGRESS, requested_by=contact, created_at=T0
    )
    await UpdateRequest.filter(id=request.id).update(
        progress_percent=40, progress_step="copy", progress_message="Copying", progress_at=T0
    )
    await StatusChange.create(
        update_request_id=request.id,
        from_status=None,
        to_status=UpdateStatus.TO_BE_SCHEDULED,
        at=T0,
        by_id=contact.id,
        actor=Mover.REQUESTER.value,
    )
    await StatusChange.create(
        update_request_id=request.id,
        from_status=UpdateStatus.NOT_STARTED,
        to_status=UpdateStatus.IN_PROGRESS,
        at=T0 + timedelta(hours=1),
        actor=Mover.WORKER.value,
        message="Started",
    )
    query = """query($id: ID!) { updateRequest(id: $id) {
        id kind status targetVersion createdAt automatic canCancel canDelete
        district { name } environment { kind } requestedBy { email }
        progress { percent step message at }
        history { from to at by { email } message } } }"""
    async with api_client() as client:
        data = (await client.data(query, {"id": gid(request)}, token))["updateRequest"]
    assert data["createdAt"] == "2026-09-01T12:00:00+00:00"
    assert data["progress"] == {
        "percent": 40,
        "step": "copy",
        "message": "Copying",
        "at": "2026-09-01T12:00:00+00:00",
    }
    assert data["history"] == [
        {
            "from": None,
            "to": "TO_BE_SCHEDULED",
            "at": "2026-09-01T12:00:00+00:00",
            "by": {"email": "sc@state.example"},
            "message": None,
        },
        {
            "from": "NOT_STARTED",
            "to": "IN_PROGRESS",
            "at": "2026-09-01T13:00:00+00:00",
            "by": None,
            "message": "Started",
        },
    ]
    assert data["canCancel"] is False and data["canDelete"] is False
    assert data["requestedBy"] == {"email": "sc@state.example"} and data["automatic"] is False


LIST = """query($first: Int, $after: String, $statuses: [UpdateStatus!], $kinds: [UpdateKind!],
             $hide: Boolean) {
  updateRequests(first: $first, after: $after, statuses: $statuses, kinds: $kinds, hideCompleted: $hide) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"""


async def test_list_pages_newest_first_with_stable_cursors(db) -> None:
    district, _group, _contact, token = await setup()
    rows = [
        await make_request(
            district,
            kind=UpdateKind.DATABASE_REFRESH,
            environment=EnvironmentKind.SANDBOX,
            created_at=T0 + timedelta(minutes=i),
            status=status,
        )
        for i, status in enumerate(
            [
                UpdateStatus.COMPLETED,
                UpdateStatus.TO_BE_SCHEDULED,
                UpdateStatus.SCHEDULED,
                UpdateStatus.DEFERRED,
                UpdateStatus.TO_BE_SCHEDULED,
            ]
        )
    ]
    # Same created_at as another row: the id breaks the tie, so no row is skipped or repeated.
    twin = await make_request(district, created_at=T0 + timedelta(minutes=2))
    await make_request(district, status=UpdateStatus.CANCELLED, created_at=T0 + timedelta(hours=1))
    deleted = await make_request(district, status=UpdateStatus.COMPLETED, created_at=T0 + timedelta(hours=2))
    await UpdateRequest.filter(id=deleted.id).update(deleted_at=T0)
    newest_first = [gid(r) for r in [rows[4], rows[3], twin, rows[2], rows[1], rows[0]]]
    async with api_client() as client:
        seen: list[str] = []
        after = None
        while True:
            page = (await client.data(LIST, {"first": 2, "after": after}, token))["updateRequests"]
            assert page["totalCount"] == (6 if after is None else 7)
            seen += [edge["node"]["id"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            if len(seen) == 2:
                # A request arriving meanwhile does not shift the next page.
                await make_request(
                    district, environment=EnvironmentKind.STAGING, created_at=T0 + timedelta(days=1)
                )
        assert seen == newest_first
        filtered = (
            await client.data(LIST, {"statuses": ["TO_BE_SCHEDULED"], "kinds": ["DATABASE_REFRESH"]}, token)
        )["updateRequests"]
        assert [e["node"]["id"] for e in filtered["edges"]] == [gid(rows[4]), gid(rows[1])]
        hidden = (await client.data(LIST, {"hide": True}, token))["updateRequests"]
        assert gid(rows[0]) not in [e["node"]["id"] for e in hidden["edges"]]
        empty = (await client.data(LIST, {"first": 0}, token))["updateRequests"]
        assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is True


async def test_list_limits_and_bad_cursor(db) -> None:
    _district, _group, _contact, token = await setup()
    async with api_client() as client:
        too_many = await client.post(LIST, {"first": 101}, token)
        assert error_codes(too_many) == ["VALIDATION"]
        assert "between 0 and 100" in too_many["errors"][0]["message"]
        negative = await client.post(LIST, {"first": -1}, token)
        assert error_codes(negative) == ["VALIDATION"]
        bad = await client.post(LIST, {"after": "garbage"}, token)
        assert error_codes(bad) == ["VALIDATION"] and "cursor" in bad["errors"][0]["message"]
        ok = await client.data(LIST, {"first": 100}, token)
        assert ok["updateRequests"]["totalCount"] == 0


async def test_releases_newest_version_first(db) -> None:
    _district, _group, _contact, token = await setup()
    async with api_client() as client:
        data = await client.data("{ releases { id version releasedAt } }", token=token)
    versions = [r["version"] for r in data["releases"]]
    assert versions == [
        "Campus.2439.1",
        "Campus.2435.10",
        "Campus.2435.9",
        "Campus.2435.4",
        "Campus.2435.3",
        "Campus.2435.2",
    ]
    assert data["releases"][0]["releasedAt"].endswith("+00:00")


async def test_maintenance_windows(db) -> None:
    district, _group, contact, token = await setup()
    asp = await make_district("Hosted at home", hosting_model=HostingModel.ASP_HOSTED)
    await contact.districts.add(asp)
    # Even with a window stored for its hosting model: ASP-hosted work is not bound to windows, so
    # slots offered for it would promise times that nothing keeps.
    await MaintenanceWindow.create(
        hosting_model=HostingModel.ASP_HOSTED,
        weekday=6,
        start_time=time(22, 0, tzinfo=UTC),
        end_time=time(23, 0, tzinfo=UTC),
        time_zone="America/Chicago",
    )
    query = "query($d: ID!, $n: Int) { maintenanceWindows(districtId: $d, first: $n) { start end } }"
    async with api_client() as client:
        slots = (await client.data(query, {"d": gid(district)}, token))["maintenanceWindows"]
        two = (await client.data(query, {"d": gid(district), "n": 2}, token))["maintenanceWindows"]
        none = (await client.data(query, {"d": gid(asp)}, token))["maintenanceWindows"]
        unknown = await client.post(query, {"d": "bm9wZQ=="}, token)
    assert len(slots) == 4 and two == slots[:2] and none == []
    assert error_codes(unknown) == ["NOT_FOUND"]
    for slot in slots:
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        assert start.utcoffset() is not None and end - start == timedelta(hours=3)
        assert start.astimezone(UTC).hour in (5, 6)  # 00:30 Chicago, with or without daylight saving


async def test_a_status_filter_naming_completed_says_otherwise_than_the_saved_hide_complete(db) -> None:
    """ "Hide Complete" applies whenever the query does not say otherwise: a list that names
    COMPLETED among its statuses says otherwise, and used to answer nothing with the box saved."""
    district, _group, contact, token = await setup()
    done = await make_request(district, status=UpdateStatus.COMPLETED, created_at=T0)
    waiting = await make_request(
        district, environment=EnvironmentKind.STAGING, created_at=T0 + timedelta(hours=1)
    )
    await Account.filter(id=contact.id).update(hide_completed=True)
    async with api_client() as client:

        async def listed(variables: dict[str, object]) -> list[str]:
            page = (await client.data(LIST, variables, token))["updateRequests"]
            return [edge["node"]["id"] for edge in page["edges"]]

        assert await listed({}) == [gid(waiting)]  # the saved choice
        assert await listed({"statuses": ["COMPLETED"]}) == [gid(done)]
        assert await listed({"statuses": ["COMPLETED", "TO_BE_SCHEDULED"]}) == [gid(waiting), gid(done)]
        assert await listed({"statuses": ["TO_BE_SCHEDULED"]}) == [gid(waiting)]
        # An explicit hideCompleted is the query's own word and still wins.
        assert await listed({"statuses": ["COMPLETED"], "hide": True}) == []
