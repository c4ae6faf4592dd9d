"""Moves whose record never reached the stream are announced again: the sequences that break the
promise "every status move is visible as a move" without it (a writer that dies between commit
and append, or cannot reach Redis while every reader can) and the scheduler's answer to each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest_asyncio

from infra.bus import STREAM_START, EventRecord, InProcessBus, install_bus_sink
from infra.metrics import REGISTRY
from infra.settings import Settings
from models.access import actor_for_account
from models.enums import EnvironmentKind, EventType, Role, UpdateKind, UpdateStatus
from models.events import UpdateRequestChanged
from models.requests.announced import Position, deleted_between, moved_between
from models.requests.requesting import request_update
from models.requests.staff import set_update_request_status
from models.requests.withdrawing import delete_update_request
from models.tables import StatusChange, UpdateRequest
from tests import support
from tests.factories import make_account, make_catalog, make_district, make_request
from workers.announcements import SETTLE_SECONDS, Reannouncer
from workers.scheduler import Scheduler

S = UpdateStatus
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
SETTLED = timedelta(seconds=SETTLE_SECONDS + 1)


class Staff:
    """A hosting staff member moving one request back and forth, at times the test gives."""

    def __init__(self, bus: InProcessBus) -> None:
        self.bus = bus
        self.uninstall: Callable[[], None] | None = install_bus_sink(bus)

    async def setup(self) -> int:
        await make_catalog()
        staff = await make_account(Role.HOSTING_STAFF)
        self.actor = actor_for_account(staff.id, Role.HOSTING_STAFF, frozenset())
        return (await make_request(await make_district())).id

    async def move(self, request_id: int, status: UpdateStatus, at: datetime, *, lost: bool = False) -> None:
        """A committed move; `lost`: its process died before the append (no record)."""
        if lost:
            self.close()
        try:
            await set_update_request_status(self.actor, request_id, status, f"to {status.value}", now=at)
        finally:
            if lost:
                self.uninstall = install_bus_sink(self.bus)

    async def second_move_lost(self, at: datetime = T0) -> int:
        """A new request moved twice (`at` and a second later), the second move's record lost."""
        request_id = await self.setup()
        await self.move(request_id, S.PENDING_INPUT, at)
        await self.move(request_id, S.TO_BE_SCHEDULED, at + timedelta(seconds=1), lost=True)
        return request_id

    def close(self) -> None:
        if self.uninstall is not None:
            self.uninstall()
            self.uninstall = None


@pytest_asyncio.fixture
async def staff(db: support.TestDatabase) -> AsyncIterator[Staff]:
    """Staff whose moves go to an in-process bus (the embedded default's) after each commit."""
    made = Staff(InProcessBus())
    try:
        yield made
    finally:
        made.close()


async def records(bus: InProcessBus) -> list[EventRecord]:
    return await bus.stream.read_after(STREAM_START, 1000)


def chain(records: list[EventRecord]) -> list[tuple[str | None, str, bool]]:
    return [
        (r.event.from_status.value if r.event.from_status else None, r.event.status.value, r.replaced)
        for r in records
    ]


async def history(request_id: int) -> list[tuple[str | None, str]]:
    rows = await StatusChange.filter(update_request_id=request_id).order_by("at", "id")
    return [(row.from_status.value if row.from_status else None, row.to_status.value) for row in rows]


def reannounced_total() -> float:
    return REGISTRY.get_sample_value("updatedesk_events_reannounced_total") or 0.0


async def test_a_move_whose_writer_died_before_the_append_is_announced_once_settled(staff: Staff) -> None:
    bus = staff.bus
    request_id = await staff.second_move_lost()
    assert chain(await records(bus)) == [("TO_BE_SCHEDULED", "PENDING_INPUT", False)]

    reannouncer = Reannouncer(bus)
    # Not while its own writer could still be appending it.
    assert await reannouncer.sweep(now=T0 + timedelta(seconds=2)) == []
    counted = reannounced_total()
    appended = await reannouncer.sweep(now=T0 + timedelta(seconds=1) + SETTLED)
    assert [(r.event.type, r.event.sequence, r.event.message) for r in appended] == [
        (EventType.STATUS_CHANGED, 2, "to TO_BE_SCHEDULED")
    ]
    # Every move is there as a move, in history order: subscribers and webhooks see it.
    assert [(f, t) for f, t, _ in chain(await records(bus))] == await history(request_id)
    assert not any(replaced for *_, replaced in chain(await records(bus)))
    assert reannounced_total() == counted + 1
    # Looked at again (another sweep, another scheduler): nothing more.
    assert await reannouncer.sweep(now=T0 + timedelta(minutes=1)) == []
    assert await Reannouncer(bus).sweep(now=T0 + timedelta(minutes=1)) == []
    assert len(await records(bus)) == 2


