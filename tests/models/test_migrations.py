"""The committed migrations describe the models exactly: a model change without its migration
fails here (run `uv run tortoise makemigrations` to write it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

DETECT_CHANGES = textwrap.dedent(
    """
    import asyncio
    from tortoise.cli.cli import tortoise_cli_context
    from tortoise.migrations.autodetector import MigrationAutodetector
    from infra.db import tortoise_config

    async def main():
        config = tortoise_config("sqlite://:memory:")
        async with tortoise_cli_context(config) as ctx:
            writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        for writer in writers:
            operations = [type(op).__name__ for op in writer.operations]
            print("pending migration:", writer.app_label, writer.name, operations)

    asyncio.run(main())
    """
)


def test_models_have_no_unmigrated_changes() -> None:
    result = subprocess.run(
        [sys.executable, "-c", DETECT_CHANGES], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"models changed without a migration:\n{result.stdout}"
