"""Group rollouts over the API (both databases): staff start, watch, pause, resume and cancel;
who sees which rollout on every path to it; counts for a page of rollouts in one statement; who
may cancel a rollout's request."""

from __future__ import annotations

from typing import Any

from models.enums import EnvironmentKind, GroupKind, HostingModel, Role
from models.tables import Account, District, GroupRollout, UpdateRequest
from tests.factories import make_account, make_catalog, make_district, make_group, make_token
from tests.support_graphql import GraphQLClient, api_client, gid
from tests.support_sql import count_statements

TARGET = "Campus.2435.4"
ROLLOUT_FIELDS = """id status statusMessage environment targetVersion waveSize maxFailures createdAt
  updateGroup { name } createdBy { email } counts { status count }
  skipped { code message district { name } } updateRequests { id status district { name } }"""
START = f"""mutation($input: GroupRolloutInput!) {{ startGroupRollout(input: $input) {{
  rollout {{ {ROLLOUT_FIELDS} }} errors {{ code message field }} }} }}"""
CONTROL = (
    "mutation($id: ID!) {{ {name}(id: $id) {{ rollout {{ id status statusMessage }} errors {{ code }} }} }}"
)


async def state_world() -> dict[str, Any]:
    """A state of three ASP-hosted districts (one without staging) and an account per role."""
    await make_catalog()
    group = await make_group("Prairie State", GroupKind.STATE)
    districts = [
        await make_district(f"Prairie {name}", hosting_model=HostingModel.ASP_HOSTED, group=group)
        for name in ("Alpha", "Beta")
    ]
    districts.append(
        await make_district(
            "Prairie Gamma",
            hosting_model=HostingModel.ASP_HOSTED,
            group=group,
            environments=(EnvironmentKind.PRODUCTION, EnvironmentKind.SANDBOX),
        )
    )
    other = await make_district("Elsewhere", group=await make_group("Other State"))
    accounts: dict[str, Account] = {
        "staff": await make_account(Role.HOSTING_STAFF, email="staff@host.example"),
        "state": await make_account(Role.STATE_CONTACT, districts),
        # A consortium contact linked to one district of the state: a contact of that district only.
        "consortium": await make_account(Role.CONSORTIUM_CONTACT, [districts[0]]),
        "technical": await make_account(Role.TECHNICAL_CONTACT, [districts[0]]),
        "viewer": await make_account(Role.VIEWER, districts),
        "partner": await make_account(Role.PARTNER, districts),
        "esa": await make_account(Role.ESA, districts),
        "outsider": await make_account(Role.STATE_CONTACT, [other]),
    }
    tokens = {name: await make_token(account) for name, account in accounts.items()}
    return {"group": group, "districts": districts, "tokens": tokens}


async def start(client: GraphQLClient, world: dict[str, Any], token: str, **input: Any) -> Any:
    variables = {
        "input": {
            "updateGroupId": gid(world["group"]),
            "environment": "STAGING",
            "targetVersion": TARGET,
            "waveSize": 1,
            **input,
        }
    }
    return (await client.data(START, variables, token))["startGroupRollout"]


