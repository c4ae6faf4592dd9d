"""Who sees which rollouts (DESIGN §1 "Group rollouts", issue 16): hosting staff all; the contacts
of a group (a state or consortium contact linked to at least one of its districts) the rollouts of
that group, with the requests, skips and counts of the districts they are linked to; everyone else
none, answered exactly as a missing rollout."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from models.access import Actor
from models.enums import GROUP_CONTACT_ROLES
from models.tables import GroupRollout

#: Newest first, as every list of the API.
ROLLOUT_ORDER = ("-created_at", "-id")


def sees_rollouts(actor: Actor) -> bool:
    return actor.is_staff or actor.role in GROUP_CONTACT_ROLES


def visible_rollouts(actor: Actor) -> QuerySet[GroupRollout]:
    """The rollouts `actor` may see. Callers add filters and ordering."""
    if actor.is_staff:
        return GroupRollout.all()
    if actor.role not in GROUP_CONTACT_ROLES or not actor.district_ids:
        return GroupRollout.filter(id__in=[])
    return GroupRollout.filter(update_group__districts__id__in=sorted(actor.district_ids)).distinct()
