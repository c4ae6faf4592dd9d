"""Token re-checks on delivery (`resolvers.live.dispatch.check_access`): a group none of whose
members' connections is due is not walked; one that is due is re-checked, and then waits for the
earliest of its members' next due times."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from resolvers.live import dispatch
from resolvers.live.groups import RenderGroup

INTERVAL = 30.0


class _Access:
    def __init__(self, checked_at: float) -> None:
        self.checked_at = checked_at
        self.interval = INTERVAL


class _Member:
    """What check_access reads of a member (hashable, as the group's keys are)."""

    def __init__(self, checked_at: float) -> None:
        self.gone = False
        self.connection = type("Connection", (), {})()
        self.connection.access = _Access(checked_at)


def _group(*members: _Member) -> RenderGroup:
    group = RenderGroup(cast(Any, None), cast(Any, None), cast(Any, None), cast(Any, None))
    group.due_at = float("inf")
    for member in members:
        group.members[cast(Any, member)] = None
        group.note_due(cast(Any, member.connection.access))
    return group


@pytest.fixture
def looked_at(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """The accesses each re-check was asked about; each is then re-checked now."""
    calls: list[list[Any]] = []

    async def refresh_all(checks: Any, *, force: bool = False) -> bool:
        accesses = list(checks)
        calls.append(accesses)
        for access in accesses:
            access.checked_at = time.monotonic()
        return False  # nothing changed: no member is moved or closed

    monkeypatch.setattr(dispatch, "refresh_all", refresh_all)
    return calls


async def test_a_group_whose_members_are_not_due_is_not_walked(looked_at: list[list[Any]]) -> None:
    now = time.monotonic()
    group = _group(_Member(now), _Member(now - 10))
    assert group.due_at == pytest.approx(now - 10 + INTERVAL)
    await dispatch.check_access(cast(Any, None), [group])
    assert looked_at == []


async def test_a_group_with_one_member_due_is_re_checked_then_waits_for_the_next(
    looked_at: list[list[Any]],
) -> None:
    now = time.monotonic()
    fresh, due = _Member(now), _Member(now - INTERVAL - 1)
    group = _group(fresh, due)
    await dispatch.check_access(cast(Any, None), [group])
    assert looked_at == [[fresh.connection.access, due.connection.access]]
    # Both were re-checked now (the fake's answer): the group is due one interval later.
    assert group.due_at >= now + INTERVAL
    await dispatch.check_access(cast(Any, None), [group])
    assert len(looked_at) == 1


async def test_a_member_joining_with_an_older_check_makes_its_group_due_then(
    looked_at: list[list[Any]],
) -> None:
    now = time.monotonic()
    group = _group(_Member(now))
    late = _Member(now - INTERVAL - 5)
    group.members[cast(Any, late)] = None
    group.note_due(cast(Any, late.connection.access))
    await dispatch.check_access(cast(Any, None), [group])
    assert len(looked_at) == 1


async def test_force_re_checks_every_group(looked_at: list[list[Any]]) -> None:
    group = _group(_Member(time.monotonic()))
    await dispatch.check_access(cast(Any, None), [group], force=True)
    assert len(looked_at) == 1