async def test_staff_start_watch_pause_resume_and_cancel(db) -> None:
    world = await state_world()
    staff = world["tokens"]["staff"]
    async with api_client() as client:
        started = await start(client, world, staff, maxFailures=0, notes="Fall release")
        assert started["errors"] == []
        rollout = started["rollout"]
        assert {
            k: rollout[k] for k in ("status", "environment", "targetVersion", "waveSize", "maxFailures")
        } == {
            "status": "RUNNING",
            "environment": "STAGING",
            "targetVersion": TARGET,
            "waveSize": 1,
            "maxFailures": 0,
        }
        assert rollout["updateGroup"] == {"name": "Prairie State"}
        assert rollout["createdBy"] == {"email": "staff@host.example"}
        assert rollout["skipped"] == [
            {
                "code": "ENVIRONMENT_UNAVAILABLE",
                "message": "This district has no staging environment.",
                "district": {"name": "Prairie Gamma"},
            }
        ]
        assert [r["district"]["name"] for r in rollout["updateRequests"]] == ["Prairie Alpha", "Prairie Beta"]
        assert rollout["counts"] == [{"status": "SCHEDULED", "count": 2}]

        paused = await client.data(CONTROL.format(name="pauseGroupRollout"), {"id": rollout["id"]}, staff)
        assert paused["pauseGroupRollout"]["rollout"]["status"] == "PAUSED"
        again = await client.data(CONTROL.format(name="pauseGroupRollout"), {"id": rollout["id"]}, staff)
        assert again["pauseGroupRollout"] == {"rollout": None, "errors": [{"code": "INVALID_TRANSITION"}]}
        resumed = await client.data(CONTROL.format(name="resumeGroupRollout"), {"id": rollout["id"]}, staff)
        assert resumed["resumeGroupRollout"]["rollout"]["status"] == "RUNNING"
        cancelled = await client.data(CONTROL.format(name="cancelGroupRollout"), {"id": rollout["id"]}, staff)
        assert cancelled["cancelGroupRollout"]["rollout"]["status"] == "CANCELLED"
        listed = await client.data(PAGE, None, staff)
        (only,) = listed["groupRollouts"]
        assert only["counts"] == [{"status": "CANCELLED", "count": 2}]
        assert only["updateRequests"] == []  # cancelled requests are gone from lists

        refusals: dict[str, tuple[dict[str, Any], str, str]] = {
            "unknown version": ({"targetVersion": "Campus.2499.1"}, "UNKNOWN_VERSION", "targetVersion"),
            "sandbox": ({"environment": "SANDBOX"}, "VALIDATION", "environment"),
            "no wave": ({"waveSize": 0}, "VALIDATION", "waveSize"),
            "foreign id": ({"updateGroupId": gid(world["districts"][0])}, "NOT_FOUND", "updateGroupId"),
        }
        for case, (change, code, field) in refusals.items():
            refused = await start(client, world, staff, **change)
            assert refused["rollout"] is None, case
            assert [(e["code"], e["field"]) for e in refused["errors"]] == [(code, field)], case


async def test_only_staff_start_and_steer_rollouts(db) -> None:
    world = await state_world()
    async with api_client() as client:
        rollout = (await start(client, world, world["tokens"]["staff"]))["rollout"]
        for name, token in world["tokens"].items():
            if name == "staff":
                continue
            refused = await start(client, world, token)
            assert refused == {
                "rollout": None,
                "errors": [
                    {"code": "FORBIDDEN", "message": "Only the hosting team can do this.", "field": None}
                ],
            }, name
            for mutation in ("pauseGroupRollout", "resumeGroupRollout", "cancelGroupRollout"):
                answer = await client.data(CONTROL.format(name=mutation), {"id": rollout["id"]}, token)
                assert answer[mutation] == {"rollout": None, "errors": [{"code": "FORBIDDEN"}]}, (
                    name,
                    mutation,
                )
    assert await GroupRollout.all().count() == 1


SEES = """query($id: ID!, $request: ID!) { groupRollouts { id counts { status count }
  skipped { district { name } } updateRequests { district { name } } }
  node(id: $id) { id } updateRequest(id: $request) { id rollout { id status } canCancel } }"""


