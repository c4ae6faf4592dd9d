"""Webhooks through the GraphQL API: the secret once, the caller's own only, refusals as data,
and the delivery log."""

from __future__ import annotations

from models.enums import EventType, Role
from models.tables import Webhook, WebhookAttempt, WebhookDelivery
from tests import support
from tests.factories import make_account, make_district, make_token
from tests.support_graphql import api_client, gid
from tests.support_webhooks import T0

PUBLIC_URL = "https://93.184.215.14/hooks/updatedesk"
CREATE = """mutation($input: WebhookInput!) {
  createWebhook(input: $input) { webhook { id url active createdAt district { id name } } secret
                                 errors { code message field } } }"""
DELETE = "mutation($id: ID!) { deleteWebhook(id: $id) { deletedId errors { code message field } } }"
LIST = """{ webhooks { id url active failingSince district { name }
            deliveries(first: 5) { deliveryId eventCursor eventType at attempt
                                   statusCode error delivered } } }"""
NODE = "query($id: ID!) { node(id: $id) { __typename ... on Webhook { url } } }"


async def test_create_returns_the_secret_once_and_lists_only_the_callers_own(
    db: support.TestDatabase,
) -> None:
    district = await make_district("Lakeside")
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    colleague = await make_account(Role.TECHNICAL_CONTACT, [district])
    staff = await make_account(Role.HOSTING_STAFF)
    tokens = {
        name: await make_token(account)
        for name, account in [("tc", contact), ("co", colleague), ("st", staff)]
    }
    async with api_client() as api:
        created = (
            await api.data(CREATE, {"input": {"url": PUBLIC_URL, "districtId": gid(district)}}, tokens["tc"])
        )["createWebhook"]
        assert created["errors"] == []
        assert created["secret"].startswith("whsec_")
        assert created["webhook"]["district"] == {"id": gid(district), "name": "Lakeside"}
        assert created["secret"] == (await Webhook.get(url=PUBLIC_URL)).secret

        listed = (await api.data(LIST, token=tokens["tc"]))["webhooks"]
        assert [(w["id"], w["url"], w["active"]) for w in listed] == [
            (created["webhook"]["id"], PUBLIC_URL, True)
        ]
        for other in ("co", "st"):
            assert (await api.data(LIST, token=tokens[other]))["webhooks"] == []
            assert (await api.data(NODE, {"id": created["webhook"]["id"]}, tokens[other]))["node"] is None
            refused = (await api.data(DELETE, {"id": created["webhook"]["id"]}, tokens[other]))[
                "deleteWebhook"
            ]
            assert [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
        own = (await api.data(NODE, {"id": created["webhook"]["id"]}, tokens["tc"]))["node"]
        assert own == {"__typename": "Webhook", "url": PUBLIC_URL}

        deleted = (await api.data(DELETE, {"id": created["webhook"]["id"]}, tokens["tc"]))["deleteWebhook"]
        assert deleted == {"deletedId": created["webhook"]["id"], "errors": []}
        assert (await api.data(LIST, token=tokens["tc"]))["webhooks"] == []


async def test_an_owner_made_a_viewer_can_still_delete_its_webhook(db: support.TestDatabase) -> None:
    """A contact demoted to viewer may register nothing more, but the endpoint it registered keeps
    receiving what a viewer may read: deleting it must stay in its hands (no one else sees it)."""
    district = await make_district()
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    token = await make_token(contact)
    async with api_client() as api:
        created = (await api.data(CREATE, {"input": {"url": PUBLIC_URL}}, token))["createWebhook"]
        await type(contact).filter(id=contact.id).update(role=Role.VIEWER)
        again = (await api.data(CREATE, {"input": {"url": PUBLIC_URL}}, token))["createWebhook"]
        assert [e["code"] for e in again["errors"]] == ["FORBIDDEN"]
        deleted = (await api.data(DELETE, {"id": created["webhook"]["id"]}, token))["deleteWebhook"]
    assert deleted == {"deletedId": created["webhook"]["id"], "errors": []}
    assert await Webhook.filter(owner_id=contact.id).count() == 0


async def test_refusals_come_back_as_errors_on_their_field(db: support.TestDatabase) -> None:
    own, foreign = await make_district(), await make_district()
    contact = await make_token(await make_account(Role.TECHNICAL_CONTACT, [own]))
    viewer = await make_token(await make_account(Role.VIEWER, [own]))
    cases = [
        (contact, {"url": "https://localhost/hook"}, ("VALIDATION", "url")),
        (contact, {"url": "http://93.184.215.14/hook"}, ("VALIDATION", "url")),
        (contact, {"url": "https://10.1.2.3/hook"}, ("VALIDATION", "url")),
        (contact, {"url": PUBLIC_URL, "districtId": gid(foreign)}, ("NOT_FOUND", "districtId")),
        (contact, {"url": PUBLIC_URL, "districtId": "bm90IGFuIGlk"}, ("NOT_FOUND", "districtId")),
        (viewer, {"url": PUBLIC_URL}, ("FORBIDDEN", None)),
    ]
    async with api_client() as api:
        for token, payload, expected in cases:
            answer = (await api.data(CREATE, {"input": payload}, token))["createWebhook"]
            assert answer["webhook"] is None and answer["secret"] is None, payload
            assert [(e["code"], e["field"]) for e in answer["errors"]] == [expected], payload
    assert await Webhook.all().count() == 0


async def test_deliveries_list_the_attempts_newest_first_without_the_secret(db: support.TestDatabase) -> None:
    district = await make_district()
    account = await make_account(Role.PARTNER, [district])
    token = await make_token(account)
    hook = await Webhook.create(
        owner_id=account.id, url=PUBLIC_URL, secret="whsec_never-shown", created_at=T0
    )
    delivery = await WebhookDelivery.create(
        webhook_id=hook.id,
        uid="5a7c1c9e-1111-4a4a-8888-000000000001",
        event_cursor="1767225600000-0",
        event_type=EventType.STATUS_CHANGED,
        update_request_id=1,
        district_id=district.id,
        body="{}",
        created_at=T0,
        next_attempt_at=T0,
    )
    await WebhookAttempt.create(
        delivery=delivery, webhook=hook, attempt=1, at=T0, status_code=500, error="HTTP 500"
    )
    await WebhookAttempt.create(
        delivery=delivery, webhook=hook, attempt=2, at=T0, status_code=200, delivered=True
    )
    async with api_client() as api:
        body = await api.post(LIST, token=token)
    assert "whsec_never-shown" not in str(body)
    [listed] = body["data"]["webhooks"]
    assert listed["district"] is None  # every district the owner may see
    assert [(d["attempt"], d["statusCode"], d["error"], d["delivered"]) for d in listed["deliveries"]] == [
        (2, 200, None, True),
        (1, 500, "HTTP 500", False),
    ]
    assert {(d["deliveryId"], d["eventCursor"], d["eventType"]) for d in listed["deliveries"]} == {
        (delivery.uid, "1767225600000-0", "STATUS_CHANGED")
    }


async def test_a_webhook_for_a_district_its_owner_lost_says_it_gets_nothing_without_naming_it(
    db: support.TestDatabase,
) -> None:
    """A district's webhook whose owner is unlinked from that district: the district is not shown
    (the owner no longer sees it), and the webhook must not read as one for every district that
    still gets events: it is not active, though never deactivated. Linked again, it is active."""
    own = await make_district("Lakeside")
    kept = await make_district("Hillcrest")
    owner = await make_account(Role.PARTNER, [own, kept])
    token = await make_token(owner)
    query = "{ webhooks { url active deactivatedAt district { id name } } }"
    async with api_client() as api:
        answer = await api.data(CREATE, {"input": {"url": PUBLIC_URL, "districtId": gid(own)}}, token)
        created = answer["createWebhook"]
        assert created["errors"] == [] and created["webhook"]["active"] is True
        await owner.districts.remove(own)
        body = await api.post(query, token=token)
        assert "Lakeside" not in str(body)
        assert body["data"]["webhooks"] == [
            {"url": PUBLIC_URL, "active": False, "deactivatedAt": None, "district": None}
        ]
        await owner.districts.add(own)
        [again] = (await api.data(query, token=token))["webhooks"]
        assert (again["active"], again["district"]) == (True, {"id": gid(own), "name": "Lakeside"})


async def test_a_webhook_for_all_districts_is_not_active_while_its_owner_has_none(
    db: support.TestDatabase,
) -> None:
    """A webhook for every district (district null) carries what its owner sees: once the owner
    is unlinked from its last district it gets nothing, and must not say `active: true` (as a
    webhook for one lost district already says false). Linked again, it is active. An account that
    never had a district reads false from the start; staff, who see everything, read true."""
    own = await make_district("Lakeside")
    owner = await make_account(Role.PARTNER, [own])
    unlinked = await make_account(Role.TECHNICAL_CONTACT)
    staff = await make_account(Role.HOSTING_STAFF)
    tokens = {
        name: await make_token(account)
        for name, account in [("owner", owner), ("none", unlinked), ("st", staff)]
    }
    query = "{ webhooks { url active deactivatedAt district { id } } }"
    every = {"input": {"url": PUBLIC_URL, "districtId": None}}
    async with api_client() as api:
        created = (await api.data(CREATE, every, tokens["owner"]))["createWebhook"]
        assert created["errors"] == [] and created["webhook"]["active"] is True
        await owner.districts.remove(own)
        assert (await api.data(query, token=tokens["owner"]))["webhooks"] == [
            {"url": PUBLIC_URL, "active": False, "deactivatedAt": None, "district": None}
        ]
        await owner.districts.add(own)
        [again] = (await api.data(query, token=tokens["owner"]))["webhooks"]
        assert again["active"] is True

        never = (await api.data(CREATE, every, tokens["none"]))["createWebhook"]
        assert never["errors"] == [] and never["webhook"]["active"] is False
        assert [w["active"] for w in (await api.data(query, token=tokens["none"]))["webhooks"]] == [False]

        for_staff = (await api.data(CREATE, every, tokens["st"]))["createWebhook"]
        assert for_staff["errors"] == [] and for_staff["webhook"]["active"] is True