async def test_several_lost_moves_show_the_request_as_it_now_is(staff: Staff) -> None:
    bus = staff.bus
    request_id = await staff.second_move_lost()
    await staff.move(request_id, S.PENDING_INPUT, T0 + timedelta(seconds=2), lost=True)
    appended = await Reannouncer(bus).sweep(now=T0 + timedelta(seconds=2) + SETTLED)
    # Only the latest move can be made again: it goes in replaced (readers show a SNAPSHOT of
    # the request), never as a move from a status the stream did not show.
    assert [(r.event.sequence, r.replaced) for r in appended] == [(3, True)]
    assert chain(await records(bus))[-1] == ("TO_BE_SCHEDULED", "PENDING_INPUT", True)


async def test_a_request_whose_creation_was_never_announced_is_announced(staff: Staff) -> None:
    bus = staff.bus
    await staff.move(await staff.setup(), S.PENDING_INPUT, T0)  # the stream's oldest record
    district = await make_district()
    contact = await make_account(Role.TECHNICAL_CONTACT, [district])
    created_at = datetime.now(UTC) + timedelta(seconds=30)  # well after that record
    staff.close()  # the writer dies after its commit
    request = await request_update(
        actor_for_account(contact.id, Role.TECHNICAL_CONTACT, frozenset({district.id})),
        district_id=district.id,
        kind=UpdateKind.DATABASE_REFRESH,
        environment=EnvironmentKind.SANDBOX,
        now=created_at,
    )
    appended = await Reannouncer(bus).sweep(now=created_at + SETTLED)
    assert [(r.event.type, r.event.update_request_id, r.replaced) for r in appended] == [
        (EventType.CREATED, request.id, False)
    ]
    assert (await records(bus))[-1].event == (await moved_between(T0, created_at))[0][-1]


async def test_the_next_sweep_looks_on_where_the_last_ended(staff: Staff) -> None:
    bus = staff.bus
    request_id = await staff.setup()
    await staff.move(request_id, S.PENDING_INPUT, T0)
    reannouncer = Reannouncer(bus, lookback=60)
    assert await reannouncer.sweep(now=T0 + SETTLED) == []
    later = T0 + timedelta(minutes=5)  # long after the first sweep's look-back window
    await staff.move(request_id, S.TO_BE_SCHEDULED, later, lost=True)
    appended = await reannouncer.sweep(now=later + SETTLED)
    assert [r.event.sequence for r in appended] == [2]


async def test_a_first_sweep_looks_back_only_so_far(staff: Staff) -> None:
    bus = staff.bus
    await staff.second_move_lost()
    hour_later = T0 + timedelta(hours=2)
    assert await Reannouncer(bus, lookback=3600).sweep(now=hour_later) == []
    assert [r.event.sequence for r in await Reannouncer(bus, lookback=3 * 3600).sweep(now=hour_later)] == [2]


async def test_a_long_list_is_read_in_pages_even_where_changes_share_a_time(staff: Staff) -> None:
    bus = staff.bus
    first = await staff.setup()
    others = [(await make_request(await make_district())).id for _ in range(2)]
    ids = [first, *others]
    for request_id in ids:
        await staff.move(request_id, S.PENDING_INPUT, T0)
    for request_id in ids:  # one instant for all (a rollout moves many requests at one `now`)
        await staff.move(request_id, S.TO_BE_SCHEDULED, T0 + timedelta(seconds=1), lost=True)
    moves, cut = await moved_between(T0, T0 + timedelta(seconds=1), limit=2)
    assert len(moves) == 2 and cut is not None
    rest, end = await moved_between(cut, T0 + timedelta(seconds=1), limit=2)
    assert end is None
    assert sorted(m.update_request_id for m in [*moves, *rest]) == sorted(ids)

    appended = await Reannouncer(bus).sweep(now=T0 + timedelta(seconds=1) + SETTLED, limit=1)
    assert sorted(r.event.update_request_id for r in appended) == sorted(ids)


