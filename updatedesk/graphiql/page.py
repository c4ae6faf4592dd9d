"""HTML page for a GraphiQL IDE that loads every asset from our own server.

Partners behind strict networks cannot reach a CDN, so unlike the page that
Strawberry renders by default, this one only references the files vendored in
``updatedesk/graphiql/static`` (see ``static/VERSIONS.txt``), mounted at
``static_prefix`` by :func:`updatedesk.graphiql.routes.graphiql_routes`.
"""

from __future__ import annotations

import html
import json

__all__ = [
    "DEFAULT_HEADERS",
    "DEFAULT_QUERY",
    "GRAPHIQL_SECURITY_HEADERS",
    "HEADERS_STORAGE_KEY",
    "graphiql_html",
]

#: Sent with the page. Scripts and styles only from our own server (the page's script and its
#: settings are files and data, nothing inline runs), requests only to our own endpoint, and no
#: framing by other sites (the page holds a token in localStorage). GraphiQL's fonts and icons are
#: data: URLs inside its stylesheet; CodeMirror and React set element styles from script, which
#: style-src does not govern.
GRAPHIQL_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

#: Pre-filled content of the headers editor, so a partner pastes a token once
#: (the page then keeps it in localStorage, under ``HEADERS_STORAGE_KEY``).
TOKEN_PLACEHOLDER = "<paste your token here>"
DEFAULT_HEADERS = '{\n  "Authorization": "Bearer ' + TOKEN_PLACEHOLDER + '"\n}'

#: localStorage key where the page keeps the headers editor content.
HEADERS_STORAGE_KEY = "updatedesk:graphiql:headers"

#: The document GraphiQL opens with: how to sign in, then a query that works for every account
#: once a token is in the Headers tab. Nothing runs by itself: without a token the page does not
#: even load the schema (graphiql-init.js), so it opens on this text, not on an error.
DEFAULT_QUERY = """\
# Updatedesk GraphQL API
#
# 1. In the Headers tab below, replace
#    <paste your token here> with your API token
#    (`updatedesk tokens issue EMAIL`; `updatedesk dev`
#    prints demo tokens). This browser keeps it, and
#    the schema loads for Docs and autocompletion
#    (the refresh button at the bottom left loads it
#    again).
# 2. Press Run (Ctrl-Enter): your districts, their
#    sites and your latest requests.
# 3. Subscriptions run too, for example:
#    subscription { updateRequestEvents {
#      type at updateRequest { id status } } }

query Overview {
  viewer { account { name email role } }
  districts {
    id name hostingModel
    environments {
      kind currentVersion versionUpdatedAt
      lastRefreshedAt online
    }
  }
  updateRequests(first: 10) {
    totalCount
    edges {
      node {
        id kind status targetVersion
        scheduledStart statusMessage
        district { name } environment { kind }
        progress { percent step message }
      }
    }
  }
}
"""

_TEMPLATE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Updatedesk GraphQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{prefix}/graphiql.min.css">
<link rel="stylesheet" href="{prefix}/graphiql-page.css">
</head>
<body>
<div id="graphiql"><div class="loading">Loading GraphiQL&hellip;</div></div>
<noscript>GraphiQL needs JavaScript.</noscript>
<script type="application/json" id="graphiql-config">{config}</script>
<script src="{prefix}/react.production.min.js"></script>
<script src="{prefix}/react-dom.production.min.js"></script>
<script src="{prefix}/graphiql.min.js"></script>
<script src="{prefix}/graphiql-init.js"></script>
</body>
</html>
"""


def _json_in_script(value: object) -> str:
    """JSON-encode ``value`` so it is safe inside a ``<script>`` element: no ``</script>``, no
    ``<!--`` (``json.dumps`` already escapes non-ASCII, U+2028/U+2029 included)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def graphiql_html(
    endpoint: str = "/graphql",
    static_prefix: str = "/graphiql-static",
    ws_client_module: str | None = None,
) -> str:
    """Return the GraphiQL page for ``endpoint``, with assets under ``static_prefix``.

    The page fetches nothing but ``static_prefix/*``, ``endpoint`` (HTTP and WebSocket) and,
    for the first subscription, ``ws_client_module`` (the graphql-ws client as an ES module; None:
    subscriptions are refused on the page). Its address may carry ``?query=``, ``?variables=``
    and ``?operationName=`` to open with that document.
    """
    prefix = html.escape(static_prefix.rstrip("/"), quote=True)
    config = {
        "endpoint": endpoint,
        "defaultQuery": DEFAULT_QUERY,
        "defaultHeaders": DEFAULT_HEADERS,
        "headersKey": HEADERS_STORAGE_KEY,
        "tokenPlaceholder": TOKEN_PLACEHOLDER,
        "wsClientModule": ws_client_module,
    }
    return _TEMPLATE.format(prefix=prefix, config=_json_in_script(config))
