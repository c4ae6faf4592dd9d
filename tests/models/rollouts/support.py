"""A state group for rollout tests: districts with and without the rolled-out environment, staff
and contacts, and the run spans a rollout's history shows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from models.access import Actor
from models.enums import EnvironmentKind, GroupKind, HostingModel, Role, UpdateStatus
from models.tables import Account, District, StatusChange, UpdateGroup, UpdateRequest
from tests.factories import actor_of, make_account, make_catalog, make_district, make_group

S = UpdateStatus
E = EnvironmentKind
RUNNING = (S.NOT_STARTED, S.IN_PROGRESS)
TARGET = "Campus.2435.4"
WITHOUT_STAGING = (E.PRODUCTION, E.SANDBOX)


@dataclass
class State:
    group: UpdateGroup
    districts: list[District]  # those that have staging, by name
    lacking: District  # ASP-hosted without staging
    staff: Actor
    staff_account: Account
    contact: Actor  # the state contact, linked to every district of the group
    technical: Actor  # a technical contact of the first district
    outsider: Actor  # a state contact of another group
    extra: dict[str, District] = field(default_factory=dict)


async def make_state(
    asp: int = 5, campus_cloud: int = 1, kind: GroupKind = GroupKind.STATE, name: str = "North State"
) -> State:
    """`asp` ASP-hosted and `campus_cloud` Campus Cloud districts with staging, and one ASP-hosted
    district without it; names sort in that order."""
    await make_catalog()
    group = await make_group(name, kind)
    districts = [
        await make_district(f"{name} ASP {i}", hosting_model=HostingModel.ASP_HOSTED, group=group)
        for i in range(asp)
    ]
    districts += [
        await make_district(f"{name} Cloud {i}", hosting_model=HostingModel.CAMPUS_CLOUD, group=group)
        for i in range(campus_cloud)
    ]
    lacking = await make_district(
        f"{name} Small", hosting_model=HostingModel.ASP_HOSTED, group=group, environments=WITHOUT_STAGING
    )
    staff = await make_account(Role.HOSTING_STAFF)
    contact_role = Role.STATE_CONTACT if kind is GroupKind.STATE else Role.CONSORTIUM_CONTACT
    contact = await make_account(contact_role, [*districts, lacking])
    technical = await make_account(Role.TECHNICAL_CONTACT, [districts[0]])
    elsewhere = await make_district(f"{name} elsewhere", group=await make_group(f"{name} other"))
    outsider = await make_account(Role.STATE_CONTACT, [elsewhere])
    return State(
        group=group,
        districts=districts,
        lacking=lacking,
        staff=await actor_of(staff),
        staff_account=staff,
        contact=await actor_of(contact),
        technical=await actor_of(technical),
        outsider=await actor_of(outsider),
    )


async def requests_of(rollout_id: int) -> list[UpdateRequest]:
    return list(await UpdateRequest.filter(rollout_id=rollout_id).order_by("id"))


async def statuses(rollout_id: int) -> list[UpdateStatus]:
    return [request.status for request in await requests_of(rollout_id)]


async def run_spans(request_ids: Iterable[int]) -> list[tuple[datetime, datetime | None]]:
    """(went NOT_STARTED, stopped running) of every run of these requests, from their history; the
    end is None while one still runs."""
    spans: list[tuple[datetime, datetime | None]] = []
    for request_id in request_ids:
        opened: datetime | None = None
        for row in await StatusChange.filter(update_request_id=request_id).order_by("id"):
            if row.to_status is S.NOT_STARTED and opened is None:
                opened = row.at
            elif opened is not None and row.to_status not in RUNNING:
                spans.append((opened, row.at))
                opened = None
        if opened is not None:
            spans.append((opened, None))
    return spans


def most_at_once(spans: list[tuple[datetime, datetime | None]]) -> int:
    """The largest number of spans open at one instant (a span ending at T is closed before one
    starting at T opens: a wave slot is free again the moment its run ends)."""
    edges = []
    for start, end in spans:
        edges.append((start, 1))
        if end is not None:
            edges.append((end, -1))
    edges.sort(key=lambda edge: (edge[0], edge[1]))
    highest = current = 0
    for _, step in edges:
        current += step
        highest = max(highest, current)
    return highest
