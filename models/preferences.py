"""Choices saved per account: "Hide Complete", and which notices it is sent."""

from __future__ import annotations

from models.enums import NotifyPreference, Role
from models.tables import Account

#: Whom notices reach when an account chose nothing: a district's technical contacts hear of all
#: its work, contacts over many districts of what they asked for, the hosting team of nothing
#: (they act on many districts and would drown; they opt in when they want it).
DEFAULT_NOTIFY: dict[Role, NotifyPreference] = {
    Role.TECHNICAL_CONTACT: NotifyPreference.ALL_MY_DISTRICTS,
    Role.STATE_CONTACT: NotifyPreference.MY_REQUESTS,
    Role.CONSORTIUM_CONTACT: NotifyPreference.MY_REQUESTS,
    Role.PARTNER: NotifyPreference.MY_REQUESTS,
    Role.ESA: NotifyPreference.MY_REQUESTS,
    Role.VIEWER: NotifyPreference.NONE,
    Role.HOSTING_STAFF: NotifyPreference.NONE,
}


def effective_notify(role: Role, chosen: NotifyPreference | None) -> NotifyPreference:
    """The account's choice, or its role's default when it made none."""
    return chosen if chosen is not None else DEFAULT_NOTIFY[role]


def wants_notice(preference: NotifyPreference, *, linked: bool, is_requester: bool) -> bool:
    """Whether an account with `preference` is told of a request: `linked` when it sees the
    request's district, `is_requester` when it asked for the request."""
    if not linked or preference is NotifyPreference.NONE:
        return False
    return preference is NotifyPreference.ALL_MY_DISTRICTS or is_requester


async def set_hide_completed(account_id: int, hide_completed: bool) -> None:
    """Save the "Hide Complete" checkbox: lists hide completed requests unless a query says otherwise."""
    await Account.filter(id=account_id).update(hide_completed=hide_completed)


async def set_notify(account_id: int, notify: NotifyPreference) -> None:
    """Save which notices the account is sent."""
    await Account.filter(id=account_id).update(notify=notify)
