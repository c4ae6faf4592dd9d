"""Which events an endpoint may carry: its owner's view as a subscriber, pure."""

from __future__ import annotations

from models.access import actor_for_account
from models.enums import Role
from models.webhooks.visibility import OwnerView, may_carry, receiving

CONTACT = OwnerView(1, True, Role.TECHNICAL_CONTACT, frozenset({10, 11}))
STAFF = OwnerView(2, True, Role.HOSTING_STAFF, frozenset())


def test_an_unscoped_webhook_carries_every_district_its_owner_sees_and_no_other() -> None:
    assert may_carry(CONTACT, None, 10) and may_carry(CONTACT, None, 11)
    assert not may_carry(CONTACT, None, 12)


def test_a_scoped_webhook_carries_its_district_only() -> None:
    assert may_carry(CONTACT, 10, 10)
    assert not may_carry(CONTACT, 10, 11)
    assert may_carry(STAFF, 12, 12) and not may_carry(STAFF, 12, 13)


def test_staff_see_everything_and_nobody_sees_through_a_deactivated_account() -> None:
    assert may_carry(STAFF, None, 999)
    assert not may_carry(OwnerView(2, False, Role.HOSTING_STAFF, frozenset()), None, 999)
    assert not may_carry(OwnerView(1, False, Role.TECHNICAL_CONTACT, frozenset({10})), 10, 10)


def test_a_viewer_owner_keeps_a_subscribers_sight() -> None:
    # Creating a webhook is a write; receiving events is reading, which viewers may do.
    assert may_carry(OwnerView(3, True, Role.VIEWER, frozenset({10})), None, 10)


def test_a_webhook_for_all_districts_receives_only_while_its_owner_sees_one() -> None:
    contact = actor_for_account(1, Role.TECHNICAL_CONTACT, frozenset({10}))
    lost_all = actor_for_account(1, Role.TECHNICAL_CONTACT, frozenset())
    staff = actor_for_account(2, Role.HOSTING_STAFF, frozenset())
    assert receiving(contact, True, None) and receiving(staff, True, None)
    assert not receiving(lost_all, True, None)
    assert not receiving(contact, False, None)
    assert receiving(contact, True, 10) and not receiving(lost_all, True, 10)
