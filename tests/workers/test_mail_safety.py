"""A mail that cannot be built (a line break in a header, a list where one recipient belongs) ends
FAILED with an alert for staff, instead of staying PENDING for ever or reaching extra people."""

from __future__ import annotations

from typing import Any

import pytest

from infra.metrics import ALERTS
from infra.settings import Settings
from models.enums import NotificationKind, NotificationState
from models.tables import Notification
from tests import support
from tests.workers.conftest import Mailbox
from workers.mail import deliver_notification


async def _outbox_row(**values: str) -> Notification:
    fields: dict[str, Any] = {
        "recipient": "tc@lakeside.example",
        "subject": "Completed: the update",
        "body": "Done.",
        **values,
    }
    return await Notification.create(kind=NotificationKind.COMPLETED, **fields)


def _alerts() -> float:
    return ALERTS.labels("mail_unbuildable")._value.get()


@pytest.mark.parametrize(
    "values",
    [
        {"subject": "Completed: the update of Lakeside\r\nBcc: attacker@evil.example"},
        {"recipient": "tc@lakeside.example, attacker@evil.example"},
    ],
    ids=["line break in the subject", "two recipients"],
)
async def test_an_unbuildable_mail_fails_with_an_alert(
    db: support.TestDatabase, mailbox: Mailbox, caplog: pytest.LogCaptureFixture, values: dict[str, str]
) -> None:
    row = await _outbox_row(**values)
    before = _alerts()
    settings = Settings(database_url=db.url, smtp_url=mailbox.url)
    assert await deliver_notification(row.id, settings) is NotificationState.FAILED
    stored = await Notification.get(id=row.id)
    assert stored.state is NotificationState.FAILED and stored.last_error
    assert _alerts() == before + 1
    assert any(r.levelname == "ERROR" and r.getMessage().startswith("alert:") for r in caplog.records)
    assert mailbox.received() == []
    # Delivered again (a retry, a second worker): left alone, no second alert.
    assert await deliver_notification(row.id, settings) is NotificationState.FAILED
    assert _alerts() == before + 1


async def test_a_sound_mail_is_still_sent(db: support.TestDatabase, mailbox: Mailbox) -> None:
    row = await _outbox_row()
    settings = Settings(database_url=db.url, smtp_url=mailbox.url)
    assert await deliver_notification(row.id, settings) is NotificationState.SENT
    assert [m["To"] for m in mailbox.received()] == ["tc@lakeside.example"]
