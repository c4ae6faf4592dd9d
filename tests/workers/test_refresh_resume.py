"""A database refresh that was running when its worker died resumes after its last checkpoint, and
meanwhile the hosting team removed the district's production site by hand. There is nothing left
to copy: the resumed job must not run the rest (nor report a refresh that copied nothing), but end
the request UNABLE_TO_COMPLETE in words the district can read, its site back online and free, the
district and listening staff told, staff's details in `internalDetail`. Both databases."""

from __future__ import annotations

import asyncio

import pytest

from infra.settings import Settings
from models.enums import EnvironmentKind, NotificationKind, NotifyPreference, Role, UpdateKind, UpdateStatus
from models.tables import Account, Environment, Notification, UpdateRequest
from tests import support
from tests.factories import make_account
from tests.workers.runbook_support import FakeExecutor, dispatched
from tests.workers.scenario import make_scene
from workers.executors import COPY_STEP, ProgressCallback, StepJob
from workers.runbooks import run_request

SETTINGS = Settings(step_attempts=3, step_retry_delay=0)
#: Bounds a wait for something the runbook must do; only a broken runbook makes a test wait this long.
WITHIN = 10.0


async def test_a_resumed_refresh_whose_production_was_removed_ends_unable_to_complete(
    db: support.TestDatabase,
) -> None:
    scene = await make_scene()
    listening = await make_account(Role.HOSTING_STAFF, email="on-call@hosting.example")
    await Account.filter(id=listening.id).update(notify=NotifyPreference.ALL_MY_DISTRICTS)
    request = await dispatched(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)
    reached = asyncio.Event()

    async def die_in_the_copy(job: StepJob, report: ProgressCallback) -> None:
        if job.step == COPY_STEP:
            reached.set()
            await asyncio.Event().wait()  # the worker dies here

    first = asyncio.create_task(run_request(request.id, SETTINGS, FakeExecutor(during=die_in_the_copy)))
    await asyncio.wait_for(reached.wait(), WITHIN)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    interrupted = await UpdateRequest.get(id=request.id)
    assert (interrupted.status, interrupted.completed_steps) == (
        UpdateStatus.IN_PROGRESS,
        ["snapshot_production"],
    )
    assert not (await Environment.get(id=request.environment_id)).online
    await Environment.filter(district_id=scene.district.id, kind=EnvironmentKind.PRODUCTION).delete()
    told_before = await Notification.filter(update_request_id=request.id).count()

    again = FakeExecutor()
    await run_request(request.id, SETTINGS, again)  # resumes after the checkpoint

    assert again.steps == []  # nothing more runs: there is no production to copy
    ended = await UpdateRequest.get(id=request.id)
    assert ended.status is UpdateStatus.UNABLE_TO_COMPLETE
    message = ended.status_message or ""
    assert "refresh of the sandbox site" in message and "no longer has a production site" in message
    assert str(request.id) not in message and "#" not in message  # named, not numbered
    assert ended.internal_detail and "PRODUCTION" in ended.internal_detail
    assert ended.lease_token is None and ended.lease_expires_at is None
    sandbox = await Environment.get(id=request.environment_id)
    assert sandbox.online and sandbox.running_request_id is None and sandbox.last_refreshed_at is None
    told = await Notification.filter(
        update_request_id=request.id, kind=NotificationKind.UNABLE_TO_COMPLETE
    ).values_list("recipient", flat=True)
    assert {scene.requester_email, "on-call@hosting.example"} <= set(told)
    assert await Notification.filter(update_request_id=request.id).count() == told_before + len(told)
