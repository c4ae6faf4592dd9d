"""Factories for test data: each makes a valid row with sensible defaults, overridable by keyword."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from models.access import Actor, actor_for_account
from models.enums import EnvironmentKind, GroupKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.tables import Account, District, Environment, Release, UpdateGroup, UpdateRequest
from models.tokens import issue_token

_counter = itertools.count(1)

DEFAULT_VERSION = "Campus.2435.2"
CATALOG = (
    "Campus.2435.2",
    "Campus.2435.3",
    "Campus.2435.4",
    "Campus.2435.9",
    "Campus.2435.10",
    "Campus.2439.1",
)


def unique(prefix: str) -> str:
    return f"{prefix} {next(_counter)}"


async def make_group(name: str | None = None, kind: GroupKind = GroupKind.STATE) -> UpdateGroup:
    return await UpdateGroup.create(name=name or unique("Group"), kind=kind)


async def make_district(
    name: str | None = None,
    *,
    hosting_model: HostingModel = HostingModel.CAMPUS_CLOUD,
    group: UpdateGroup | None = None,
    environments: Iterable[EnvironmentKind] = tuple(EnvironmentKind),
    version: str = DEFAULT_VERSION,
) -> District:
    district = await District.create(
        name=name or unique("District"), hosting_model=hosting_model, update_group=group
    )
    for kind in environments:
        await Environment.create(
            district=district,
            kind=kind,
            current_version=version,
            url=f"https://d{district.id}-{kind.value.lower()}.example/campus",
        )
    return district


async def make_catalog(versions: Iterable[str] = CATALOG) -> list[Release]:
    released = datetime(2026, 10, 1, tzinfo=UTC)
    return [
        (await Release.get_or_create(version=v, defaults={"released_at": released + timedelta(days=i)}))[0]
        for i, v in enumerate(versions)
    ]


async def make_account(
    role: Role = Role.TECHNICAL_CONTACT,
    districts: Iterable[District] = (),
    *,
    email: str | None = None,
    name: str = "Pat Lee",
) -> Account:
    account = await Account.create(email=email or f"user{next(_counter)}@example.org", name=name, role=role)
    linked = list(districts)
    if linked:
        await account.districts.add(*linked)
    return account


async def actor_of(account: Account) -> Actor:
    ids = frozenset([d.id for d in await account.districts.all()])
    return actor_for_account(account.id, account.role, ids)


async def make_token(account: Account, expires_in: timedelta | None = timedelta(days=30)) -> str:
    return await issue_token(account, expires_in)


async def make_request(
    district: District,
    *,
    kind: UpdateKind = UpdateKind.VERSION_UPDATE,
    environment: EnvironmentKind = EnvironmentKind.PRODUCTION,
    status: UpdateStatus = UpdateStatus.TO_BE_SCHEDULED,
    target_version: str | None = "Campus.2435.4",
    requested_by: Account | None = None,
    scheduled_start: datetime | None = None,
    created_at: datetime | None = None,
) -> UpdateRequest:
    """A request row written directly (no rules): for tests of reading, not of requesting."""
    env = await Environment.get(district_id=district.id, kind=environment)
    return await UpdateRequest.create(
        kind=kind,
        status=status,
        district=district,
        environment=env,
        target_version=target_version if kind is UpdateKind.VERSION_UPDATE else None,
        requested_by=requested_by,
        scheduled_start=scheduled_start,
        created_at=created_at or datetime.now(UTC),
    )