async def test_who_sees_which_rollout_on_every_path(db) -> None:
    world = await state_world()
    async with api_client() as client:
        rollout = (await start(client, world, world["tokens"]["staff"]))["rollout"]
        alpha = await UpdateRequest.get(district_id=world["districts"][0].id)
        seen: dict[str, Any] = {}
        for name, token in world["tokens"].items():
            seen[name] = await client.data(SEES, {"id": rollout["id"], "request": gid(alpha)}, token)
    everything = {
        "counts": [{"status": "SCHEDULED", "count": 2}],
        "skipped": [{"district": {"name": "Prairie Gamma"}}],
        "updateRequests": [{"district": {"name": "Prairie Alpha"}}, {"district": {"name": "Prairie Beta"}}],
    }
    for name in ("staff", "state"):
        (listed,) = seen[name]["groupRollouts"]
        assert {k: listed[k] for k in everything} == everything, name
        assert seen[name]["node"] == {"id": rollout["id"]}, name
        assert seen[name]["updateRequest"]["rollout"] == {"id": rollout["id"], "status": "RUNNING"}, name
        assert seen[name]["updateRequest"]["canCancel"] is True, name
    # A contact linked to one district of the group sees the rollout with that district's share.
    (partial,) = seen["consortium"]["groupRollouts"]
    assert partial["counts"] == [{"status": "SCHEDULED", "count": 1}]
    assert partial["skipped"] == [] and partial["updateRequests"] == [{"district": {"name": "Prairie Alpha"}}]
    assert seen["consortium"]["updateRequest"]["canCancel"] is True
    # Everyone else: as if there were no rollout, though they see the district's request itself.
    for name in ("technical", "viewer", "partner", "esa"):
        assert seen[name]["groupRollouts"] == [], name
        assert seen[name]["node"] is None, name
        assert seen[name]["updateRequest"]["rollout"] is None, name
        assert seen[name]["updateRequest"]["canCancel"] is False, name
    assert seen["outsider"] == {"groupRollouts": [], "node": None, "updateRequest": None}


async def test_a_rollouts_request_is_cancelled_by_the_groups_contact_not_the_technical_contact(db) -> None:
    world = await state_world()
    cancel = """mutation($id: ID!) { cancelUpdateRequest(id: $id) {
      updateRequest { status } errors { code message } } }"""
    async with api_client() as client:
        await start(client, world, world["tokens"]["staff"])
        alpha, beta = [await UpdateRequest.get(district_id=d.id) for d in world["districts"][:2]]
        refused = (await client.data(cancel, {"id": gid(alpha)}, world["tokens"]["technical"]))[
            "cancelUpdateRequest"
        ]
        assert refused["updateRequest"] is None
        assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
        assert "group's contact" in refused["errors"][0]["message"]
        by_contact = await client.data(cancel, {"id": gid(alpha)}, world["tokens"]["state"])
        assert by_contact["cancelUpdateRequest"] == {"updateRequest": {"status": "CANCELLED"}, "errors": []}
        by_staff = await client.data(cancel, {"id": gid(beta)}, world["tokens"]["staff"])
        assert by_staff["cancelUpdateRequest"]["updateRequest"] == {"status": "CANCELLED"}


PAGE = """{ groupRollouts { id status statusMessage targetVersion updateGroup { name } createdBy { email }
  counts { status count } skipped { code district { name } } updateRequests { id status } } }"""


def counting_queries(statements: list[str]) -> list[str]:
    return [s for s in statements if "COUNT(" in s.upper() and "GROUP BY" in s.upper()]


async def test_counts_of_a_page_of_rollouts_cost_one_statement(db) -> None:
    """One rollout or six on the page: the same statements, and one of them counts."""
    world = await state_world()
    staff = world["tokens"]["staff"]
    extra: list[District] = []
    statements: dict[int, int] = {}
    async with api_client() as client:
        for rollouts in (1, 6):
            while await GroupRollout.all().count() < rollouts:
                group = await make_group()
                extra.append(await make_district(hosting_model=HostingModel.ASP_HOSTED, group=group))
                extra.append(await make_district(hosting_model=HostingModel.ASP_HOSTED, group=group))
                started = await start(client, world, staff, updateGroupId=gid(group))
                assert started["errors"] == []
            await client.data(PAGE, None, staff)  # warm up: the token's last use is written once
            with count_statements() as counter:
                page = await client.data(PAGE, None, staff)
            assert len(page["groupRollouts"]) == rollouts
            assert all(r["counts"] == [{"status": "SCHEDULED", "count": 2}] for r in page["groupRollouts"])
            assert len(counting_queries(counter.statements)) == 1, counter.statements
            statements[rollouts] = counter.count
    assert statements[1] == statements[6], statements
    assert statements[6] <= 15, statements
