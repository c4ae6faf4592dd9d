"""`updatedesk dev`: the embedded default in one process, ready to try.

SQLite file, in-memory queue whose jobs run as tasks on the server's own event loop, in-process
event bus, scheduler loop, and demo data on an empty database. `--reset` starts over with a fresh
demo (it deletes the SQLite file: dev only, so no confirmation is asked).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

import uvicorn
from starlette.applications import Starlette

from infra.db import apply_migrations, close_orm, init_orm
from infra.logs import configure_logging, redact_text
from infra.settings import Settings
from models.clock import utcnow
from models.enums import NotificationState
from models.tables import District, Notification
from updatedesk.app import LifespanPart, create_process_app
from updatedesk.commands import CommandError
from updatedesk.demo import DemoLogin, issue_demo_tokens, load_demo_if_empty
from updatedesk.demo.examples import Example, examples
from updatedesk.demo.world import LAKESIDE, STAFF_EMAIL
from updatedesk.folder_lock import SQLITE_PREFIX, lock_embedded_database, sqlite_file
from updatedesk.live import server_options
from updatedesk.web import enable_demo_sign_in

DEV_HOST = "127.0.0.1"
DEV_PORT = 8000
#: Files SQLite keeps beside the database (write-ahead log, shared memory, rollback journal).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass
class DevStart:
    """What `prepare` found or made: shown in the banner."""

    loaded: bool
    logins: list[DemoLogin]
    examples: list[Example] = field(default_factory=list)
    #: The mails the demo's history wrote, for the mail worker once it runs.
    demo_mail_ids: list[int] = field(default_factory=list)


def reset_database(database_url: str) -> list[Path]:
    """Delete the SQLite database (and its companion files) so `dev` starts over; returns what was
    deleted. Refused for any other database: dev never drops a server's database."""
    if not database_url.startswith(SQLITE_PREFIX):
        raise CommandError(
            "`dev --reset` starts over by deleting the SQLite file; DATABASE_URL names another "
            "database, which it never drops. Drop and create that database yourself."
        )
    path = sqlite_file(database_url)
    if path is None:
        return []  # in memory: it starts empty anyway
    deleted = []
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        if candidate.exists():
            candidate.unlink()
            deleted.append(candidate.resolve())
    return deleted


async def prepare(settings: Settings, now: datetime | None = None) -> DevStart:
    """Migrate, load the demo world into an empty database, issue a token per demo account, and
    make the examples for the demo's Lakeside district (when it exists)."""
    try:
        await apply_migrations(settings)
    finally:
        await close_orm()
    await init_orm(settings)
    try:
        now = now or utcnow()
        loaded = await load_demo_if_empty(now)
        start = DevStart(loaded, await issue_demo_tokens())
        if loaded:
            pending = Notification.filter(state=NotificationState.PENDING, attempts=0).order_by("id")
            start.demo_mail_ids = cast(list[int], list(await pending.values_list("id", flat=True)))
        lakeside = await District.get_or_none(name=LAKESIDE)
        if lakeside is not None:
            start.examples = examples(lakeside.id, now)
        return start
    finally:
        await close_orm()


def banner(host: str, port: int, start: DevStart, database_url: str) -> str:
    address = f"http://{host}:{port}/graphql"
    data_note = "demo data loaded" if start.loaded else "data kept; `updatedesk dev --reset` starts over"
    lines = [
        "",
        "Updatedesk (embedded default)",
        # The URL may carry a password (DATABASE_URL set by hand): never print it.
        f"  database : {redact_text(database_url)}  ({data_note})",
        f"  web page : http://{host}:{port}/  (Manage Updates; demo accounts sign in with one click)",
        f"  GraphiQL : {address}",
        '  Paste a token into GraphiQL\'s Headers tab as {"Authorization": "Bearer <token>"}.',
        "",
        "  Demo tokens (new ones each start; valid 30 days):",
    ]
    width = max((len(login.email) for login in start.logins), default=0)
    lines += [f"    {login.role:<19} {login.email:<{width}}  {login.token}" for login in start.logins]
    lines.append("")
    if start.examples:
        lines += [
            f"  Three things to try in GraphiQL, with the token of {STAFF_EMAIL} in its Headers tab",
            "  (each link opens GraphiQL filled in; nothing runs until you press Run):",
        ]
        for number, example in enumerate(start.examples, 1):
            lines += [f"    {number}. {example.title}:", f"       {example.link(address)}"]
        lines += [
            '  "start" is the time dev started; a start up to five minutes in the past is accepted,',
            "  so put the current time there later. The same run shows live on the web page.",
            "",
        ]
    return "\n".join(lines)


def send_demo_mail(mail_ids: list[int]) -> LifespanPart:
    """Hand the demo's mails to the process's queue once it runs (logged without SMTP_URL), as
    any mail is after its commit: the demo was written before the queue existed, and the outbox
    sweep would otherwise take them two minutes later as jobs that were lost."""

    @asynccontextmanager
    async def part(app: Starlette) -> AsyncIterator[None]:
        for mail_id in mail_ids:
            await app.state.runtime.queue.enqueue_notification(mail_id)
        yield

    return part


def run_dev(settings: Settings, host: str = DEV_HOST, port: int = DEV_PORT, *, reset: bool = False) -> None:
    # One process, no external services: whatever REDIS_URL says, dev runs the embedded queue and bus.
    settings = settings.model_copy(update={"redis_url": None})
    configure_logging(json=False)
    # Before anything is deleted or written: a second dev on this file is refused, not run beside it.
    lock = lock_embedded_database(settings)
    try:
        if reset:
            for path in reset_database(settings.database_url):
                print(f"dev --reset: deleted {path}", flush=True)
        start = asyncio.run(prepare(settings))
        print(banner(host, port, start, settings.database_url), flush=True)
        app = create_process_app(settings, after_runtime=[send_demo_mail(start.demo_mail_ids)])
        enable_demo_sign_in(app, start.logins)  # dev only: `serve` never offers tokens to the page
        uvicorn.run(app, host=host, port=port, log_config=None, **server_options(settings))
    finally:
        if lock is not None:
            lock.release()
