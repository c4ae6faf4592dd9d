"""GraphQL over HTTP media types (the GraphQL-over-HTTP spec): which one to answer in, and with
which status code.

- `application/json` (also for `*/*`, `application/*` and a missing Accept header, as the spec's
  legacy rules ask): every GraphQL answer is 200, as before.
- `application/graphql-response+json`: a request that failed before execution (parse, validation,
  variable coercion, a refused limit) has no `data` entry and a 4xx status (401 without a valid
  token, 429 when the cost budget is spent, else 400); an internal fault is 500. Anything that
  executed is 200.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
HTML = "text/html"
#: Media ranges that mean "anything": answered in JSON, the spec's legacy default.
_WILDCARDS = frozenset({"*/*", "application/*"})
#: Message of a masked internal fault (schema.extensions.masking.MASKED_MESSAGE; not imported:
#: the root of the app may, but this module stays a leaf).
_MASKED_MESSAGE = "Unexpected error."
_STATUS_BY_CODE = {"UNAUTHENTICATED": 401, "RATE_LIMITED": 429}


def negotiate(accept: str | None) -> str:
    """The media type to answer in for an `Accept` header: the acceptable one of highest quality,
    graphql-response+json on a tie; JSON when nothing listed is acceptable."""
    best: tuple[float, int, str] | None = None
    for part in (accept or "").split(","):
        media_range, *parameters = (item.strip() for item in part.split(";"))
        media_range = media_range.lower()
        quality = _quality(parameters)
        if quality <= 0:
            continue
        if media_range == GRAPHQL_RESPONSE_JSON:
            candidate = (quality, 1, GRAPHQL_RESPONSE_JSON)
        elif media_range == JSON or media_range in _WILDCARDS:
            candidate = (quality, 0, JSON)
        else:
            continue
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else JSON


def prefers_html(accept: str | None) -> bool:
    """Whether a client asks for HTML before any JSON: a browser opening a link (`text/html,…,
    */*;q=0.8`), never curl or `fetch` (`*/*`) nor a GraphQL client (`application/json`)."""
    html = 0.0
    other = 0.0
    for part in (accept or "").split(","):
        media_range, *parameters = (item.strip() for item in part.split(";"))
        media_range = media_range.lower()
        if media_range == HTML:
            html = max(html, _quality(parameters))
        elif media_range in (JSON, GRAPHQL_RESPONSE_JSON) or media_range in _WILDCARDS:
            other = max(other, _quality(parameters))
    return html > other


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def graphql_response_status(body: Mapping[str, Any]) -> int:
    """The status of an `application/graphql-response+json` answer with this body."""
    if body.get("data") is not None:
        return 200
    errors = body.get("errors") or []
    if not errors or any(error.get("path") for error in errors):
        return 200  # it executed: a field error reached the root
    if any(error.get("message") == _MASKED_MESSAGE for error in errors):
        return 500
    for error in errors:
        status = _STATUS_BY_CODE.get(str((error.get("extensions") or {}).get("code")))
        if status is not None:
            return status
    return 400
