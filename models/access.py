"""Who is acting: an account in some role, or a part of the system, and which districts it sees.

The tenancy rules are plain functions over an account's district links; the lifecycle module asks
these when it decides whether an actor may move a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.enums import REQUESTER_ROLES, ErrorCode, Role
from models.errors import DomainError


class Mover(StrEnum):
    """Who makes a move: a person in some capacity, or a part of the system."""

    REQUESTER = "REQUESTER"  # a district contact acting for a linked district
    STAFF = "STAFF"  # the hosting team
    DISPATCHER = "DISPATCHER"  # the scheduler, when a scheduled request falls due
    WORKER = "WORKER"  # a worker running the runbook
    SYSTEM = "SYSTEM"  # the domain itself (supersession, automatic sandbox updates)


@dataclass(frozen=True)
class Actor:
    """Who is making a change: an account in some role, or a part of the system (account_id None)."""

    mover: Mover
    account_id: int | None = None
    role: Role | None = None
    #: District ids the account is linked to; None means every district (staff, system).
    district_ids: frozenset[int] | None = None

    @property
    def is_staff(self) -> bool:
        return self.mover is Mover.STAFF

    @property
    def is_viewer(self) -> bool:
        return self.role is Role.VIEWER

    def can_see(self, district_id: int) -> bool:
        return self.district_ids is None or district_id in self.district_ids

    def can_request_for(self, district_id: int) -> bool:
        return (self.is_staff or self.role in REQUESTER_ROLES) and self.can_see(district_id)


SYSTEM = Actor(Mover.SYSTEM)
DISPATCHER = Actor(Mover.DISPATCHER)
WORKER = Actor(Mover.WORKER)


def mover_for_role(role: Role) -> Mover | None:
    """The capacity in which an account acts; VIEWER acts in none."""
    if role is Role.HOSTING_STAFF:
        return Mover.STAFF
    if role in REQUESTER_ROLES:
        return Mover.REQUESTER
    return None


def actor_for_account(account_id: int, role: Role, linked_district_ids: frozenset[int]) -> Actor:
    """The actor of a signed-in account. VIEWER gets a REQUESTER-less actor that can only read."""
    mover = mover_for_role(role)
    district_ids = None if role is Role.HOSTING_STAFF else linked_district_ids
    # A VIEWER moves nothing: give it the REQUESTER capacity for reads only; writes check the role.
    return Actor(mover or Mover.REQUESTER, account_id, role, district_ids)


def require_writer(actor: Actor) -> None:
    if actor.is_viewer:
        raise DomainError(ErrorCode.FORBIDDEN, "Viewers can look at requests but not change them.")


def require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise DomainError(ErrorCode.FORBIDDEN, "Only the hosting team can do this.")
