"""Signing deliveries, the way Stripe and GitHub do: a secret per endpoint, shown once, and an
HMAC-SHA256 over "<unix time>.<body>" in `Updatedesk-Signature: t=<unix>,v1=<hex>`. The time
inside the signed text lets a receiver refuse old deliveries replayed at it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Updatedesk-Signature"
EVENT_HEADER = "Updatedesk-Event"
DELIVERY_HEADER = "Updatedesk-Delivery"
USER_AGENT = "Updatedesk-Webhooks/1"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
#: How old a signature's time may be before `verify` refuses it (seconds, either direction).
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def delivery_headers(
    secret: str, body: bytes, *, event_type: str, delivery_uid: str, timestamp: int
) -> dict[str, str]:
    """Every header of one attempt (the signature is fresh per attempt; the body is not)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: delivery_uid,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
    }


def parse_signature_header(header: str) -> tuple[int, list[str]] | None:
    """(t, every v1 signature) of a header, or None when it is not one of ours."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if not value.isdigit():
                return None
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance: float = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: the header parses, its time is within `tolerance` of `now`, and one
    of its v1 signatures matches (compared in constant time)."""
    parsed = parse_signature_header(header)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
