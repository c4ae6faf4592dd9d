"""Private-address safety at delivery: every attempt resolves once, checks every address and
connects to the address it checked; without the allow setting a private answer means no POST."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from functools import partial
from ipaddress import ip_address
from pathlib import Path

import pytest

from infra.outbound import post_pinned
from models.enums import WebhookDeliveryState
from models.tables import WebhookAttempt, WebhookDelivery
from models.webhooks.addresses import IPAddress
from models.webhooks.fanout import fan_out
from tests import support
from tests.support_webhooks import (
    T0,
    Clock,
    add_webhook,
    allow_private_settings,
    local_post,
    make_world,
    receiver,
    record_of,
)
from workers.webhooks import deliver_webhook

SETTINGS = allow_private_settings()


class FixedResolver:
    """Answers every name with the given addresses and counts the lookups."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = [ip_address(a) for a in addresses]
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append((host, port))
        return list(self.addresses)


async def test_the_connection_goes_to_the_address_resolved_for_the_attempt(db: support.TestDatabase) -> None:
    """`hooks.partner.test` exists in no DNS: the POST arrives only because it is sent to the
    address our resolver answered, while Host still names the URL's host."""
    world = await make_world()
    resolver = FixedResolver("127.0.0.1")
    async with receiver() as endpoint:
        hook = await add_webhook(world.owner, endpoint.url(host="hooks.partner.test"))
        await fan_out(record_of(world.own_request), now=T0)
        await deliver_webhook(hook.id, SETTINGS, clock=Clock(), post=local_post(resolve=resolver))
    [got] = endpoint.requests
    assert got.headers["host"] == f"hooks.partner.test:{endpoint.port}"
    assert resolver.lookups == [("hooks.partner.test", endpoint.port)]  # once per attempt


async def test_a_name_that_resolves_to_a_private_address_gets_no_post_without_the_setting(
    db: support.TestDatabase,
) -> None:
    world = await make_world()
    async with receiver() as endpoint:
        # Stored while it was public (or rebound since): the check at each attempt still refuses.
        hook = await add_webhook(world.owner, f"https://rebound.partner.test:{endpoint.port}/hook")
        await fan_out(record_of(world.own_request))
        for answer in ("127.0.0.1", "169.254.169.254", "::ffff:10.0.0.7"):
            strict = partial(post_pinned, allow_private=False, resolve=FixedResolver("93.184.215.14", answer))
            clock = Clock()
            await WebhookDelivery.filter(webhook_id=hook.id).update(next_attempt_at=clock())
            await deliver_webhook(hook.id, SETTINGS, clock=clock, post=strict)
    assert endpoint.requests == []
    errors = [a.error or "" for a in await WebhookAttempt.filter(webhook_id=hook.id).order_by("id")]
    assert len(errors) == 3 and all(e.startswith("Refused: rebound.partner.test resolves to") for e in errors)
    assert ["loopback" in errors[0], "metadata" in errors[1], "private" in errors[2]] == [True, True, True]
    assert (await WebhookDelivery.get(webhook_id=hook.id)).state is WebhookDeliveryState.PENDING  # retried


async def test_plain_http_and_literal_private_addresses_are_refused_at_delivery_without_the_setting(
    db: support.TestDatabase,
) -> None:
    async with receiver() as endpoint:
        for url in (endpoint.url(), f"https://127.0.0.1:{endpoint.port}/hook"):
            outcome = await post_pinned(url, b"{}", {}, allow_private=False)
            assert outcome.status_code is None and outcome.error is not None
            assert outcome.error.startswith("Refused:")
        allowed = await post_pinned(endpoint.url(), b"{}", {}, allow_private=True)
    assert allowed.status_code == 200 and len(endpoint.requests) == 1


