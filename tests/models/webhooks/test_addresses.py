"""Private-address safety, pure: which addresses and URLs a webhook may use."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from models.enums import ErrorCode
from models.errors import DomainError
from models.webhooks.addresses import blocked_reason, check_addresses, parse_target

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd12:3456::1": "private",
    "fc00::1": "private",
    "169.254.10.10": "link-local",
    "fe80::1": "link-local",
    "169.254.169.254": "metadata",
    "fd00:ec2::254": "metadata",
    "100.100.100.200": "metadata",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "192.0.2.1": "",  # documentation: any reason
    "198.18.0.1": "",  # benchmarking: any reason
    "240.0.0.1": "",  # reserved: any reason
    "255.255.255.255": "",
    # IPv6 forms that carry an IPv4 address are judged by it.
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "metadata",
    "64:ff9b::7f00:1": "loopback",  # NAT64
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "::10.0.0.1": "private",  # IPv4-compatible
}
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "why"), sorted(BLOCKED.items()))
def test_private_and_special_addresses_are_blocked_with_a_reason(address: str, why: str) -> None:
    reason = blocked_reason(ip_address(address))
    assert reason is not None and why in reason, (address, reason)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ip_address(address)) is None


def refusal(url: str, *, allow_private: bool = False) -> DomainError:
    with pytest.raises(DomainError) as caught:
        parse_target(url, allow_private=allow_private)
    assert caught.value.code is ErrorCode.VALIDATION
    assert caught.value.field == "url"
    return caught.value


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("https:///path", "no host"),
        ("", "Give"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com:99999/", "cannot be read"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://[::1]:8443/hook", "loopback"),
        ("https://[::ffff:7f00:1]/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://10.0.0.5/hook", "private"),
        ("https://hooks.example.com/" + "x" * 2000, "longer"),
    ],
)
def test_urls_refused_without_the_setting(url: str, words: str) -> None:
    assert words in refusal(url).message


def test_the_setting_allows_http_and_private_addresses() -> None:
    target = parse_target("http://127.0.0.1:8099/hook", allow_private=True)
    assert (target.scheme, target.host, target.port, target.host_header) == (
        "http",
        "127.0.0.1",
        8099,
        "127.0.0.1:8099",
    )
    assert "https" in refusal("ftp://127.0.0.1/", allow_private=True).message


def test_a_public_url_is_taken_apart() -> None:
    target = parse_target("  https://Hooks.Example.com./in?x=1 ", allow_private=False)
    assert target.url == "https://Hooks.Example.com./in?x=1"
    assert (target.host, target.port, target.literal, target.host_header) == (
        "hooks.example.com",
        443,
        None,
        "hooks.example.com",
    )
    v6 = parse_target("https://[2606:4700:4700::1111]:8443/", allow_private=False)
    assert v6.host_header == "[2606:4700:4700::1111]:8443"


def test_a_name_must_resolve_to_public_addresses_only() -> None:
    check_addresses("hooks.example.com", [ip_address("93.184.215.14")])
    with pytest.raises(DomainError, match=r"127\.0\.0\.1, a loopback address"):
        check_addresses("localhost", [ip_address("127.0.0.1")])
    # One private address among public ones is enough to refuse: any of them may be used.
    with pytest.raises(DomainError, match=r"10\.0\.0\.9"):
        check_addresses("mixed.example.com", [ip_address("93.184.215.14"), ip_address("10.0.0.9")])
    with pytest.raises(DomainError, match="no address"):
        check_addresses("empty.example.com", [])


def test_an_internationalised_host_is_taken_in_the_ascii_form_dns_uses() -> None:
    """The name is looked up, sent in `Host` and checked in TLS as its xn-- form (the system
    resolver looks a name in its own script up that way too); the URL is kept as written."""
    target = parse_target("https://Bücher.example:8443/in", allow_private=False)
    assert target.url == "https://Bücher.example:8443/in"
    assert (target.host, target.literal, target.host_header) == (
        "xn--bcher-kva.example",
        None,
        "xn--bcher-kva.example:8443",
    )
    # Full-width digits and dots are 127.0.0.1 once in that form: refused as the address it is.
    full_width = "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11"  # 127.0.0.1
    assert "loopback" in refusal(f"https://{full_width}/hook").message
    assert "host" in refusal("https://" + "ü" * 70 + ".example/hook").message  # no DNS name
