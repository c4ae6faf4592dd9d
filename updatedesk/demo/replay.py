"""The moves the demo's history is made of, each through the domain's public functions with an
explicit clock: a person asks, staff schedule or move a status, the dispatcher starts, a worker
runs the runbook's own steps. Nothing writes a status directly, so every history row, progress
report and site version is what the service itself would have recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.access import Actor, actor_for_account
from models.enums import EnvironmentKind, HostingModel, UpdateKind, UpdateStatus
from models.maintenance import upcoming_slots
from models.requests import completion, dispatch, execution, requesting, staff, withdrawing
from models.rollouts.starting import start_group_rollout
from models.tables import Account, District, Environment, UpdateGroup, UpdateRequest
from models.windows import Slot
from workers.runbooks import steps_for

#: How long each runbook step of the demo's past runs took.
STEP_TIME = timedelta(minutes=2)
#: A worker picks a dispatched job up this long after the dispatcher started it.
PICK_UP_DELAY = timedelta(seconds=5)


class DemoStoryError(RuntimeError):
    """The demo's history could not be written as planned (a domain rule changed under it)."""


@dataclass(frozen=True)
class Cast:
    """Who acts in the demo, and the rows it refers to by name."""

    staff: Actor
    people: dict[str, Actor]
    districts: dict[str, int]
    groups: dict[str, int]

    def person(self, email: str) -> Actor:
        return self.people[email]


async def cast(staff_email: str) -> Cast:
    """Actors for every demo account (as the API would sign them in), districts and groups by name."""
    people: dict[str, Actor] = {}
    for account in await Account.all().prefetch_related("districts"):
        linked = frozenset(district.id for district in account.districts)
        people[account.email] = actor_for_account(account.id, account.role, linked)
    districts = {d.name: d.id for d in await District.all()}
    groups = {g.name: g.id for g in await UpdateGroup.all()}
    return Cast(people[staff_email], people, districts, groups)


async def window_after(instant: datetime) -> Slot:
    """The first Campus Cloud maintenance slot starting after `instant` (stored rules)."""
    slots = await upcoming_slots(HostingModel.CAMPUS_CLOUD, 1, now=instant)
    if not slots:
        raise DemoStoryError("the demo needs a Campus Cloud maintenance window; none is stored")
    return slots[0]


async def ask(
    actor: Actor,
    district_id: int,
    kind: UpdateKind,
    environment: EnvironmentKind,
    at: datetime,
    *,
    version: str | None = None,
    notes: str | None = None,
) -> int:
    """A person asks for work (TO_BE_SCHEDULED); returns the request's id."""
    request = await requesting.request_update(
        actor,
        district_id=district_id,
        kind=kind,
        environment=environment,
        target_version=version,
        notes=notes,
        now=at,
    )
    return request.id


async def roll_out(
    cast: Cast, group: str, environment: EnvironmentKind, version: str, at: datetime, notes: str | None
) -> list[UpdateRequest]:
    """Staff roll a version out to a group (each district's request placed in its next slot);
    returns the requests, by district name."""
    rollout = await start_group_rollout(
        cast.staff,
        group_id=cast.groups[group],
        environment=environment,
        target_version=version,
        notes=notes,
        now=at,
    )
    return list(await UpdateRequest.filter(rollout_id=rollout.id).order_by("district__name"))


async def schedule(
    cast: Cast, request_id: int, start: datetime, at: datetime, *, override_window: bool = False
) -> None:
    """Staff give the request its start (inside the window where one applies, unless they override)."""
    await staff.schedule_update_request(
        cast.staff, request_id, start, override_maintenance_window=override_window, now=at
    )


async def set_status(cast: Cast, request_id: int, status: UpdateStatus, message: str, at: datetime) -> None:
    await staff.set_update_request_status(cast.staff, request_id, status, message, now=at)


async def cancel(actor: Actor, request_id: int, at: datetime) -> None:
    await withdrawing.cancel_update_request(actor, request_id, now=at)


async def start(request_id: int, at: datetime) -> None:
    """The dispatcher starts a due request (NOT_STARTED)."""
    if not await dispatch.dispatch(request_id, now=at):
        raise DemoStoryError(f"request {request_id} was not due at {at.isoformat()}")


async def run(
    request_id: int,
    at: datetime,
    *,
    steps_done: int | None = None,
    progress: tuple[int, str] | None = None,
    failure: str | None = None,
) -> datetime:
    """A worker begins the dispatched request and runs its runbook's steps from `at`.

    All steps, then complete: the usual end. `steps_done` stops after that many steps, with
    `progress` (percent, message) reported in the next one: still running. `failure` then gives
    up with that reason instead. Returns the instant of the last thing done."""
    claimed = await execution.begin(request_id, now=at + PICK_UP_DELAY)
    if claimed is None:
        raise DemoStoryError(f"request {request_id} could not begin")
    request, _ = claimed
    steps = steps_for(request.kind)
    count = len(steps) if steps_done is None else steps_done
    clock = at + PICK_UP_DELAY
    done: list[str] = []
    for step in steps[:count]:
        clock += STEP_TIME
        await execution.finish_step(
            request_id, step.name, step.done_percent, f"{step.label}: done", now=clock, known_steps=done
        )
        done.append(step.name)
    if progress is not None and count < len(steps):
        clock += STEP_TIME
        percent, message = progress
        await execution.report_progress(request_id, percent, steps[count].name, message, now=clock)
    if failure is not None:
        clock += STEP_TIME
        await completion.fail(request_id, failure, now=clock)
    elif steps_done is None:
        clock += STEP_TIME
        await completion.complete(request_id, now=clock)
    return clock


async def start_and_run(request_id: int, at: datetime) -> datetime:
    """Dispatched at `at` and run to completion; returns when it completed."""
    await start(request_id, at)
    return await run(request_id, at)


async def follow_sandbox(district_id: int, after: datetime) -> datetime:
    """Run the automatic sandbox update that a completed production update created."""
    sandbox = await Environment.get(district_id=district_id, kind=EnvironmentKind.SANDBOX)
    follower = await UpdateRequest.filter(
        environment_id=sandbox.id, automatic=True, status=UpdateStatus.SCHEDULED
    ).first()
    if follower is None or follower.scheduled_start is None:
        raise DemoStoryError(f"no automatic sandbox update followed production in district {district_id}")
    return await start_and_run(follower.id, max(follower.scheduled_start, after))
