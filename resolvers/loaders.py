"""DataLoaders, created fresh for every request (and every subscription event) so that nothing is
cached across callers. Each loader answers a whole list in one statement: no N+1.

Loaders return rows by key without judging visibility, except `request`, which loads only what
the actor may see. Resolvers decide visibility for the other rows (see resolvers.access).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from models.access import Actor
from models.enums import EnvironmentKind
from models.requests.queries import readable_requests, scheduled_updates
from models.tables import Account, District, Environment, StatusChange, UpdateGroup, UpdateRequest
from resolvers.rollout_loaders import RolloutLoaders

RowT = TypeVar("RowT", bound=Model)

#: How environments of a district are listed: the live site first.
ENVIRONMENT_ORDER = {kind: index for index, kind in enumerate(EnvironmentKind)}


async def _by_id(model: type[RowT], keys: Sequence[int], query: Any = None) -> list[RowT | None]:
    rows = await (query if query is not None else model.filter()).filter(id__in=list(set(keys)))
    found = {row.pk: row for row in rows}
    return [found.get(key) for key in keys]


def _grouped(rows: Sequence[Any], attribute: str, keys: Sequence[int]) -> list[list[Any]]:
    groups: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, attribute)].append(row)
    return [groups.get(key, []) for key in keys]


async def histories(keys: Sequence[int]) -> list[list[StatusChange]]:
    rows = await StatusChange.filter(update_request_id__in=list(set(keys))).order_by("at", "id")
    return _grouped(rows, "update_request_id", keys)


class Loaders:
    """One set of DataLoaders for one request on behalf of one actor."""

    def __init__(self, actor: Actor | None) -> None:
        self.actor = actor
        #: Histories the list read for its whole page (request id -> moves); None: none read.
        self.page_history: dict[int, list[StatusChange]] | None = None

    # Each loader is made on first use: a subscription renews its loaders for every event and a
    # socket holds one set, so unused loaders would cost memory on every open connection.
    @cached_property
    def district(self) -> DataLoader[int, District | None]:
        return DataLoader(self._districts)

    @cached_property
    def group(self) -> DataLoader[int, UpdateGroup | None]:
        return DataLoader(self._groups)

    @cached_property
    def environment(self) -> DataLoader[int, Environment | None]:
        return DataLoader(self._environments)

    @cached_property
    def account(self) -> DataLoader[int, Account | None]:
        return DataLoader(self._accounts)

    @cached_property
    def request(self) -> DataLoader[int, UpdateRequest | None]:
        return DataLoader(self._requests)

    @cached_property
    def history(self) -> DataLoader[int, list[StatusChange]]:
        return DataLoader(self._history)

    @cached_property
    def environments_of_district(self) -> DataLoader[int, list[Environment]]:
        return DataLoader(self._environments_of_districts)

    @cached_property
    def districts_of_group(self) -> DataLoader[int, list[District]]:
        return DataLoader(self._districts_of_groups)

    @cached_property
    def district_ids_of_account(self) -> DataLoader[int, list[int]]:
        return DataLoader(self._district_ids_of_accounts)

    @cached_property
    def scheduled_of_environment(self) -> DataLoader[int, list[UpdateRequest]]:
        return DataLoader(self._scheduled_of_environments)

    @cached_property
    def rollouts(self) -> RolloutLoaders:
        """Group rollouts: their rows, counts, skips and requests (resolvers.rollout_loaders)."""
        return RolloutLoaders(self.actor)

    async def _districts(self, keys: list[int]) -> list[District | None]:
        return await _by_id(District, keys)

    async def _groups(self, keys: list[int]) -> list[UpdateGroup | None]:
        return await _by_id(UpdateGroup, keys)

    async def _environments(self, keys: list[int]) -> list[Environment | None]:
        return await _by_id(Environment, keys)

    async def _accounts(self, keys: list[int]) -> list[Account | None]:
        return await _by_id(Account, keys)

    async def _requests(self, keys: list[int]) -> list[UpdateRequest | None]:
        if self.actor is None:
            return [None for _ in keys]
        return await _by_id(UpdateRequest, keys, readable_requests(self.actor))

    async def _history(self, keys: list[int]) -> list[list[StatusChange]]:
        return await histories(keys)

    async def read_page_history(self, request_ids: list[int]) -> None:
        """Read the history of every request of a page in one statement, for `history` fields to
        answer without a loader."""
        found = dict(zip(request_ids, await histories(request_ids), strict=True))
        self.page_history = found if self.page_history is None else {**self.page_history, **found}

    async def _environments_of_districts(self, keys: list[int]) -> list[list[Environment]]:
        rows = await Environment.filter(district_id__in=list(set(keys)))
        rows = sorted(rows, key=lambda env: ENVIRONMENT_ORDER[env.kind])
        return _grouped(rows, "district_id", keys)

    async def _districts_of_groups(self, keys: list[int]) -> list[list[District]]:
        rows = await District.filter(update_group_id__in=list(set(keys))).order_by("name")
        return _grouped(rows, "update_group_id", keys)

    async def _district_ids_of_accounts(self, keys: list[int]) -> list[list[int]]:
        rows = await District.filter(accounts__id__in=list(set(keys))).values_list("id", "accounts__id")
        groups: dict[int, list[int]] = defaultdict(list)
        for district_id, account_id in rows:
            groups[account_id].append(district_id)
        return [sorted(groups.get(key, [])) for key in keys]

    async def _scheduled_of_environments(self, keys: list[int]) -> list[list[UpdateRequest]]:
        if self.actor is None:
            return [[] for _ in keys]
        rows = await scheduled_updates(self.actor, list(set(keys)))
        return _grouped(rows, "environment_id", keys)
