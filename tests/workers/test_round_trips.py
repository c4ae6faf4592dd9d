"""The worker's database round trips per zero-length runbook are pinned, so that a later change
cannot silently double them (BENCHMARKS.md, throughput). A refresh of a sandbox, the bench's kind,
from the scheduler's dispatch (SCHEDULED -> NOT_STARTED) through the job (-> IN_PROGRESS, four
checkpoints, -> COMPLETED with the requester's mail queued), counted from Tortoise's statement log
plus BEGIN/COMMIT/ROLLBACK on both backends. A change that lowers a count lowers the pin with it."""

from __future__ import annotations

from infra.settings import Settings
from models.enums import EnvironmentKind, UpdateKind, UpdateStatus
from models.requests.dispatch import dispatch
from models.tables import UpdateRequest
from tests import support
from tests.support_sql import count_round_trips
from tests.workers.runbook_support import FakeExecutor
from tests.workers.scenario import make_scene, request_and_schedule
from workers.runbooks import Outcome, run_request

SETTINGS = Settings(step_retry_delay=0)
#: The pins, (dispatch, job) by backend: SCHEDULED -> NOT_STARTED (the scheduler), then the job
#: to COMPLETED (the worker). PostgreSQL adds the advisory start lock of each pre-flight check and
#: saves one round trip per move (the compare-and-set and its history row in one statement) and
#: per claim or release of two sites (one ordered statement); on both, the last step's checkpoint
#: is written by the COMPLETED move.
ROUND_TRIPS = {"sqlite": (9, 21), "postgres": (8, 16)}


async def test_a_zero_length_runbook_costs_its_pinned_round_trips(db: support.TestDatabase) -> None:
    scene = await make_scene()
    request = await request_and_schedule(scene, UpdateKind.DATABASE_REFRESH, EnvironmentKind.SANDBOX)
    with count_round_trips() as dispatching:
        assert await dispatch(request.id)
    with count_round_trips() as running:
        assert await run_request(request.id, SETTINGS, FakeExecutor()) is Outcome.COMPLETED
    assert (await UpdateRequest.get(id=request.id)).status is UpdateStatus.COMPLETED
    dispatch_pin, job_pin = ROUND_TRIPS["postgres" if db.is_postgres else "sqlite"]
    assert dispatching.count == dispatch_pin, dispatching.describe()
    assert running.count == job_pin, running.describe()


async def test_the_counter_sees_transaction_control(db: support.TestDatabase) -> None:
    """The pin would not notice a doubled number of transactions if BEGIN/COMMIT went uncounted."""
    from tortoise.transactions import in_transaction

    with count_round_trips() as trips:
        async with in_transaction():
            await UpdateRequest.filter(id=0).count()
    assert trips.transaction_control == ["begin", "commit"]
    assert trips.count == 3
