"""A rollout run by the scheduler's passes and real runbooks (a fake executor that fails for chosen
districts): it halts at its error budget, the queued districts are set aside and the hosting team
is alerted, logged and counted. On both databases."""

from __future__ import annotations

import logging
from collections.abc import Collection

import pytest

from infra.metrics import REGISTRY
from infra.settings import Settings
from models.enums import EnvironmentKind, RolloutStatus, UpdateStatus
from models.rollouts.starting import start_group_rollout
from models.tables import GroupRollout, UpdateRequest
from tests import support
from tests.models.rollouts.support import TARGET, make_state, most_at_once, run_spans
from tests.workers.test_scheduler import RecordingQueue
from workers.errors import StepFailed
from workers.executors import ProgressCallback, StepJob
from workers.runbooks import Outcome, run_request
from workers.scheduler import dispatch_pass

S = UpdateStatus
SETTINGS = Settings(step_attempts=1, step_retry_delay=0)
#: Passes a run needs at most; each pass starts a wave and the runbooks finish it.
MAX_PASSES = 20


class BreaksFor:
    """Every step succeeds, except installing the version on the chosen districts."""

    def __init__(self, district_ids: Collection[int]) -> None:
        self.district_ids = set(district_ids)

    async def run_step(self, job: StepJob, report: ProgressCallback) -> None:
        if job.step == "install_version" and job.district_id in self.district_ids:
            raise StepFailed("The new version did not install.")


def halts_counted() -> float:
    return REGISTRY.get_sample_value("updatedesk_staff_alerts_total", {"reason": "rollout_halted"}) or 0.0


async def test_a_runbook_failing_for_chosen_districts_halts_the_rollout_at_its_budget(
    db: support.TestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    state = await make_state(asp=6, campus_cloud=0)  # ASP-hosted: due whatever the wall clock says
    broken = [state.districts[1], state.districts[3]]
    rollout = await start_group_rollout(
        state.staff,
        group_id=state.group.id,
        environment=EnvironmentKind.STAGING,
        target_version=TARGET,
        wave_size=2,
        max_failures=1,
    )
    executor = BreaksFor([d.id for d in broken])
    queue = RecordingQueue()
    counted = halts_counted()
    outcomes: dict[int, Outcome] = {}
    with caplog.at_level(logging.ERROR, logger="workers.scheduler"):
        for _ in range(MAX_PASSES):
            queue.update_requests.clear()
            await dispatch_pass(queue, SETTINGS)
            if not queue.update_requests:
                break
            for request_id in queue.update_requests:
                outcomes[request_id] = await run_request(request_id, SETTINGS, executor)

    rows = {r.district_id: r for r in await UpdateRequest.filter(rollout_id=rollout.id)}
    by_name = [rows[d.id].status for d in state.districts]
    # Names sort the start order: 0 and 1 (1 breaks, within the budget), then 2 and 3 (3 breaks:
    # one too many), then the rollout halts and 4 and 5 never start.
    assert (
        by_name
        == [S.COMPLETED, S.UNABLE_TO_COMPLETE, S.COMPLETED, S.UNABLE_TO_COMPLETE] + [S.PENDING_INPUT] * 2
    )
    assert sorted(outcomes.values()) == sorted([Outcome.COMPLETED] * 2 + [Outcome.FAILED] * 2)
    halted = await GroupRollout.get(id=rollout.id)
    assert halted.status is RolloutStatus.HALTED
    assert rows[state.districts[4].id].status_message == halted.status_message
    assert most_at_once(await run_spans(r.id for r in rows.values())) == 2
    assert halts_counted() == counted + 1
    assert any("rollout_halted" in r.getMessage() and "halted" in r.getMessage() for r in caplog.records)
