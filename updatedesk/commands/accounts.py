"""`updatedesk accounts deactivate | activate EMAIL`."""

from __future__ import annotations

from infra.settings import Settings
from models.accounts import set_active
from updatedesk.commands import account_by_email, with_orm


async def switch(settings: Settings, email: str, active: bool) -> None:
    async def work() -> None:
        account = await account_by_email(email)
        changed = await set_active(account.id, active)
        if not changed:
            print(f"{account.email} is already {'active' if active else 'deactivated'}.")
        elif active:
            print(f"Activated {account.email}; its tokens that are not revoked or expired work again.")
        else:
            print(
                f"Deactivated {account.email}; its tokens stop working now, "
                "and its open connections close within a second."
            )

    await with_orm(settings, work)
