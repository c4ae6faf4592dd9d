"""The embedded default: scheduler, jobs and mail as tasks on this loop, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from icalendar import Calendar

from infra.settings import Settings
from models.enums import (
    EnvironmentKind,
    EventType,
    NotificationKind,
    NotificationState,
    UpdateKind,
    UpdateStatus,
)
from models.events import UpdateRequestChanged
from models.notices import invitation_uid
from models.tables import Environment, Notification, UpdateRequest
from tests import support
from tests.workers.conftest import Mailbox, wait_until
from tests.workers.scenario import TARGET_VERSION, make_scene, request_and_schedule
from workers.runtime import embedded_runtime

WITHIN = 15.0


def settings_for(db: support.TestDatabase, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db.url,
        "simulated_step_seconds": 0,
        "scheduler_interval": 0.05,
        "step_retry_delay": 0,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


async def status_of(request_id: int) -> UpdateStatus:
    return (await UpdateRequest.get(id=request_id)).status


async def test_scheduled_update_runs_to_completion_with_sandbox_and_mails(
    db: support.TestDatabase, mailbox: Mailbox
) -> None:
    scene = await make_scene()
    settings = settings_for(db, smtp_url=mailbox.url)
    async with embedded_runtime(settings) as runtime:
        events: list[UpdateRequestChanged] = []

        async def collect() -> None:
            async with runtime.bus.subscribe() as subscription:
                async for event in subscription:
                    events.append(event)

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0)
        request = await request_and_schedule(scene)

        async def sandbox_done() -> bool:
            return await UpdateRequest.filter(
                automatic=True, status=UpdateStatus.COMPLETED, district_id=scene.district.id
            ).exists()

        await wait_until(sandbox_done, WITHIN, "the automatic sandbox update")
        assert runtime.embedded_queue is not None
        await runtime.embedded_queue.wait_idle(WITHIN)
        collector.cancel()

    assert await status_of(request.id) is UpdateStatus.COMPLETED
    production = await Environment.get(district_id=scene.district.id, kind=EnvironmentKind.PRODUCTION)
    sandbox = await Environment.get(district_id=scene.district.id, kind=EnvironmentKind.SANDBOX)
    assert production.current_version == TARGET_VERSION and production.online
    assert sandbox.current_version == TARGET_VERSION and sandbox.online

    progress = [e.progress.percent for e in events if e.update_request_id == request.id and e.progress]
    assert progress == sorted(progress) and progress[-1] == 100 and len(set(progress)) >= 6
    statuses = [
        e.status for e in events if e.update_request_id == request.id and e.type is EventType.STATUS_CHANGED
    ]
    assert statuses == [
        UpdateStatus.SCHEDULED,
        UpdateStatus.NOT_STARTED,
        UpdateStatus.IN_PROGRESS,
        UpdateStatus.COMPLETED,
    ]

    states = set(await Notification.all().values_list("state", flat=True))
    assert states == {NotificationState.SENT}
    scheduled = [m for m in mailbox.received() if str(m["Subject"]).strip().startswith("Scheduled:")]
    assert scheduled and scheduled[0]["To"] == scene.requester_email
    parts = [p for p in scheduled[0].walk() if p.get_content_type() == "text/calendar"]
    assert parts and parts[0].get_param("method") == "REQUEST"
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    calendar = Calendar.from_ical(payload)
    uids = [str(event["UID"]) for event in calendar.walk("VEVENT")]
    assert uids == [invitation_uid(request.id)]
    subjects = [str(m["Subject"]).strip() for m in mailbox.received()]
    assert any(s.startswith("Completed:") for s in subjects), subjects


async def test_without_smtp_mails_are_logged_in_the_outbox(db: support.TestDatabase) -> None:
    scene = await make_scene()
    async with embedded_runtime(settings_for(db)) as runtime:
        request = await request_and_schedule(scene)
        await wait_until(lambda: _is(request.id, UpdateStatus.COMPLETED), WITHIN, "completion")
        assert runtime.embedded_queue is not None
        await runtime.embedded_queue.wait_idle(WITHIN)
    assert set(await Notification.all().values_list("state", flat=True)) == {NotificationState.LOGGED}


async def _is(request_id: int, status: UpdateStatus) -> bool:
    return await status_of(request_id) is status


def _script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "operator.sh"
    script.write_text("#!/bin/sh\n" + body)
    return f"sh {script}"


async def test_failing_command_ends_unable_to_complete_with_stderr_tail(
    db: support.TestDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scene = await make_scene()
    command = _script(
        tmp_path,
        'echo "PROGRESS 50 halfway"\n'
        'if [ "$UPDATEDESK_STEP" = install_version ]; then echo "disk full on /srv/campus" >&2; exit 3; fi\n',
    )
    settings = settings_for(db, executor="command", command_version_update=command, step_attempts=2)
    async with embedded_runtime(settings):
        request = await request_and_schedule(scene)
        await wait_until(lambda: _is(request.id, UpdateStatus.UNABLE_TO_COMPLETE), WITHIN, "the failure")
    failed = await UpdateRequest.get(id=request.id)
    # The district reads which step did not succeed, in words; the command's own output is for
    # hosting staff only (internalDetail).
    assert failed.status_message is not None and "Install the new version" in failed.status_message
    assert "disk full" not in failed.status_message and "exit status" not in failed.status_message
    assert failed.internal_detail is not None
    assert "disk full on /srv/campus" in failed.internal_detail and "exit status 3" in failed.internal_detail
    mails = await Notification.filter(update_request_id=request.id, kind=NotificationKind.UNABLE_TO_COMPLETE)
    assert mails and all("disk full" not in m.body and "exit status" not in m.body for m in mails)
    assert failed.completed_steps == ["backup", "stop_site"]
    assert (await Environment.get(id=failed.environment_id)).online


async def test_command_past_its_time_limit_is_killed_and_fails(
    db: support.TestDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scene = await make_scene()
    command = _script(tmp_path, "echo 'still migrating' >&2\nexec sleep 30\n")
    settings = settings_for(
        db, executor="command", command_version_update=command, command_timeout_seconds=0.5, step_attempts=1
    )
    async with embedded_runtime(settings):
        request = await request_and_schedule(scene)
        await wait_until(lambda: _is(request.id, UpdateStatus.UNABLE_TO_COMPLETE), WITHIN, "the time limit")
    failed = await UpdateRequest.get(id=request.id)
    assert failed.internal_detail is not None and "time limit" in failed.internal_detail
    assert "still migrating" in failed.internal_detail
    assert failed.status_message is not None and "still migrating" not in failed.status_message


async def test_command_gets_request_details_and_reports_progress(
    db: support.TestDatabase, tmp_path: Path
) -> None:
    scene = await make_scene(environments=(EnvironmentKind.PRODUCTION, EnvironmentKind.STAGING))
    log = tmp_path / "steps.log"
    command = _script(
        tmp_path,
        f'echo "$UPDATEDESK_REQUEST_ID $UPDATEDESK_KIND $UPDATEDESK_ENVIRONMENT $UPDATEDESK_STEP" >> {log}\n'
        'echo "PROGRESS 40 working"\necho "PROGRESS 90 nearly"\n',
    )
    settings = settings_for(db, executor="command", command_database_refresh=command)
    async with embedded_runtime(settings):
        request = await request_and_schedule(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.STAGING)
        await wait_until(lambda: _is(request.id, UpdateStatus.COMPLETED), WITHIN, "the refresh")
    lines = log.read_text().splitlines()
    steps = ["snapshot_production", "copy_data", "sanitize_reindex", "verify"]
    assert lines == [f"{request.id} DATABASE_REFRESH STAGING {step}" for step in steps]
    staging = await Environment.get(id=request.environment_id)
    assert staging.last_refreshed_at is not None
