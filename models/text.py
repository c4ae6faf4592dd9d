"""Rules for text that reaches mails, calendars and logs: one e-mail address per field, no control
characters, and lengths that fit where the text goes.

Plain functions raising `ValueError` with a message a person can act on; the importer (and any
other entry point) adds where the bad value was.
"""

from __future__ import annotations

import re
import unicodedata
from email.errors import HeaderParseError
from email.headerregistry import Address

#: RFC 5321: an address longer than this cannot be used on the wire.
MAX_EMAIL_LENGTH = 254
MAX_EMAIL_LOCAL_LENGTH = 64
#: A district's name goes into mail subjects ("Scheduled: the update of the production site of
#: <name> to <version> on <date>"), stored in a 300-character column: this keeps the longest
#: subject inside it.
MAX_DISTRICT_NAME_LENGTH = 120
_DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
#: Format characters that reorder how text is shown (bidirectional overrides and isolates).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _shown(text: str, limit: int = 80) -> str:
    """`text` quoted on one line, control characters escaped, cut to `limit` characters."""
    escaped = "".join(c if control_character(c) is None else f"\\u{ord(c):04x}" for c in text)
    return "'" + escaped[:limit] + ("..." if len(escaped) > limit else "") + "'"


def control_character(text: str) -> str | None:
    """The first control character in `text` (named, e.g. 'U+000D'), or None.

    Refused: C0 and C1 controls (CR, LF and TAB included: one-line text only), line and paragraph
    separators, and bidirectional overrides."""
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" or category in ("Zl", "Zp") or char in _BIDI_CONTROLS:
            return f"U+{ord(char):04X}"
    return None


def check_line(text: str, limit: int) -> str:
    """One line of text: no control characters, at most `limit` characters; returned stripped."""
    found = control_character(text)
    if found is not None:
        raise ValueError(f"contains a control character ({found}); use plain text on one line")
    if len(text) > limit:
        raise ValueError(f"is {len(text)} characters long; at most {limit} are allowed")
    return text.strip()


def check_address(value: str) -> str:
    """A single e-mail address (`name@example.org`), lower-cased; anything else is refused:
    lists (`a@x, b@y`), display names (`Pat <a@x>`), comments, quoted or non-ASCII parts,
    single-label domains."""
    text = value.strip()
    if control_character(text) is not None or any(c.isspace() for c in text):
        raise ValueError(f"{_shown(text)} must be one e-mail address without spaces or line breaks")
    if not text.isascii():
        raise ValueError(f"{_shown(text)} must be written in ASCII (a domain in its xn-- form)")
    if len(text) > MAX_EMAIL_LENGTH:
        raise ValueError(f"is longer than {MAX_EMAIL_LENGTH} characters")
    try:
        address = Address(addr_spec=text)
    except (ValueError, IndexError, HeaderParseError):
        raise ValueError(f"{_shown(text)} is not a single e-mail address like name@example.org") from None
    # The parser accepts comments and quoting and normalises them away: only the plain form may pass.
    if address.addr_spec != text or '"' in text:
        raise ValueError(f"{_shown(text)} is not a single e-mail address like name@example.org")
    local, domain = address.username, address.domain.lower()
    if not local or len(local) > MAX_EMAIL_LOCAL_LENGTH:
        raise ValueError(f"{_shown(text)} has no valid name before the @")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise ValueError(f"{_shown(text)} has no valid domain after the @ (like example.org)")
    return text.lower()
