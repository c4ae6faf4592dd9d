"""`updatedesk dev`: the embedded default in one process, ready to try.

SQLite file, in-memory queue whose jobs run as tasks on the server's own event loop, in-process
event bus, scheduler loop, and demo data on an empty database.
"""

from __future__ import annotations

import asyncio

import uvicorn

from infra.db import apply_migrations, close_orm, init_orm
from infra.logs import configure_logging, redact_text
from infra.settings import Settings
from updatedesk.app import create_process_app
from updatedesk.demo import DemoLogin, issue_demo_tokens, load_demo_if_empty
from updatedesk.live import server_options
from updatedesk.web import enable_demo_sign_in

DEV_HOST = "127.0.0.1"
DEV_PORT = 8000


async def prepare(settings: Settings) -> tuple[bool, list[DemoLogin]]:
    """Migrate, load the demo world into an empty database, and issue a token per demo account."""
    try:
        await apply_migrations(settings)
    finally:
        await close_orm()
    await init_orm(settings)
    try:
        loaded = await load_demo_if_empty()
        return loaded, await issue_demo_tokens()
    finally:
        await close_orm()


def banner(host: str, port: int, loaded: bool, logins: list[DemoLogin], database_url: str) -> str:
    address = f"http://{host}:{port}/graphql"
    lines = [
        "",
        "Updatedesk (embedded default)",
        # The URL may carry a password (DATABASE_URL set by hand): never print it.
        f"  database : {redact_text(database_url)}" + ("  (demo data loaded)" if loaded else ""),
        f"  web page : http://{host}:{port}/  (Manage Updates; demo accounts sign in with one click)",
        f"  GraphiQL : {address}",
        '  Paste a token into GraphiQL\'s Headers tab as {"Authorization": "Bearer <token>"}.',
        "",
        "  Demo tokens (new ones each start; valid 30 days):",
    ]
    width = max((len(login.email) for login in logins), default=0)
    lines += [f"    {login.role:<19} {login.email:<{width}}  {login.token}" for login in logins]
    lines.append("")
    return "\n".join(lines)


def run_dev(settings: Settings, host: str = DEV_HOST, port: int = DEV_PORT) -> None:
    # One process, no external services: whatever REDIS_URL says, dev runs the embedded queue and bus.
    settings = settings.model_copy(update={"redis_url": None})
    configure_logging(json=False)
    loaded, logins = asyncio.run(prepare(settings))
    print(banner(host, port, loaded, logins, settings.database_url), flush=True)
    app = create_process_app(settings)
    enable_demo_sign_in(app, logins)  # dev only: `serve` never offers tokens to the page
    uvicorn.run(app, host=host, port=port, log_config=None, **server_options(settings))
