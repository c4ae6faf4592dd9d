"""GraphiQL served fully offline: vendored assets, HTML page and routes.

``graphiql_html()`` renders the page; ``graphiql_routes()`` mounts the assets.
"""

from updatedesk.graphiql.page import graphiql_html
from updatedesk.graphiql.routes import STATIC_DIR, graphiql_routes

__all__ = ["STATIC_DIR", "graphiql_html", "graphiql_routes"]
