"""The GraphQL-over-HTTP conformance audit of the `graphql-http` npm package (pinned in
http_audit/package-lock.json), run through Node against the real app on uvicorn, as an
authenticated client: no MUST and no SHOULD may fail."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.settings import Settings
from models.enums import Role
from tests.factories import make_account, make_district, make_token
from tests.support import TestDatabase
from tests.support_live import live_server

AUDIT_DIR = Path(__file__).resolve().parent / "http_audit"
#: npm ci and the audit's ~60 requests, with room for a slow machine.
WITHIN = 240.0


async def run(*command: str, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=AUDIT_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), WITHIN)
    assert process.returncode == 0, f"{' '.join(command)} failed: {err.decode()[-2000:]}"
    return out.decode()


def installed() -> bool:
    """node_modules matches the lock (npm writes its own copy of the lock into it)."""
    copy = AUDIT_DIR / "node_modules" / ".package-lock.json"
    if not copy.exists():
        return False
    wanted = json.loads((AUDIT_DIR / "package-lock.json").read_text())["packages"]
    have = json.loads(copy.read_text())["packages"]
    return all(
        have.get(name, {}).get("version") == entry.get("version") for name, entry in wanted.items() if name
    )


async def test_graphql_over_http_audit_passes(db: TestDatabase) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed: the graphql-http audit runs in Node")
    if not installed():
        await run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
    district = await make_district()
    token = await make_token(await make_account(Role.TECHNICAL_CONTACT, [district]))
    async with live_server(Settings(database_url=db.url)) as server:
        env = {
            "PATH": str(Path(node).parent),
            "AUDIT_URL": f"{server.http_url}/graphql",
            "AUDIT_TOKEN": token,
        }
        results: list[dict[str, Any]] = json.loads(await run(node, "audit.mjs", env=env))
    failed = [r for r in results if r["status"] in ("error", "warn")]
    assert len(results) > 50 and not failed, json.dumps(failed, indent=1)
    assert {r["name"].split(" ", 1)[0] for r in results} >= {"MUST", "SHOULD"}
