"""The mail to a webhook's owner when its endpoint is deactivated."""

from __future__ import annotations

from datetime import datetime

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
        "new signing secret). The webhook's delivery log lists every attempt and its answer.\n",
    )
