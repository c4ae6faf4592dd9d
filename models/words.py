"""How a request is named to people: by kind, environment and version, never by a database number
("the update of the production site to Campus.2439.1")."""

from __future__ import annotations

from models.enums import EnvironmentKind, UpdateKind


def request_phrase(kind: UpdateKind, environment: EnvironmentKind, target_version: str | None) -> str:
    site = f"the {environment.value.lower()} site"
    if kind is UpdateKind.VERSION_UPDATE:
        return f"the update of {site} to {target_version}"
    return f"the refresh of {site} with production data"
