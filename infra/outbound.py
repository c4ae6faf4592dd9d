"""Webhook POSTs that cannot be turned against our own network.

Every attempt resolves the endpoint's host once, checks every address against the private
ranges (`models.webhooks.addresses`) and connects to the address it checked: the URL's host is
replaced by that address, while the `Host` header, TLS SNI and the certificate check keep the
name. So a DNS answer that changes between check and connect ("DNS rebinding") changes nothing.
Redirects are not followed, no proxy from the environment is used, and the whole attempt
(resolve, connect, send, status line) has one time limit; the response body is never read.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from ipaddress import ip_address

import httpx

from models.errors import DomainError
from models.webhooks.addresses import (
    IPAddress,
    Resolve,
    Target,
    UnresolvableHost,
    first_blocked,
    parse_target,
)
from models.webhooks.retries import DELIVERY_TIMEOUT_SECONDS, AttemptOutcome, short_error

#: Time limit of a name lookup when a webhook is created (attempts use their own limit).
RESOLVE_TIMEOUT_SECONDS = 5.0


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order; UnresolvableHost if none."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as error:
        raise UnresolvableHost(host) from error
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHost(host)
    return addresses


async def post_pinned(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_private: bool,
    time_limit: float = DELIVERY_TIMEOUT_SECONDS,
    resolve: Resolve = resolve_host,
    verify: ssl.SSLContext | bool = True,
) -> AttemptOutcome:
    """POST `body` to `url` once. Never raises for the endpoint's faults: a status code, or the
    error that prevented one (refused address, no address, timeout, connection error)."""
    started = time.monotonic()

    def outcome(status_code: int | None, error: str | None) -> AttemptOutcome:
        elapsed = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(status_code, None if error is None else short_error(error), elapsed)

    try:
        target = parse_target(url, allow_private=allow_private)
    except DomainError as error:
        return outcome(None, f"Refused: {error.message}")
    try:
        async with asyncio.timeout(time_limit):
            addresses = (
                [target.literal] if target.literal is not None else await resolve(target.host, target.port)
            )
            blocked = None if allow_private else first_blocked(addresses)
            if blocked is not None:
                address, reason = blocked
                return outcome(None, f"Refused: {target.host} resolves to {address}, {reason}.")
            response = await _post(target, addresses[0], body, headers, time_limit, verify)
    except TimeoutError:
        return outcome(None, f"Timed out after {time_limit:g} s.")
    except UnresolvableHost:
        return outcome(None, f"The host {target.host} does not resolve.")
    except (httpx.HTTPError, OSError) as error:
        return outcome(None, f"Connection failed: {type(error).__name__}: {error}".rstrip(": "))
    code = response.status_code
    return outcome(code, None if 200 <= code < 300 else f"HTTP {code} {response.reason_phrase}".rstrip())


async def _post(
    target: Target,
    address: IPAddress,
    body: bytes,
    headers: Mapping[str, str],
    time_limit: float,
    verify: ssl.SSLContext | bool,
) -> httpx.Response:
    # The host replaced as the URL is read: the URL's own (maybe not ASCII) is never encoded.
    pinned = httpx.URL(target.url, host=str(address))
    # TLS still names (and verifies) the host the URL names, though the socket goes to `address`.
    extensions = {"sni_hostname": target.host} if target.scheme == "https" and target.literal is None else {}
    async with httpx.AsyncClient(
        trust_env=False, follow_redirects=False, verify=verify, timeout=httpx.Timeout(time_limit)
    ) as client:
        request = client.build_request(
            "POST",
            pinned,
            content=body,
            headers={**headers, "Host": target.host_header},
            extensions=extensions,
        )
        response = await client.send(request, stream=True)
        await response.aclose()  # only the status matters; a large body is never read
    return response
