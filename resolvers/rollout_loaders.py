"""DataLoaders of group rollouts, one set per request (reached as `context.loaders.rollouts`): each
answers a whole page of rollouts in one statement. `rollout` loads only what the actor may see;
the lists of one rollout (its requests, its skips) keep only the actor's districts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader

from models.access import Actor
from models.requests.queries import NEVER_LISTED, visible_requests
from models.rollouts.counts import RolloutCounts, counts_of
from models.rollouts.visibility import visible_rollouts
from models.tables import GroupRollout, RolloutSkip, UpdateRequest


def _grouped(rows: Sequence[Any], keys: Sequence[int]) -> list[list[Any]]:
    groups: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        groups[row.rollout_id].append(row)
    return [groups.get(key, []) for key in keys]


class RolloutLoaders:
    def __init__(self, actor: Actor | None) -> None:
        self.actor = actor

    @cached_property
    def rollout(self) -> DataLoader[int, GroupRollout | None]:
        return DataLoader(self._rollouts)

    @cached_property
    def counts(self) -> DataLoader[int, RolloutCounts]:
        return DataLoader(self._counts)

    @cached_property
    def skips(self) -> DataLoader[int, list[RolloutSkip]]:
        return DataLoader(self._skips)

    @cached_property
    def requests(self) -> DataLoader[int, list[UpdateRequest]]:
        return DataLoader(self._requests)

    async def _rollouts(self, keys: list[int]) -> list[GroupRollout | None]:
        if self.actor is None:
            return [None for _ in keys]
        rows = await visible_rollouts(self.actor).filter(id__in=sorted(set(keys)))
        found = {row.id: row for row in rows}
        return [found.get(key) for key in keys]

    async def _counts(self, keys: list[int]) -> list[RolloutCounts]:
        found = await counts_of(keys)
        return [found[key] for key in keys]

    async def _skips(self, keys: list[int]) -> list[list[RolloutSkip]]:
        query = RolloutSkip.filter(rollout_id__in=sorted(set(keys)))
        if self.actor is None:
            return [[] for _ in keys]
        if self.actor.district_ids is not None:
            query = query.filter(district_id__in=sorted(self.actor.district_ids))
        return _grouped(await query.order_by("id"), keys)

    async def _requests(self, keys: list[int]) -> list[list[UpdateRequest]]:
        if self.actor is None:
            return [[] for _ in keys]
        rows = (
            await visible_requests(self.actor)
            .filter(rollout_id__in=sorted(set(keys)))
            .exclude(status__in=list(NEVER_LISTED))
            .order_by("id")
        )
        return _grouped(rows, keys)
