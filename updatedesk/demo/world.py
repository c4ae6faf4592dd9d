"""The demo world: groups, releases, districts with their sites, and one account per role, in the
format of `updatedesk import`. Its requests are made by `updatedesk.demo.history`."""

from __future__ import annotations

from typing import Any

CLOUD = "CAMPUS_CLOUD"
ASP = "ASP_HOSTED"
CURRENT = "Campus.2435.2"
#: What the sites updated in the demo's history ran before: they move to CURRENT in it.
PREVIOUS = "Campus.2431.6"

LAKESIDE = "Lakeside Public Schools"
CAPITAL = "Capital City Schools"
PRAIRIE = "Prairie ASP District"
NORTH_RIVER = "North River Schools"
SOUTH_RIVER = "South River Schools"
STATE_GROUP = "State of Example"
CONSORTIUM = "River Valley Consortium"
STAFF_EMAIL = "hosting@provider.example"
TC_EMAIL = "tc@lakeside.example"
STATE_EMAIL = "state@example.gov"
PARTNER_EMAIL = "partner@partner.example"
ESA_EMAIL = "esa@esa.example"


def _environments(
    kinds: tuple[str, ...], version: str, slug: str, older: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Sites of one district; those in `older` still run PREVIOUS (the history updates them)."""
    return [
        {
            "kind": kind,
            "currentVersion": PREVIOUS if kind in older else version,
            "url": f"https://{slug}-{kind.lower()}.example/campus",
        }
        for kind in kinds
    ]


ALL_KINDS = ("PRODUCTION", "SANDBOX", "STAGING", "PREVIEW")
#: Production and its sandbox: updated together (the sandbox follows production).
LIVE_PAIR = ("PRODUCTION", "SANDBOX")

DEMO_DOCUMENT: dict[str, Any] = {
    "updateGroups": [
        {"name": STATE_GROUP, "kind": "STATE"},
        {"name": CONSORTIUM, "kind": "CONSORTIUM"},
    ],
    "releases": [
        {"version": PREVIOUS, "releasedAt": "2026-06-18T00:00:00Z"},
        {"version": CURRENT, "releasedAt": "2026-09-03T00:00:00Z"},
        {"version": "Campus.2435.3", "releasedAt": "2026-09-17T00:00:00Z"},
        {"version": "Campus.2435.4", "releasedAt": "2026-10-01T00:00:00Z"},
        {"version": "Campus.2435.9", "releasedAt": "2026-10-22T00:00:00Z"},
        {"version": "Campus.2435.10", "releasedAt": "2026-11-05T00:00:00Z"},
        {"version": "Campus.2439.1", "releasedAt": "2026-11-19T00:00:00Z"},
    ],
    "districts": [
        {
            "name": LAKESIDE,
            "hostingModel": CLOUD,
            "updateGroup": None,
            "environments": _environments(ALL_KINDS, CURRENT, "lakeside", older=LIVE_PAIR),
        },
        {
            "name": CAPITAL,
            "hostingModel": CLOUD,
            "updateGroup": STATE_GROUP,
            "environments": _environments(ALL_KINDS, CURRENT, "capital"),
        },
        {
            "name": PRAIRIE,
            "hostingModel": ASP,
            "updateGroup": None,
            "environments": _environments(LIVE_PAIR, CURRENT, "prairie"),
        },
        {
            "name": NORTH_RIVER,
            "hostingModel": CLOUD,
            "updateGroup": CONSORTIUM,
            "environments": _environments(ALL_KINDS, CURRENT, "northriver", older=LIVE_PAIR),
        },
        {
            "name": SOUTH_RIVER,
            "hostingModel": CLOUD,
            "updateGroup": CONSORTIUM,
            "environments": _environments(ALL_KINDS, CURRENT, "southriver", older=LIVE_PAIR),
        },
    ],
    "accounts": [
        {"email": TC_EMAIL, "name": "Pat Lee", "role": "TECHNICAL_CONTACT", "districts": [LAKESIDE]},
        {"email": STATE_EMAIL, "name": "Sam Rivera", "role": "STATE_CONTACT", "districts": [CAPITAL]},
        {
            "email": "consortium@rivervalley.example",
            "name": "Kim Olsen",
            "role": "CONSORTIUM_CONTACT",
            "districts": [NORTH_RIVER, SOUTH_RIVER],
        },
        {"email": PARTNER_EMAIL, "name": "Alex Chen", "role": "PARTNER", "districts": [LAKESIDE, PRAIRIE]},
        {"email": ESA_EMAIL, "name": "Jordan Diaz", "role": "ESA", "districts": [PRAIRIE, NORTH_RIVER]},
        {"email": "viewer@lakeside.example", "name": "Robin Park", "role": "VIEWER", "districts": [LAKESIDE]},
        {"email": STAFF_EMAIL, "name": "Campus Hosting", "role": "HOSTING_STAFF", "districts": []},
    ],
}
