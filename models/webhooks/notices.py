"""The mails when an endpoint is deactivated: to its owner, and the hosting team's alert."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from models.enums import NotificationKind
from models.notices import Notice


def deactivation_notice(url: str, failing_since: datetime, last_error: str | None) -> Notice:
    since = failing_since.strftime("%Y-%m-%d %H:%M UTC")
    cause = f"\n\nThe last attempt failed with: {last_error}" if last_error else ""
    return Notice(
        NotificationKind.WEBHOOK_DEACTIVATED,
        f"Webhook deactivated: {url}",
        f"Updatedesk could not deliver events to your webhook endpoint\n\n  {url}\n\n"
        f"since {since}, so it has been deactivated and receives no further events.{cause}\n\n"
        "Once the endpoint answers again, delete this webhook and create it anew (you will get a "
        "new signing secret). The webhook's delivery log lists every attempt and its answer, and "
        "the events given up without one.\n",
    )


def staff_alert_text(
    webhook_id: int, url: str, owner_email: str, failing_since: datetime, last_error: str | None
) -> str:
    """The hosting team's alert (logged, counted, and mailed to UPDATEDESK_STAFF_ALERT_EMAIL). It
    names the endpoint's host only: a webhook is its owner's, and paths often carry a token."""
    host = urlsplit(url).hostname or "?"
    since = failing_since.strftime("%Y-%m-%d %H:%M UTC")
    cause = f"; last error: {last_error}" if last_error else ""
    what = f"webhook {webhook_id} of {owner_email} (host {host})"
    return f"{what} was deactivated after failing since {since}{cause}"
