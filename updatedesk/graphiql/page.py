"""HTML page for a GraphiQL IDE that loads every asset from our own server.

Partners behind strict networks cannot reach a CDN, so unlike the page that
Strawberry renders by default, this one only references the files vendored in
``updatedesk/graphiql/static`` (see ``static/VERSIONS.txt``), mounted at
``static_prefix`` by :func:`updatedesk.graphiql.routes.graphiql_routes`.
"""

from __future__ import annotations

import html
import json

__all__ = ["DEFAULT_HEADERS", "HEADERS_STORAGE_KEY", "graphiql_html"]

#: Pre-filled content of the headers editor, so a partner pastes a token once
#: (the page then keeps it in localStorage, under ``HEADERS_STORAGE_KEY``).
DEFAULT_HEADERS = '{\n  "Authorization": "Bearer <paste your token here>"\n}'

#: localStorage key where the page keeps the headers editor content.
HEADERS_STORAGE_KEY = "updatedesk:graphiql:headers"

_DEFAULT_QUERY = """\
# Updatedesk GraphQL API
#
# 1. In the Headers tab below, replace
#    <paste your token here> with your API token.
#    This browser remembers it.
# 2. Press the refresh button (bottom left) to
#    reload the schema for the Docs panel.
# 3. Write a query here and run it (Ctrl-Enter).
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
<style>
  html, body {{ height: 100%; margin: 0; overflow: hidden; }}
  #graphiql {{ height: 100vh; }}
  #graphiql > .loading {{ font-family: system-ui, sans-serif; padding: 2rem; }}
</style>
</head>
<body>
<div id="graphiql"><div class="loading">Loading GraphiQL&hellip;</div></div>
<noscript>GraphiQL needs JavaScript.</noscript>
<script src="{prefix}/react.production.min.js"></script>
<script src="{prefix}/react-dom.production.min.js"></script>
<script src="{prefix}/graphiql.min.js"></script>
<script>
(function () {{
  "use strict";
  var config = {config};

  // POST the operation as JSON to our endpoint, with the headers typed into
  // GraphiQL's headers editor (GraphiQL passes them parsed in opts.headers).
  async function fetcher(graphQLParams, opts) {{
    var headers = Object.assign(
      {{"Content-Type": "application/json", "Accept": "application/json"}},
      (opts && opts.headers) || {{}}
    );
    var response = await fetch(config.endpoint, {{
      method: "POST",
      headers: headers,
      body: JSON.stringify(graphQLParams),
      credentials: "same-origin"
    }});
    var text = await response.text();
    try {{
      return JSON.parse(text);
    }} catch (e) {{
      return {{errors: [{{message: "HTTP " + response.status + ": " + text}}]}};
    }}
  }}

  // GraphiQL 3 drops its own saved headers on every mount (upstream issue
  // graphql/graphiql#3369: they survive one reload, not two), so we also keep
  // the headers under our own localStorage key and hand them back as `headers`.
  function loadHeaders() {{
    try {{ return window.localStorage.getItem(config.headersKey); }} catch (e) {{ return null; }}
  }}
  function saveHeaders(value) {{
    try {{ window.localStorage.setItem(config.headersKey, value); }} catch (e) {{ /* private mode */ }}
  }}

  var props = {{
    fetcher: fetcher,
    defaultQuery: config.defaultQuery,
    defaultHeaders: config.defaultHeaders,
    onEditHeaders: saveHeaders,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    // "headers" opens the editor tools pane on the Headers tab.
    defaultEditorToolsVisibility: "headers"
  }};
  var savedHeaders = loadHeaders();
  if (savedHeaders !== null) {{
    props.headers = savedHeaders;
  }}

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
}})();
</script>
</body>
</html>
"""


def _js_literal(value: object) -> str:
    """JSON-encode ``value`` so it is safe inside an inline ``<script>``.

    ``json.dumps`` already escapes non-ASCII (including U+2028/U+2029).
    """
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def graphiql_html(endpoint: str = "/graphql", static_prefix: str = "/graphiql-static") -> str:
    """Return the GraphiQL page for ``endpoint``, with assets under ``static_prefix``.

    The page fetches nothing but ``static_prefix/*`` and ``endpoint``.
    """
    prefix = html.escape(static_prefix.rstrip("/"), quote=True)
    config = {
        "endpoint": endpoint,
        "defaultQuery": _DEFAULT_QUERY,
        "defaultHeaders": DEFAULT_HEADERS,
        "headersKey": HEADERS_STORAGE_KEY,
    }
    return _TEMPLATE.format(prefix=prefix, config=_js_literal(config))
