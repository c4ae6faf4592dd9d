"""Structured logs: JSON lines in production, readable lines in `dev`, secrets never written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

import structlog

#: Keys whose values are replaced before a log line is written.
SECRET_KEYS = frozenset(
    {"token", "authorization", "password", "secret", "api_key", "database_url", "smtp_url", "redis_url"}
)
#: A URL: a scheme, `://`, then everything up to whitespace (a password holding `@`, quotes or
#: brackets is still caught whole).
_URL = re.compile(r"(?i)(?<![a-z0-9+.-])(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>\S+)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
#: Our API tokens by their prefix (`models.tokens.TOKEN_PREFIX`), wherever they appear.
_TOKEN_LIKE = re.compile(r"(?<![A-Za-z0-9])ud_[A-Za-z0-9_-]{16,}")
REDACTED = "[redacted]"


def _userinfo(scheme: str, rest: str) -> str:
    """The `user:password` part at the start of `rest` (after `scheme://`), or ""."""
    # Up to the last `@` of the URL: a password may hold `@`, `/`, `?` or `#`, which end
    # urlsplit's netloc early. Hiding too much of a URL in a log is fine; too little is not.
    candidate, at, _ = rest.rpartition("@")
    user = candidate.partition(":")[0]
    if at and ":" in candidate and not any(c in user for c in "/?#"):
        return candidate
    try:
        netloc = urlsplit(f"{scheme}://{rest}").netloc
    except ValueError:  # e.g. brackets that are no IPv6 address
        return ""
    return netloc.rpartition("@")[0]


def _redact_url(match: re.Match[str]) -> str:
    scheme, rest = match["scheme"], match["rest"]
    userinfo = _userinfo(scheme, rest)
    user, colon, password = userinfo.partition(":")
    if not colon or not password:
        return match[0]
    return f"{scheme}://{user}:{REDACTED}{rest[len(userinfo) :]}"


def redact_text(text: str) -> str:
    """Blank passwords in URLs, bearer tokens and API tokens anywhere in a string."""
    text = _URL.sub(_redact_url, text)
    text = _BEARER.sub(lambda m: f"{m[1]}{REDACTED}", text)
    return _TOKEN_LIKE.sub(REDACTED, text)


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Before rendering: values of secret keys, and secrets inside string values."""
    for key, value in list(event_dict.items()):
        if key.lower() in SECRET_KEYS and value is not None:
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
    return event_dict


def redact_rendered(_logger: Any, _method: str, rendered: Any) -> str:
    """After rendering: the whole line, so exception text and tracebacks (formatted after the
    processors above ran) are redacted too."""
    return redact_text(str(rendered))


def configure_logging(*, json: bool, level: int = logging.INFO) -> None:
    """Route stdlib and structlog through one pipeline; call once per process."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become a field of the line (never printed on the side), then the line is
            # rendered, then redacted whole.
            structlog.processors.format_exc_info,
            renderer,
            redact_rendered,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Tortoise logs every SQL statement with its parameters at DEBUG: keep it out of the log.
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
