"""Creating, deleting and listing webhooks: who may, which URLs, whose they are."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address

import pytest

from infra.outbound import resolve_host
from models.access import Actor
from models.enums import ErrorCode, Role
from models.errors import DomainError
from models.tables import Webhook, WebhookAttempt, WebhookDelivery
from models.webhooks.addresses import IPAddress
from models.webhooks.fanout import fan_out
from models.webhooks.registry import (
    MAX_WEBHOOKS_PER_ACCOUNT,
    CreatedWebhook,
    create_webhook,
    delete_webhook,
    own_webhooks,
)
from tests import support
from tests.factories import actor_of, make_account, make_district
from tests.support_webhooks import T0, add_webhook, make_world, record_of

PUBLIC_URL = "https://93.184.215.14/hooks/updatedesk"  # a public literal: no lookup needed


async def create(
    actor: Actor, url: str = PUBLIC_URL, district_id: int | None = None, allow_private: bool = False
) -> CreatedWebhook:
    return await create_webhook(
        actor, url=url, district_id=district_id, allow_private=allow_private, resolve=resolve_host
    )


async def refused(code: ErrorCode, field: str | None, **kwargs: object) -> DomainError:
    options: dict[str, object] = {"url": PUBLIC_URL, "district_id": None, "allow_private": False}
    options.update(kwargs)
    with pytest.raises(DomainError) as caught:
        await create_webhook(resolve=resolve_host, **options)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == (code, field)
    return caught.value


async def test_contacts_and_staff_create_for_their_districts(db: support.TestDatabase) -> None:
    own, foreign = await make_district(), await make_district()
    contact = await actor_of(await make_account(Role.PARTNER, [own]))
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    created = await create_webhook(
        contact, url=PUBLIC_URL, district_id=own.id, allow_private=False, resolve=resolve_host
    )
    assert created.secret.startswith("whsec_") and created.webhook.secret == created.secret
    assert (created.webhook.district_id, created.webhook.active) == (own.id, True)
    everywhere = await create_webhook(
        staff, url=PUBLIC_URL, district_id=foreign.id, allow_private=False, resolve=resolve_host
    )
    assert everywhere.webhook.owner_id == staff.account_id
    await refused(ErrorCode.NOT_FOUND, "districtId", actor=contact, district_id=foreign.id)
    await refused(ErrorCode.NOT_FOUND, "districtId", actor=staff, district_id=foreign.id + 1000)


async def test_viewers_are_refused_like_any_other_write(db: support.TestDatabase) -> None:
    district = await make_district()
    viewer = await actor_of(await make_account(Role.VIEWER, [district]))
    await refused(ErrorCode.FORBIDDEN, None, actor=viewer, district_id=district.id)
    await refused(ErrorCode.FORBIDDEN, None, actor=viewer)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://93.184.215.14/hook", "https"),
        ("https://localhost/hook", "resolves to"),  # a name for 127.0.0.1 (or ::1)
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://169.254.169.254/latest", "metadata"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
        ("https://93.184.215.14:0/hook", "between 1 and 65535"),  # not quietly port 443
        ("https://93.184.215.14:65536/hook", "cannot be read"),
    ],
)
async def test_urls_are_refused_on_the_url_field(db: support.TestDatabase, url: str, words: str) -> None:
    contact = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [await make_district()]))
    error = await refused(ErrorCode.VALIDATION, "url", actor=contact, url=url)
    assert words in error.message
    assert await Webhook.all().count() == 0


async def test_the_allow_setting_takes_loopback_and_http(db: support.TestDatabase) -> None:
    contact = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [await make_district()]))
    for url in ("http://localhost:8099/hook", "http://127.0.0.1:8099/hook"):
        created = await create_webhook(
            contact, url=url, district_id=None, allow_private=True, resolve=resolve_host
        )
        assert created.webhook.url == url


async def test_a_host_in_its_own_script_is_looked_up_as_attempts_will_look_it_up(
    db: support.TestDatabase,
) -> None:
    """Registration checks the addresses of the xn-- name each attempt resolves and connects to
    (`infra.outbound`), not of some other spelling; the URL is kept as written."""
    looked_up: list[tuple[str, int]] = []

    async def public(host: str, port: int) -> list[IPAddress]:
        looked_up.append((host, port))
        return [ip_address("93.184.215.14")]

    contact = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [await make_district()]))
    created = await create_webhook(
        contact, url="https://bücher.partner.test/hook", district_id=None, allow_private=False, resolve=public
    )
    assert created.webhook.url == "https://bücher.partner.test/hook"
    assert looked_up == [("xn--bcher-kva.partner.test", 443)]


async def test_only_the_owner_lists_and_deletes_a_webhook(db: support.TestDatabase) -> None:
    district = await make_district()
    owner = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    colleague = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [district]))
    staff = await actor_of(await make_account(Role.HOSTING_STAFF))
    created = await create_webhook(
        owner, url=PUBLIC_URL, district_id=None, allow_private=False, resolve=resolve_host
    )
    assert [w.id for w in await own_webhooks(owner)] == [created.webhook.id]
    assert await own_webhooks(colleague) == [] and await own_webhooks(staff) == []
    for other in (colleague, staff):
        with pytest.raises(DomainError) as caught:
            await delete_webhook(other, created.webhook.id)
        assert caught.value.code is ErrorCode.NOT_FOUND
    await delete_webhook(owner, created.webhook.id)
    assert not await Webhook.filter(id=created.webhook.id).exists()


async def test_an_account_has_a_bounded_number_of_webhooks(db: support.TestDatabase) -> None:
    contact = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [await make_district()]))
    for _ in range(MAX_WEBHOOKS_PER_ACCOUNT):
        await create_webhook(
            contact, url=PUBLIC_URL, district_id=None, allow_private=False, resolve=resolve_host
        )
    error = await refused(ErrorCode.VALIDATION, "url", actor=contact)
    assert str(MAX_WEBHOOKS_PER_ACCOUNT) in error.message


#: Hosts that are loopback, unspecified or private in spellings a filter of dotted quads misses:
#: decimal, octal, hex and short IPv4 (the system resolver reads them as inet_aton does), IPv6
#: forms carrying an IPv4 address, a zoned link-local one, and IPv6 space that is not public.
DISGUISED = [
    ("https://2130706433/hook", "loopback"),  # 127.0.0.1 as one decimal number
    ("https://017700000001/hook", "loopback"),  # ... in octal
    ("https://0177.0.0.1/hook", "loopback"),
    ("https://0x7f.0.0.1/hook", "loopback"),
    ("https://0x7f000001/hook", "loopback"),
    ("https://127.1/hook", "loopback"),
    ("https://0/hook", "unspecified"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://[::]/hook", "unspecified"),
    ("https://[::1]/hook", "loopback"),
    ("https://[0:0:0:0:0:0:0:1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://[0:0:0:0:0:ffff:7f00:1]/hook", "loopback"),
    ("https://[::ffff:0.0.0.0]/hook", "unspecified"),
    ("https://[fe80::1%25eth0]/hook", "link-local"),
    ("https://[::ffff:0:7f00:1]/hook", "address"),  # IPv4-translated (SIIT) 127.0.0.1
    ("https://[::ffff:0:a00:1]/hook", "address"),  # IPv4-translated 10.0.0.1
    ("https://[64:ff9b:1::a00:1]/hook", "address"),  # local-use NAT64 (RFC 8215) of 10.0.0.1
    ("https://[fec0::1]/hook", "address"),  # deprecated site-local
]


@pytest.mark.parametrize(("url", "words"), DISGUISED)
async def test_disguised_private_hosts_are_refused_on_the_url_field(
    db: support.TestDatabase, url: str, words: str
) -> None:
    contact = await actor_of(await make_account(Role.TECHNICAL_CONTACT, [await make_district()]))
    error = await refused(ErrorCode.VALIDATION, "url", actor=contact, url=url)
    assert words in error.message and "public addresses only" in error.message, error.message
    assert await Webhook.all().count() == 0


async def test_deleting_a_webhook_with_deliveries_succeeds_and_takes_its_log_along(
    db: support.TestDatabase,
) -> None:
    """Any endpoint in use has deliveries and attempts; deleting it is a success (not NOT_FOUND),
    on SQLite too, and deleting it again is NOT_FOUND."""
    world = await make_world()
    owner = await actor_of(world.owner)
    hook = await add_webhook(world.owner, PUBLIC_URL)
    for _ in range(2):
        await fan_out(record_of(world.own_request), now=T0)
    delivery = await WebhookDelivery.filter(webhook_id=hook.id).first()
    assert delivery is not None
    await WebhookAttempt.create(delivery=delivery, webhook=hook, attempt=1, at=T0, status_code=503)

    await delete_webhook(owner, hook.id)
    assert not await Webhook.filter(id=hook.id).exists()
    assert not await WebhookDelivery.filter(webhook_id=hook.id).exists()
    assert not await WebhookAttempt.filter(webhook_id=hook.id).exists()
    with pytest.raises(DomainError) as caught:
        await delete_webhook(owner, hook.id)
    assert caught.value.code is ErrorCode.NOT_FOUND


async def test_concurrent_creates_never_pass_the_limit(postgres_db: support.TestDatabase) -> None:
    """Calls of one account that all see room for one more (they count at the same time, each on
    its own connection) must not all insert: the limit holds however they overlap. Left to chance
    a few times (no seam between the count and the insert to hold them at)."""
    callers = 4
    for _ in range(RACE_TRIALS):
        owner = await make_account(Role.TECHNICAL_CONTACT, [await make_district()])
        for _ in range(MAX_WEBHOOKS_PER_ACCOUNT - 1):
            await add_webhook(owner, PUBLIC_URL)
        # One pooled connection per caller, open already: no caller waits for a new connection
        # (which would put it after the others by accident).
        await asyncio.gather(
            *(Webhook._meta.db.execute_query("SELECT pg_sleep(0.02)") for _ in range(callers))
        )
        actor = await actor_of(owner)
        outcomes = await asyncio.gather(*(race_to_create(actor, callers) for _ in range(callers)))
        assert await Webhook.filter(owner_id=owner.id).count() == MAX_WEBHOOKS_PER_ACCOUNT
        assert sum(isinstance(outcome, CreatedWebhook) for outcome in outcomes) == 1
        assert all(o.code is ErrorCode.VALIDATION for o in outcomes if isinstance(o, DomainError))


RACE_TRIALS = 5
_arrivals: dict[int, asyncio.Barrier] = {}


async def race_to_create(actor: Actor, callers: int) -> CreatedWebhook | DomainError:
    """createWebhook whose host lookup returns only once `callers` calls of `actor` are in it: every
    call resolves before it counts, so their counts and inserts overlap."""
    assert actor.account_id is not None
    arrived = _arrivals.setdefault(actor.account_id, asyncio.Barrier(callers))

    async def resolve_together(host: str, port: int) -> list[IPAddress]:
        await arrived.wait()
        return [ip_address("93.184.215.14")]

    try:
        return await create_webhook(
            actor,
            url="https://hooks.partner.example/in",
            district_id=None,
            allow_private=False,
            resolve=resolve_together,
        )
    except DomainError as error:
        return error
