"""Which events an endpoint may carry: exactly what its owner would see as a subscriber right
now (an active account, its current district links; staff see every district), narrowed to the
endpoint's district when it has one. Asked at fan-out and again before every attempt."""

from __future__ import annotations

from dataclasses import dataclass

from models.access import Actor, actor_for_account
from models.enums import Role


@dataclass(frozen=True)
class OwnerView:
    """What decides the owner's sight: whether the account is active, its role and its links."""

    account_id: int
    active: bool
    role: Role
    district_ids: frozenset[int]


def may_carry(owner: OwnerView, webhook_district_id: int | None, event_district_id: int) -> bool:
    if not owner.active:
        return False
    if webhook_district_id is not None and webhook_district_id != event_district_id:
        return False
    return actor_for_account(owner.account_id, owner.role, owner.district_ids).can_see(event_district_id)


def receiving(owner: Actor, active: bool, webhook_district_id: int | None) -> bool:
    """Whether an endpoint gets events now, as its owner is shown it: not deactivated and, when it
    is for one district, that district still one the owner sees (otherwise every event of it is
    refused by `may_carry`, and the owner may not even be shown which district it was); when it
    is for every district, the owner still sees one (staff see all; an account linked to none
    has every event refused)."""
    if not active:
        return False
    if webhook_district_id is None:
        return owner.district_ids is None or bool(owner.district_ids)
    return owner.can_see(webhook_district_id)
