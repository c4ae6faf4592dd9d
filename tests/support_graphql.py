"""Calling the real ASGI app over httpx, and a small seeded world for API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from infra.settings import Settings
from models.enums import EnvironmentKind, GroupKind, HostingModel, Role, UpdateKind, UpdateStatus
from models.tables import Account, District, UpdateGroup, UpdateRequest
from resolvers.ids import encode_global_id
from tests.factories import make_account, make_catalog, make_district, make_group, make_request, make_token
from updatedesk.app import create_app

GRAPHQL = "/graphql"


class GraphQLClient:
    """POSTs operations as JSON to /graphql with an optional bearer token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            GRAPHQL, json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> Any:
        """The `data` of a response that must have no errors."""
        body = await self.post(query, variables, token)
        assert "errors" not in body, body
        return body["data"]


@asynccontextmanager
async def api_client() -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=create_app(Settings(), manage_orm=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


def gid(row: Any) -> str:
    """The global id of a Tortoise row (type name = model name)."""
    return encode_global_id(type(row).__name__, row.pk)


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


@dataclass
class DistrictFixture:
    """A district with requests in the states the mutations need."""

    district: District
    group: UpdateGroup
    member: Account  # an account linked only to this district
    to_cancel: UpdateRequest
    to_delete: UpdateRequest
    to_schedule: UpdateRequest
    to_set_status: UpdateRequest


@dataclass
class World:
    """own / connected / foreign districts, one account per role linked to own and connected."""

    own: DistrictFixture
    connected: DistrictFixture
    foreign: DistrictFixture
    accounts: dict[Role, Account] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)

    def relation(self, name: str) -> DistrictFixture:
        return {"own": self.own, "connected": self.connected, "foreign": self.foreign}[name]


async def _district_fixture(label: str) -> DistrictFixture:
    # Group-managed: version updates go through rollOutGroupUpdate; refreshes stay per district.
    group = await make_group(f"{label} consortium", GroupKind.CONSORTIUM)
    district = await make_district(f"{label} district", hosting_model=HostingModel.CAMPUS_CLOUD, group=group)
    member = await make_account(Role.TECHNICAL_CONTACT, [district], email=f"member@{label}.example")

    def request(status: UpdateStatus, kind: UpdateKind, environment: EnvironmentKind) -> Any:
        return make_request(district, kind=kind, environment=environment, status=status, requested_by=member)

    refresh, version = UpdateKind.DATABASE_REFRESH, UpdateKind.VERSION_UPDATE
    # STAGING is left without an open request, so a new refresh of it is accepted.
    return DistrictFixture(
        district=district,
        group=group,
        member=member,
        to_cancel=await request(UpdateStatus.TO_BE_SCHEDULED, version, EnvironmentKind.PRODUCTION),
        to_delete=await request(UpdateStatus.COMPLETED, refresh, EnvironmentKind.STAGING),
        to_schedule=await request(UpdateStatus.DEFERRED, refresh, EnvironmentKind.SANDBOX),
        to_set_status=await request(UpdateStatus.SCHEDULED, version, EnvironmentKind.PREVIEW),
    )


async def seed_world() -> World:
    await make_catalog()
    world = World(
        own=await _district_fixture("own"),
        connected=await _district_fixture("connected"),
        foreign=await _district_fixture("foreign"),
    )
    for role in Role:
        linked = [] if role is Role.HOSTING_STAFF else [world.own.district, world.connected.district]
        account = await make_account(role, linked, email=f"{role.value.lower()}@example.org")
        world.accounts[role] = account
        world.tokens[role] = await make_token(account)
    return world
