"""Starlette routes serving the vendored GraphiQL assets."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "graphiql_routes"]

#: Directory holding graphiql.min.js/.css and the React UMD builds.
STATIC_DIR = Path(__file__).resolve().parent / "static"


def graphiql_routes(static_prefix: str = "/graphiql-static") -> list[BaseRoute]:
    """Return the route mounting the GraphiQL static files at ``static_prefix``.

    Use the same ``static_prefix`` for :func:`updatedesk.graphiql.graphiql_html`.
    """
    return [
        Mount(
            static_prefix.rstrip("/"),
            app=StaticFiles(directory=STATIC_DIR),
            name="graphiql-static",
        )
    ]
