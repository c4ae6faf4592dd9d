"""How far rollouts are: their requests per status, read in ONE statement for any number of
rollouts (a page of `groupRollouts` costs one counting query, not one per rollout).

Rows are grouped by rollout, district and status, so the same statement serves the rolled-up
status (which reads every request of a rollout) and the counts a caller is shown (only the
districts it sees). Deleted requests count: only completed ones can be deleted, and hiding one
from a district's list does not undo its part in the rollout."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from tortoise.functions import Count

from models.enums import UpdateStatus
from models.tables import UpdateRequest


@dataclass
class RolloutCounts:
    """One rollout's requests per district and status."""

    by_district: dict[int, Counter[UpdateStatus]] = field(default_factory=dict)

    def total(self, may_see: Callable[[int], bool] | None = None) -> Counter[UpdateStatus]:
        """Per status, over every district (`may_see` None) or those `may_see` accepts."""
        summed: Counter[UpdateStatus] = Counter()
        for district_id, counts in self.by_district.items():
            if may_see is None or may_see(district_id):
                summed.update(counts)
        return summed


def in_lifecycle_order(counts: Counter[UpdateStatus]) -> list[tuple[UpdateStatus, int]]:
    """The statuses that have requests, in the order of the lifecycle (the enum's order)."""
    return [(status, counts[status]) for status in UpdateStatus if counts.get(status, 0) > 0]


async def counts_of(rollout_ids: Collection[int]) -> dict[int, RolloutCounts]:
    """Every listed rollout's counts, in one statement (rollouts without requests: empty)."""
    ids = sorted(set(rollout_ids))
    found: dict[int, RolloutCounts] = {pk: RolloutCounts() for pk in ids}
    if not ids:
        return found
    rows = (
        await UpdateRequest.filter(rollout_id__in=ids)
        .annotate(n=Count("id"))
        .group_by("rollout_id", "district_id", "status")
        .values_list("rollout_id", "district_id", "status", "n")
    )
    for rollout_id, district_id, status, n in rows:
        per_district = found[rollout_id].by_district.setdefault(district_id, Counter())
        per_district[UpdateStatus(status)] += n
    return found


async def status_counts(rollout_id: int, statuses: Collection[UpdateStatus]) -> Counter[UpdateStatus]:
    """One rollout's requests in `statuses`, per status, failures staff accepted left out (the wave
    and budget checks). Only a failed request carries the mark, so no other status loses any."""
    rows = (
        await UpdateRequest.filter(rollout_id=rollout_id, status__in=list(statuses), failure_accepted=False)
        .annotate(n=Count("id"))
        .group_by("status")
        .values_list("status", "n")
    )
    return Counter({UpdateStatus(status): n for status, n in rows})