async def test_a_rebuilt_record_equals_the_one_its_commit_announced(staff: Staff) -> None:
    bus = staff.bus
    request_id = await staff.setup()
    await staff.move(request_id, S.PENDING_INPUT, T0)
    await staff.move(request_id, S.TO_BE_SCHEDULED, T0 + timedelta(seconds=1))
    announced = (await records(bus))[-1].event
    rebuilt, _ = await moved_between(T0, T0 + timedelta(seconds=5))
    assert rebuilt == [announced]
    # A deleted request is no candidate: its REMOVED is no move, and it is gone from lists.
    await UpdateRequest.filter(id=request_id).update(deleted_at=T0 + timedelta(seconds=2))
    assert await moved_between(T0, T0 + timedelta(seconds=5)) == ([], None)


async def deleted_while_writer_away(staff: Staff, *, lost: bool) -> tuple[list[int], datetime]:
    """Two completed requests deleted at one instant, well after the stream's oldest record;
    `lost`: the deleting process died after its commit (no REMOVED in the stream)."""
    await staff.move(await staff.setup(), S.PENDING_INPUT, T0)  # the stream's oldest record
    done = [(await make_request(await make_district(), status=S.COMPLETED)).id for _ in range(2)]
    deleted_at = datetime.now(UTC) + timedelta(seconds=30)
    if lost:
        staff.close()
    for request_id in done:
        await delete_update_request(staff.actor, request_id, now=deleted_at)
    return done, deleted_at


async def test_a_delete_whose_writer_died_is_announced_once_settled(staff: Staff) -> None:
    """Its REMOVED is what takes a finished request off every live list and tells webhooks."""
    bus = staff.bus
    done, deleted_at = await deleted_while_writer_away(staff, lost=True)
    assert not any(record.event.is_delete for record in await records(bus))
    reannouncer = Reannouncer(bus)
    assert await reannouncer.sweep(now=deleted_at + timedelta(seconds=2)) == []  # its writer's time
    appended = await reannouncer.sweep(now=deleted_at + SETTLED, limit=1)  # in pages, one instant
    assert sorted((r.event.type, r.event.update_request_id, r.replaced) for r in appended) == [
        (EventType.REMOVED, request_id, False) for request_id in sorted(done)
    ]
    assert await Reannouncer(bus).sweep(now=deleted_at + SETTLED) == []  # another scheduler
    assert [r.event.is_delete for r in await records(bus)].count(True) == 2


async def test_a_delete_that_reached_the_stream_is_not_announced_again(staff: Staff) -> None:
    bus = staff.bus
    done, deleted_at = await deleted_while_writer_away(staff, lost=False)
    before = await records(bus)
    announced = [record.event for record in before if record.event.is_delete]
    assert sorted(event.update_request_id for event in announced) == sorted(done)
    # Rebuilt from the database, it is the record the delete announced.
    rebuilt: list[UpdateRequestChanged] = []
    pages, since = 0, cast(datetime | Position | None, T0)
    while since is not None:  # one instant for both: pages go on by request id
        page, cut = await deleted_between(since, deleted_at, limit=1)
        rebuilt, pages, since = rebuilt + page, pages + 1, cut
    assert pages == 3  # a full page may have more after it: the third is empty
    assert sorted(rebuilt, key=lambda event: event.update_request_id) == sorted(
        announced, key=lambda event: event.update_request_id
    )
    assert await Reannouncer(bus).sweep(now=deleted_at + SETTLED) == []
    assert await records(bus) == before


class NoQueue:
    async def enqueue_update_request(self, request_id: int) -> None: ...

    async def enqueue_notification(self, notification_id: int) -> None: ...

    async def enqueue_webhook(self, webhook_id: int, delay: float = 0.0) -> None: ...


class BrokenStream(Reannouncer):
    async def sweep(self, now: datetime | None = None, limit: int = 500) -> list[EventRecord]:
        raise ConnectionError("Redis is away")


async def test_the_scheduler_announces_in_its_sweeps_and_dispatches_when_it_cannot(staff: Staff) -> None:
    bus = staff.bus
    # The scheduler sweeps on the wall clock: moves a minute old are settled and in its look-back.
    await staff.second_move_lost(at=datetime.now(UTC) - timedelta(minutes=1))
    settings = Settings(scheduler_interval=60)
    for reannouncer in (BrokenStream(bus), Reannouncer(bus)):
        passed = asyncio.Event()
        scheduler = Scheduler(NoQueue(), settings, passed.set, reannouncer=reannouncer)
        running = asyncio.create_task(scheduler.run())
        await asyncio.wait_for(passed.wait(), 30)  # its first pass sweeps, Redis or not
        scheduler.stop()
        await running
        assert scheduler.sweeps == 1
    assert chain(await records(bus))[-1] == ("PENDING_INPUT", "TO_BE_SCHEDULED", False)
