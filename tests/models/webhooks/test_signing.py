"""Signatures: the header format, verification, and the README's snippet run as written."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

from models.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    delivery_headers,
    new_secret,
    parse_signature_header,
    signature_header,
    verify,
)

README = Path(__file__).resolve().parents[3] / "README.md"
SECRET = "whsec_test-secret"
BODY = b'{"type":"STATUS_CHANGED","toStatus":"SCHEDULED"}'


def test_the_header_is_t_and_v1_over_time_dot_body() -> None:
    header = signature_header(SECRET, 1_767_225_600, BODY)
    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1767225600,v1={expected}"
    assert parse_signature_header(header) == (1_767_225_600, [expected])


def test_verify_accepts_the_signature_and_refuses_tampering_replays_and_other_secrets() -> None:
    header = signature_header(SECRET, 1000, BODY)
    assert verify(SECRET, header, BODY, now=1000)
    assert verify(SECRET, header, BODY, now=1299)
    assert not verify(SECRET, header, BODY, now=1301)  # too old: a replay
    assert not verify(SECRET, header, BODY + b" ", now=1000)
    assert not verify("whsec_other", header, BODY, now=1000)
    assert not verify(SECRET, header.replace("t=1000", "t=1001"), BODY, now=1000)
    for broken in ("", "v1=abc", "t=x,v1=abc", "t=1000", "garbage"):
        assert not verify(SECRET, broken, BODY, now=1000)


def test_headers_of_an_attempt() -> None:
    headers = delivery_headers(SECRET, BODY, event_type="STATUS_CHANGED", delivery_uid="d-1", timestamp=1000)
    assert headers[EVENT_HEADER] == "STATUS_CHANGED"
    assert headers[DELIVERY_HEADER] == "d-1"
    assert headers["Content-Type"] == "application/json"
    assert verify(SECRET, headers[SIGNATURE_HEADER], BODY, now=1000)


def test_secrets_are_random_and_prefixed() -> None:
    one, two = new_secret(), new_secret()
    assert one != two and one.startswith("whsec_") and len(one) > 40


def readme_snippet() -> str:
    section = README.read_text().split("### Verifying a delivery", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's webhook section has a Python snippet"
    return match.group(1)


def test_the_readme_verification_snippet_works_as_written() -> None:
    namespace: dict[str, object] = {}
    exec(readme_snippet(), namespace)
    check = namespace["verify_updatedesk_signature"]
    assert callable(check)
    header = signature_header(SECRET, 1000, BODY)
    assert check(SECRET, header, BODY, now=1000) is True
    assert check(SECRET, header, BODY + b"x", now=1000) is False
    assert check(SECRET, header, BODY, now=5000) is False
