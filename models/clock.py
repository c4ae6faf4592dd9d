"""The domain's clock: every "now" is an aware UTC instant. Functions take `now` as a parameter
(defaulting to this) so tests can pin time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
