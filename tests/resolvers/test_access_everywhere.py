"""Access over the whole API surface, not field by field: every mutation by a viewer, every query
without a valid token, the hosting staff's queries by everyone else (the lists are read from the
schema, so a new field is walked too); one account's saved preferences never reaching another's
answers; and a district that leaves its update group while a rollout of that group is under way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLObjectType

from models.enums import EnvironmentKind, GroupKind, Role, UpdateStatus
from models.tables import Blackout, District, GroupRollout, MaintenanceWindow, UpdateRequest, Webhook
from schema import schema
from tests.factories import make_account, make_catalog, make_district, make_group, make_request, make_token
from tests.support_graphql import GraphQLClient, api_client, error_codes, gid, seed_world

S = UpdateStatus
WINDOW_INPUT = (
    '{hostingModel: CAMPUS_CLOUD, weekday: 2, startTime: "01:00", endTime: "02:00", '
    'timeZone: "America/Chicago"}'
)
#: Mutation -> (document with `$id`, what `$id` names). Every mutation of the schema but the
#: caller's own settings (setPreferences, rotateCalendarFeed), which a viewer may change, and the
#: deletion of its own webhook (made before it became a viewer: test_webhooks_api).
VIEWER_REFUSED: dict[str, tuple[str, str | None]] = {
    "requestUpdate": (
        "requestUpdate(input: {districtId: $id, kind: DATABASE_REFRESH, environment: STAGING})",
        "district",
    ),
    "cancelUpdateRequest": ("cancelUpdateRequest(id: $id)", "to_cancel"),
    "deleteUpdateRequest": ("deleteUpdateRequest(id: $id)", "to_delete"),
    "createWebhook": (
        'createWebhook(input: {url: "https://93.184.216.34/hook", districtId: $id})',
        "district",
    ),
    "scheduleUpdateRequest": ('scheduleUpdateRequest(id: $id, start: "2027-03-04T07:00:00Z")', "to_schedule"),
    "setUpdateRequestStatus": (
        'setUpdateRequestStatus(id: $id, status: DEFERRED, message: "Next term.")',
        "to_set_status",
    ),
    "rollOutGroupUpdate": (
        'rollOutGroupUpdate(groupId: $id, environment: STAGING, targetVersion: "Campus.2435.4")',
        "group",
    ),
    "createMaintenanceWindow": (f"createMaintenanceWindow(input: {WINDOW_INPUT})", None),
    "updateMaintenanceWindow": (f"updateMaintenanceWindow(id: $id, input: {WINDOW_INPUT})", "window"),
    "deleteMaintenanceWindow": ("deleteMaintenanceWindow(id: $id)", "window"),
    "createBlackout": (
        'createBlackout(input: {start: "2027-02-01T00:00:00Z", end: "2027-02-02T00:00:00Z", '
        'reason: "State testing", districtId: $id})',
        "district",
    ),
    "deleteBlackout": ("deleteBlackout(id: $id)", "blackout"),
    "startGroupRollout": (
        "startGroupRollout(input: {updateGroupId: $id, environment: STAGING, "
        'targetVersion: "Campus.2435.4"})',
        "group",
    ),
    "pauseGroupRollout": ("pauseGroupRollout(id: $id)", "rollout"),
    "resumeGroupRollout": ("resumeGroupRollout(id: $id)", "rollout"),
    "cancelGroupRollout": ("cancelGroupRollout(id: $id)", "rollout"),
}
#: Query -> a document asking for it (`%s`: an id of the caller's own district or request).
QUERIES: dict[str, str] = {
    "viewer": "{ viewer { account { id } } }",
    "districts": "{ districts { id } }",
    "district": '{ district(id: "%(district)s") { id } }',
    "node": '{ node(id: "%(district)s") { id } }',
    "updateRequest": '{ updateRequest(id: "%(request)s") { id } }',
    "updateRequests": "{ updateRequests { totalCount } }",
    "groupRollouts": "{ groupRollouts { id } }",
    "releases": "{ releases { id } }",
    "maintenanceWindows": '{ maintenanceWindows(districtId: "%(district)s") { start } }',
    "maintenanceWindowRules": "{ maintenanceWindowRules { id } }",
    "blackouts": "{ blackouts { id } }",
    "scheduleCheck": '{ scheduleCheck(id: "%(request)s", start: "2027-01-07T07:00:00Z") '
    "{ nextPossibleStart } }",
    "scheduleConflicts": "{ scheduleConflicts { code } }",
    "webhooks": "{ webhooks { id } }",
}
STAFF_QUERIES = ("scheduleCheck", "scheduleConflicts")


def root_fields(root: GraphQLObjectType | None) -> set[str]:
    assert root is not None
    return set(root.fields)


async def test_a_viewer_is_refused_every_mutation_but_its_own_settings(db) -> None:
    """Each refused with FORBIDDEN (never NOT_FOUND or a validation hint), and nothing changed:
    on the viewer's own district, the staff's rules and rollouts."""
    world = await seed_world()
    viewer, token, own = world.accounts[Role.VIEWER], world.tokens[Role.VIEWER], world.own
    now = datetime.now(UTC)
    ids = {
        "district": gid(own.district),
        "group": gid(own.group),
        **{
            name: gid(getattr(own, name))
            for name in ("to_cancel", "to_delete", "to_schedule", "to_set_status")
        },
        "webhook": gid(
            await Webhook.create(
                owner_id=viewer.id, url="https://hooks.example/v", secret="s", created_at=now
            )
        ),
        "window": gid(await MaintenanceWindow.first()),
        "blackout": gid(
            await Blackout.create(
                start=datetime(2027, 1, 1, tzinfo=UTC),
                end=datetime(2027, 1, 2, tzinfo=UTC),
                reason="First week of school",
                district_id=own.district.id,
            )
        ),
        "rollout": gid(
            await GroupRollout.create(
                update_group_id=own.group.id,
                environment=EnvironmentKind.STAGING,
                target_version="Campus.2435.4",
                wave_size=5,
                max_failures=1,
                created_at=now,
                updated_at=now,
            )
        ),
    }
    assert root_fields(schema._schema.mutation_type) - set(VIEWER_REFUSED) == {
        "setPreferences",
        "rotateCalendarFeed",
        "deleteWebhook",
    }
    before = sorted(await UpdateRequest.all().values_list("id", "status", "deleted_at", "scheduled_start"))
    wrong: dict[str, Any] = {}
    async with api_client() as client:
        for name, (call, target) in VIEWER_REFUSED.items():
            header = "mutation($id: ID!)" if target else "mutation"
            document = f"{header} {{ m: {call} {{ errors {{ code }} }} }}"
            body = await client.post(document, {"id": ids[target]} if target else None, token)
            got = [e["code"] for e in body["data"]["m"]["errors"]] if body.get("data") else body
            if got != ["FORBIDDEN"]:
                wrong[name] = got
    assert not wrong, wrong
    assert (
        sorted(await UpdateRequest.all().values_list("id", "status", "deleted_at", "scheduled_start"))
        == before
    )
    assert await Webhook.filter(owner_id=viewer.id).count() == 1
    assert await MaintenanceWindow.all().count() == 1 and await Blackout.all().count() == 1
    assert (await GroupRollout.get()).status.value == "RUNNING"


async def test_every_query_needs_a_token_and_staff_queries_need_staff(db) -> None:
    world = await seed_world()
    ids = {"district": gid(world.own.district), "request": gid(world.own.to_cancel)}
    assert root_fields(schema._schema.query_type) == set(QUERIES)
    wrong: dict[str, Any] = {}
    async with api_client() as client:
        for name, document in QUERIES.items():
            for token in (None, "ud_" + "A" * 43):
                body = await client.post(document % ids, None, token)
                if error_codes(body) != ["UNAUTHENTICATED"] or body.get("data") is not None:
                    wrong[f"{name} with {token}"] = body
        for role, token in world.tokens.items():
            for name in STAFF_QUERIES:
                body = await client.post(QUERIES[name] % ids, None, token)
                wanted = [] if role is Role.HOSTING_STAFF else ["FORBIDDEN"]
                if error_codes(body) != wanted:
                    wrong[f"{name} by {role.value}"] = body
    assert not wrong, wrong


PREFERENCES = """{ viewer { preferences { hideCompleted notify } }
  updateRequests { totalCount } districts { updateRequests { totalCount } } }"""


async def answers(client: GraphQLClient, token: str) -> Any:
    return await client.data(PREFERENCES, token=token)


async def test_one_accounts_saved_preferences_never_change_anothers_answers(db) -> None:
    """Two technical contacts of one district: what one saves leaves the other's defaults and
    lists as they were, and the other's later choice leaves the first's."""
    await make_catalog()
    district = await make_district("Lakeside")
    first = await make_account(Role.TECHNICAL_CONTACT, [district], email="first@lakeside.example")
    second = await make_account(Role.TECHNICAL_CONTACT, [district], email="second@lakeside.example")
    tokens = [await make_token(first), await make_token(second)]
    await make_request(district, status=S.COMPLETED)
    await make_request(district, status=S.TO_BE_SCHEDULED, environment=EnvironmentKind.STAGING)
    untouched = {
        "viewer": {"preferences": {"hideCompleted": False, "notify": "ALL_MY_DISTRICTS"}},
        "updateRequests": {"totalCount": 2},
        "districts": [{"updateRequests": {"totalCount": 2}}],
    }
    save = """mutation($h: Boolean, $n: NotifyPreference) {
      setPreferences(hideCompleted: $h, notify: $n) { hideCompleted } }"""
    async with api_client() as client:
        await client.data(save, {"h": True, "n": "NONE"}, tokens[0])
        hiding = await answers(client, tokens[0])
        assert hiding["viewer"]["preferences"] == {"hideCompleted": True, "notify": "NONE"}
        assert hiding["updateRequests"]["totalCount"] == 1
        assert await answers(client, tokens[1]) == untouched
        await client.data(save, {"h": False, "n": "MY_REQUESTS"}, tokens[1])
        assert await answers(client, tokens[0]) == hiding
    assert (await District.get(id=district.id)).name == "Lakeside"


ROLLOUT_VIEW = """{ groupRollouts { id } blackouts { id }
  updateRequests(first: 10) { edges { node { id canCancel rollout { id } } } } }"""
CANCEL = "mutation($id: ID!) { cancelUpdateRequest(id: $id) { updateRequest { status } errors { code } } }"


async def test_a_district_leaving_its_group_takes_the_groups_rollout_out_of_its_contacts_hands(db) -> None:
    """A state contact linked to a district of a group sees the group's rollout and blackout and
    may cancel the rollout's request there. Once the district has left the group, the contact no
    longer sees that rollout or blackout, and it may no longer cancel the rollout's work either
    (canCancel and the mutation agree); hosting staff still may."""
    await make_catalog()
    group = await make_group("Example State", GroupKind.STATE)
    leaving = await make_district("Leaving", group=group)
    await make_district("Staying", group=group)
    contact = await make_account(Role.STATE_CONTACT, [leaving])
    staff_token = await make_token(await make_account(Role.HOSTING_STAFF))
    token = await make_token(contact)
    async with api_client() as client:
        started = await client.data(
            """mutation($g: ID!) { startGroupRollout(input: {updateGroupId: $g, environment: STAGING,
                 targetVersion: "Campus.2435.4"}) { rollout { id } errors { code } } }""",
            {"g": gid(group)},
            staff_token,
        )
        rollout_id = started["startGroupRollout"]["rollout"]["id"]
        await client.data(
            """mutation($g: ID!) { createBlackout(input: {start: "2027-01-01T00:00:00Z",
                 end: "2027-01-02T00:00:00Z", reason: "State testing", updateGroupId: $g}) {
                 errors { code } } }""",
            {"g": gid(group)},
            staff_token,
        )
        before = await client.data(ROLLOUT_VIEW, token=token)
        assert [r["id"] for r in before["groupRollouts"]] == [rollout_id] and len(before["blackouts"]) == 1
        [edge] = before["updateRequests"]["edges"]
        assert edge["node"]["canCancel"] is True and edge["node"]["rollout"] == {"id": rollout_id}
        request_id = edge["node"]["id"]

        await District.filter(id=leaving.id).update(update_group_id=None)
        after = await client.data(ROLLOUT_VIEW, token=token)
        assert after["groupRollouts"] == [] and after["blackouts"] == []
        assert after["updateRequests"]["edges"] == [
            {"node": {"id": request_id, "canCancel": False, "rollout": None}}
        ]
        refused = (await client.data(CANCEL, {"id": request_id}, token))["cancelUpdateRequest"]
        assert refused == {"updateRequest": None, "errors": [{"code": "FORBIDDEN"}]}
        done = (await client.data(CANCEL, {"id": request_id}, staff_token))["cancelUpdateRequest"]
        assert done == {"updateRequest": {"status": "CANCELLED"}, "errors": []}
