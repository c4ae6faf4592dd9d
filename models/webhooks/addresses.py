"""Private-address safety: which webhook URLs are accepted and which resolved addresses may be
connected to. Pure functions; resolving a name is the caller's (`infra.outbound`).

Only public unicast addresses are allowed. Refused: loopback, link-local, private (RFC 1918 and
IPv6 unique-local), carrier-grade NAT, multicast, unspecified, cloud metadata endpoints, and
whatever else is not globally routable (documentation, benchmarking, reserved ranges). IPv6
forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) are judged
by that IPv4 address. With `allow_private` (development only) everything goes, plain http too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from models.enums import ErrorCode
from models.errors import DomainError

IPAddress = IPv4Address | IPv6Address

MAX_URL_LENGTH = 2000
URL_FIELD = "url"
DEFAULT_PORTS = {"https": 443, "http": 80}

#: Checked before the general categories, so the message names the more telling one.
METADATA_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = (
    ip_network("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack...
    ip_network("100.100.100.200/32"),  # Alibaba Cloud
    ip_network("fd00:ec2::254/128"),  # AWS over IPv6
)
CGNAT_NETWORK = ip_network("100.64.0.0/10")
NAT64_NETWORK = ip_network("64:ff9b::/96")
IPV4_COMPATIBLE_NETWORK = ip_network("::/96")


class UnresolvableHost(Exception):
    """The host name has no address (raised by the resolver the caller passes in)."""


#: Resolves a host name (and port) to its addresses; raises UnresolvableHost.
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, when it is one of the forms that carry one."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is where packets end up
    packed = int(address)
    if address in NAT64_NETWORK or (address in IPV4_COMPATIBLE_NETWORK and packed > 1):
        return IPv4Address(packed & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why a webhook may not connect to `address` ("a loopback address"...), or None if public."""
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = blocked_reason(inner)
        return None if reason is None else f"{reason} (inside the IPv6 address {address})"
    if any(address in network for network in METADATA_NETWORKS):
        return "a cloud metadata address"
    checks = (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, IPv4Address) and address in CGNAT_NETWORK, "a carrier-grade NAT address"),
        (address.is_private, "a private address"),
        # Not globally routable, though Python's `is_global` (3.11) passes them: the rest of the
        # IETF-reserved IPv6 space (IPv4-translated ::ffff:0:0:0/96, local-use NAT64
        # 64:ff9b:1::/48: each can carry a private IPv4 address) and the old site-local fec0::/10.
        (address.is_reserved, "a reserved address"),
        (isinstance(address, IPv6Address) and address.is_site_local, "a site-local address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    if not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: where to connect and what to call the host."""

    url: str
    scheme: str
    host: str  # a lower-case name, or an IP address without brackets
    port: int
    literal: IPAddress | None  # the host, when it is an IP address

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.literal, IPv6Address) else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def invalid_url(message: str) -> DomainError:
    return DomainError(ErrorCode.VALIDATION, message, URL_FIELD)


def parse_target(url: str, *, allow_private: bool) -> Target:
    """The URL as a target, or VALIDATION on `url`: https only (http too with `allow_private`),
    a host, no user name or password, no spaces or control characters; an IP address host must be
    public unless `allow_private`. A host name is checked once resolved (`check_addresses`); one
    not in ASCII becomes its IDNA (xn--) form."""
    url = url.strip()
    if not url:
        raise invalid_url("Give the https URL of your endpoint.")
    if len(url) > MAX_URL_LENGTH:
        raise invalid_url(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise invalid_url("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise invalid_url(f"The URL cannot be read: {error}.") from None
    if port == 0:  # `or` below would quietly make it the scheme's port: say what is wrong
        raise invalid_url("The URL's port must be between 1 and 65535.")
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        raise invalid_url("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise invalid_url("Leave user name and password out of the URL; deliveries are signed instead.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise invalid_url("The URL has no host.")
    if not host.isascii():
        # A name in its own script is looked up, sent in Host and checked in TLS as its xn-- form
        # (the form the system resolver looks it up in at registration); HTTP headers take ASCII.
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise invalid_url("The URL's host is not a valid domain name.") from None
    try:
        literal: IPAddress | None = ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not allow_private:
        reason = blocked_reason(literal)
        if reason is not None:
            raise invalid_url(f"{host} is {reason}; webhooks go to public addresses only.")
    return Target(url, scheme, host, port or DEFAULT_PORTS[scheme], literal)


def first_blocked(addresses: list[IPAddress]) -> tuple[IPAddress, str] | None:
    for address in addresses:
        reason = blocked_reason(address)
        if reason is not None:
            return address, reason
    return None


def check_addresses(host: str, addresses: list[IPAddress]) -> None:
    """VALIDATION on `url` unless every address `host` resolves to is public (one private address
    among public ones is refused too: the connection could go to any of them)."""
    if not addresses:
        raise invalid_url(f"The host {host} has no address.")
    blocked = first_blocked(addresses)
    if blocked is not None:
        address, reason = blocked
        raise invalid_url(f"{host} resolves to {address}, {reason}; webhooks go to public addresses only.")
