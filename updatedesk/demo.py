"""Demo data for `updatedesk dev`: a small world that shows every rule of the domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from models.tables import Account, District
from models.tokens import issue_token
from updatedesk.importer import import_document

#: Demo tokens live as long as a demo is likely to; real tokens come from `updatedesk tokens issue`.
DEMO_TOKEN_LIFETIME = timedelta(days=30)

CLOUD = "CAMPUS_CLOUD"
ASP = "ASP_HOSTED"
CURRENT = "Campus.2435.2"


def _environments(kinds: tuple[str, ...], version: str, slug: str) -> list[dict[str, Any]]:
    return [
        {"kind": kind, "currentVersion": version, "url": f"https://{slug}-{kind.lower()}.example/campus"}
        for kind in kinds
    ]


ALL_KINDS = ("PRODUCTION", "SANDBOX", "STAGING", "PREVIEW")

DEMO_DOCUMENT: dict[str, Any] = {
    "updateGroups": [
        {"name": "State of Example", "kind": "STATE"},
        {"name": "River Valley Consortium", "kind": "CONSORTIUM"},
    ],
    "releases": [
        {"version": "Campus.2435.2", "releasedAt": "2026-09-03T00:00:00Z"},
        {"version": "Campus.2435.3", "releasedAt": "2026-09-17T00:00:00Z"},
        {"version": "Campus.2435.4", "releasedAt": "2026-10-01T00:00:00Z"},
        {"version": "Campus.2435.9", "releasedAt": "2026-10-22T00:00:00Z"},
        {"version": "Campus.2435.10", "releasedAt": "2026-11-05T00:00:00Z"},
        {"version": "Campus.2439.1", "releasedAt": "2026-11-19T00:00:00Z"},
    ],
    "districts": [
        {
            "name": "Lakeside Public Schools",
            "hostingModel": CLOUD,
            "updateGroup": None,
            "environments": _environments(ALL_KINDS, CURRENT, "lakeside"),
        },
        {
            "name": "Capital City Schools",
            "hostingModel": CLOUD,
            "updateGroup": "State of Example",
            "environments": _environments(ALL_KINDS, CURRENT, "capital"),
        },
        {
            "name": "Prairie ASP District",
            "hostingModel": ASP,
            "updateGroup": None,
            "environments": _environments(("PRODUCTION", "SANDBOX"), CURRENT, "prairie"),
        },
        {
            "name": "North River Schools",
            "hostingModel": CLOUD,
            "updateGroup": "River Valley Consortium",
            "environments": _environments(ALL_KINDS, CURRENT, "northriver"),
        },
        {
            "name": "South River Schools",
            "hostingModel": CLOUD,
            "updateGroup": "River Valley Consortium",
            "environments": _environments(ALL_KINDS, CURRENT, "southriver"),
        },
    ],
    "accounts": [
        {
            "email": "tc@lakeside.example",
            "name": "Pat Lee",
            "role": "TECHNICAL_CONTACT",
            "districts": ["Lakeside Public Schools"],
        },
        {
            "email": "state@example.gov",
            "name": "Sam Rivera",
            "role": "STATE_CONTACT",
            "districts": ["Capital City Schools"],
        },
        {
            "email": "consortium@rivervalley.example",
            "name": "Kim Olsen",
            "role": "CONSORTIUM_CONTACT",
            "districts": ["North River Schools", "South River Schools"],
        },
        {
            "email": "partner@partner.example",
            "name": "Alex Chen",
            "role": "PARTNER",
            "districts": ["Lakeside Public Schools", "Prairie ASP District"],
        },
        {
            "email": "esa@esa.example",
            "name": "Jordan Diaz",
            "role": "ESA",
            "districts": ["Prairie ASP District", "North River Schools"],
        },
        {
            "email": "viewer@lakeside.example",
            "name": "Robin Park",
            "role": "VIEWER",
            "districts": ["Lakeside Public Schools"],
        },
        {
            "email": "hosting@provider.example",
            "name": "Campus Hosting",
            "role": "HOSTING_STAFF",
            "districts": [],
        },
    ],
}


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    token: str


async def load_demo_if_empty() -> bool:
    """Load the demo world into an empty database; leave a database with districts alone."""
    if await District.exists():
        return False
    await import_document(DEMO_DOCUMENT)
    return True


async def issue_demo_tokens() -> list[DemoLogin]:
    """A fresh token per demo account (tokens are stored hashed, so old ones cannot be shown)."""
    emails = [entry["email"] for entry in DEMO_DOCUMENT["accounts"]]
    logins = []
    for account in await Account.filter(email__in=emails).order_by("id"):
        logins.append(
            DemoLogin(account.email, account.role.value, await issue_token(account, DEMO_TOKEN_LIFETIME))
        )
    return logins