async def test_numeric_spellings_of_loopback_get_no_post_at_delivery_without_the_setting(
    db: support.TestDatabase,
) -> None:
    """URLs stored while a deployment allowed private addresses, then checked by the system
    resolver at each attempt: 127.0.0.1 spelled as one number, in octal or hex, or as an
    IPv4-translated IPv6 address, reaches no receiver listening on 127.0.0.1."""
    async with receiver() as endpoint:
        spellings = ("2130706433", "017700000001", "0x7f.0.0.1", "127.1", "[::ffff:0:7f00:1]")
        for host in spellings:
            outcome = await post_pinned(
                f"https://{host}:{endpoint.port}/hook", b"{}", {}, allow_private=False
            )
            assert outcome.status_code is None and outcome.error is not None, host
            assert outcome.error.startswith("Refused:") and "address" in outcome.error, outcome.error
        assert endpoint.requests == []
        # The same spelling with the setting does reach it: the refusal above is the check's.
        allowed = await post_pinned(f"http://2130706433:{endpoint.port}/hook", b"{}", {}, allow_private=True)
    assert allowed.status_code == 200 and len(endpoint.requests) == 1


def self_signed(directory: Path, name: str) -> Path:
    """A certificate (and key, same file) for `name`, made by the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("tool absent: openssl (makes the test certificate)")
    pem = directory / f"{name}.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
            "-keyout", str(pem), "-out", str(pem),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return pem


async def test_https_to_the_pinned_address_still_verifies_the_certificate_for_the_name(
    tmp_path: Path,
) -> None:
    pem = self_signed(tmp_path, "hooks.partner.test")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pem)
    trust = ssl.create_default_context(cafile=str(pem))
    resolver = FixedResolver("127.0.0.1")
    async with receiver(tls=server_tls) as endpoint:
        url = f"https://hooks.partner.test:{endpoint.port}/hook"
        good = await post_pinned(url, b"{}", {}, allow_private=True, resolve=resolver, verify=trust)
        # The same address under another name: the certificate does not match, so no POST.
        other = f"https://elsewhere.partner.test:{endpoint.port}/hook"
        bad = await post_pinned(other, b"{}", {}, allow_private=True, resolve=resolver, verify=trust)
    assert good.status_code == 200, good.error
    assert bad.status_code is None and bad.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in bad.error, bad.error
    assert [r.headers["host"] for r in endpoint.requests] == [f"hooks.partner.test:{endpoint.port}"]


@pytest.mark.parametrize(
    ("host", "ascii_form"),
    [
        ("bücher.partner.test", "xn--bcher-kva.partner.test"),
        ("☃.partner.test", "xn--n3h.partner.test"),  # a symbol, as in ☃.net: IDNA 2003 only
    ],
)
async def test_an_internationalised_host_is_looked_up_and_named_in_its_ascii_form(
    db: support.TestDatabase, host: str, ascii_form: str
) -> None:
    """A partner's domain in its own script (accepted at registration, where the system resolver
    looks it up in its xn-- form): each attempt is made and has an outcome, the name going to the
    resolver and in `Host` in that ASCII form."""
    world = await make_world()
    resolver = FixedResolver("127.0.0.1")
    async with receiver() as endpoint:
        hook = await add_webhook(world.owner, endpoint.url(host=host))
        await fan_out(record_of(world.own_request), now=T0)
        await deliver_webhook(hook.id, SETTINGS, clock=Clock(), post=local_post(resolve=resolver))
    [got] = endpoint.requests
    assert got.headers["host"] == f"{ascii_form}:{endpoint.port}"
    assert resolver.lookups == [(ascii_form, endpoint.port)]
    assert (await WebhookDelivery.get(webhook_id=hook.id)).state is WebhookDeliveryState.DELIVERED


async def test_an_internationalised_host_s_certificate_is_checked_for_its_ascii_form(
    tmp_path: Path,
) -> None:
    pem = self_signed(tmp_path, "xn--bcher-kva.partner.test")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pem)
    trust = ssl.create_default_context(cafile=str(pem))
    async with receiver(tls=server_tls) as endpoint:
        url = f"https://bücher.partner.test:{endpoint.port}/hook"
        outcome = await post_pinned(
            url, b"{}", {}, allow_private=True, resolve=FixedResolver("127.0.0.1"), verify=trust
        )
    assert outcome.status_code == 200, outcome.error
