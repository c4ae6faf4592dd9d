"""The Manage Updates page: the reference web front end on the GraphQL API, served at `/`.

Plain ES modules in `static/` (no build step), lit-html and the graphql-ws client vendored in
`static/vendor/` by `scripts/vendor-web.sh`. `web_routes()` serves them; `enable_demo_sign_in()`
is called by `updatedesk dev` only.
"""

from updatedesk.web.routes import STATIC_DIR, enable_demo_sign_in, web_routes

__all__ = ["STATIC_DIR", "enable_demo_sign_in", "web_routes"]
