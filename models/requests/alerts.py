"""Alerts for the hosting team (a request given up after lapsed leases, a job that does not begin):
an outbox mail to the staff alert address when one is configured, written in the transaction of
the change it reports. The caller logs every alert and counts it, mail or not.

Staff read request ids and technical detail; districts never receive these mails.
"""

from __future__ import annotations

from models.enums import NotificationKind
from models.requests.queries import Site
from models.running import RunPolicy
from models.tables import Notification, UpdateRequest


def describe_for_staff(request: UpdateRequest, site: Site) -> str:
    """'request 42 (version update of the production site of Lakeside to Campus.2439.1)'."""
    what = "version update" if request.target_version else "database refresh"
    target = f" to {request.target_version}" if request.target_version else ""
    environment = site.environment.kind.value.lower()
    return f"request {request.id} ({what} of the {environment} site of {site.district.name}{target})"


async def queue_staff_alert(
    request: UpdateRequest, site: Site, subject: str, body: str, policy: RunPolicy
) -> list[int]:
    """One outbox row to the staff alert address; none when no address is configured."""
    if not policy.staff_alert_email:
        return []
    row = await Notification.create(
        update_request_id=request.id,
        kind=NotificationKind.STAFF_ALERT,
        recipient=policy.staff_alert_email,
        subject=f"Updatedesk alert: {subject}"[:300],
        body=body,
    )
    return [row.id]
