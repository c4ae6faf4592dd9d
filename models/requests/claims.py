"""One job per environment: a request holds the environments it needs (`models.running.claimed_kinds`)
from dispatch until it stops running, through a column on each environment row.

A claim is one conditional UPDATE, `SET running_request_id = :id WHERE id = :env AND
running_request_id IS NULL`: of two schedulers or workers racing for one site exactly one sets it
(PostgreSQL makes the second UPDATE wait for the first's row lock and then re-reads the column;
SQLite runs one write transaction at a time). No check-then-act, no SELECT FOR UPDATE.

Rows are taken and released after the request's own row and production before the target, the
same order everywhere, so transactions never wait on each other in a circle.
"""

from __future__ import annotations

from typing import Any, cast

from models import sql
from models.enums import EnvironmentKind
from models.requests.queries import Site
from models.running import blocker_of, claimed_kinds
from models.tables import Environment, UpdateRequest


class EnvironmentBusy(Exception):
    """Raised inside the claiming transaction (so that a partial claim is rolled back)."""

    def __init__(self, blocker_id: int | None) -> None:
        super().__init__(f"environment held by request {blocker_id}")
        self.blocker_id = blocker_id


async def needed_environment_ids(request: UpdateRequest, kind: EnvironmentKind) -> list[int]:
    """Ids of the environments `request` (on an environment of `kind`) holds while it runs."""
    kinds = claimed_kinds(request.kind, kind)
    if len(kinds) == 1:
        return [request.environment_id]
    rows = await sql.select(
        Environment, ("kind", "id"), {"district_id": request.district_id, "kind": sql.OneOf(tuple(kinds))}
    )
    by_kind = {EnvironmentKind(k): cast(int, i) for k, i in rows}
    return [by_kind[k] for k in kinds if k in by_kind]


def ids_from(request: UpdateRequest, site: Site) -> list[int] | None:
    """`needed_environment_ids` from a read that joined the district's production site (None:
    it did not; the claim reads them)."""
    kinds = claimed_kinds(request.kind, site.environment.kind)
    if len(kinds) == 1:
        return [request.environment_id]
    if site.production is None:
        return None
    production_id = site.production[0]
    return [production_id if kind is EnvironmentKind.PRODUCTION else request.environment_id for kind in kinds]


async def claim(
    request: UpdateRequest,
    kind: EnvironmentKind,
    *,
    environment_ids: list[int] | None = None,
    **own_site: Any,
) -> None:
    """Take every environment `request` needs, or raise EnvironmentBusy naming the holder.

    Must run inside the transaction that moves the request, which rolls back on EnvironmentBusy.
    Holding one already (a request that was re-slotted and dispatched again, or begun after its
    dispatch claimed it) counts as taken: each row is one conditional UPDATE that takes it when
    free or ours, so only a refusal costs a read (of the holder, for the error). `environment_ids`
    (from `needed_environment_ids`, when the caller already read them) saves that read; `own_site`
    are further columns of the request's own environment written by the same UPDATE (offline).
    """
    if environment_ids is None:
        environment_ids = await needed_environment_ids(request, kind)
    for environment_id in environment_ids:
        changes = own_site if environment_id == request.environment_id else {}
        taken = await sql.update(
            Environment,
            {"running_request_id": sql.NullOr(request.id), "id": environment_id},
            running_request_id=request.id,
            **changes,
        )
        if taken == 1:
            continue
        holders = await Environment.filter(id=environment_id).values_list("running_request_id", flat=True)
        raise EnvironmentBusy(cast(int | None, holders[0]) if holders else None)
    if own_site and request.environment_id not in environment_ids:
        await Environment.filter(id=request.environment_id).update(**own_site)


async def release(request: UpdateRequest, kind: EnvironmentKind | None = None, **own_site: Any) -> None:
    """Give back what `request` holds; its own site comes back online. Only rows it holds change,
    so releasing twice, or releasing what was never claimed, does nothing. `own_site` are further
    columns of its own site written with it (what completing changes: version, refresh time).

    Two statements whatever it holds, no read: the other sites it holds first (production, as in
    the claim's order), then its own. `kind` is not needed and kept for the callers' symmetry."""
    await sql.update(
        Environment,
        {
            "district_id": request.district_id,
            "running_request_id": request.id,
            "id": sql.Not(request.environment_id),
        },
        running_request_id=None,
    )
    # Its own site: also when nobody holds it (a request started before claims existed), as
    # nothing else can be running on it then.
    released = await sql.update(
        Environment,
        {"running_request_id": sql.NullOr(request.id), "id": request.environment_id},
        running_request_id=None,
        online=True,
        **own_site,
    )
    if own_site and not released:  # held by another (never in order): the changes still hold
        await sql.update(Environment, {"id": request.environment_id}, **own_site)


async def needed_and_blocker(request: UpdateRequest, kind: EnvironmentKind) -> tuple[list[int], int | None]:
    """`needed_environment_ids` and the request holding one of them (the first in claim order;
    None: all free or ours) in one statement: dispatch looks before it claims."""
    kinds = claimed_kinds(request.kind, kind)
    names = ("kind", "id", "running_request_id")
    if len(kinds) == 1:
        rows = await sql.select(Environment, names, {"id": request.environment_id})
        ids = [request.environment_id]
    else:
        where = {"district_id": request.district_id, "kind": sql.OneOf(tuple(kinds))}
        rows = await sql.select(Environment, names, where)
        by_kind = {EnvironmentKind(k): cast(int, i) for k, i, _ in rows}
        ids = [by_kind[k] for k in kinds if k in by_kind]
    holders = {cast(int, i): cast(int | None, holder) for _, i, holder in rows}
    return ids, blocker_of(request.id, [holders.get(i) for i in ids])
