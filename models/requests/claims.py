"""One job per environment: a request holds the environments it needs (`models.running.claimed_kinds`)
from dispatch until it stops running, through a column on each environment row.

A claim is one conditional UPDATE, `SET running_request_id = :id WHERE id = :env AND
running_request_id IS NULL`: of two schedulers or workers racing for one site exactly one sets it
(PostgreSQL makes the second UPDATE wait for the first's row lock and then re-reads the column;
SQLite runs one write transaction at a time). No check-then-act, no SELECT FOR UPDATE.

Rows are taken and released after the request's own row and production before the target, the
same order everywhere, so transactions never wait on each other in a circle. On PostgreSQL the
rows of one claim (or one release) are one statement that keeps that order: a CTE locks them one
by one in it (ORDER BY comes before FOR UPDATE) and re-checks a row another transaction changed
meanwhile once its lock is free, exactly as the one-row UPDATE would; the UPDATE then writes the
rows it locked. SQLite takes one row per statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from models import sql
from models.enums import EnvironmentKind
from models.requests.queries import Site
from models.running import blocker_of, claimed_kinds
from models.tables import Environment, UpdateRequest

#: No request has this id: a claim that does not accept the request's own hold asks for this one.
NO_REQUEST = 0


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
    accept_own: bool = True,
    **own_site: Any,
) -> None:
    """Take every environment `request` needs, or raise EnvironmentBusy naming the holder.

    Must run inside the transaction that moves the request, which rolls back on EnvironmentBusy.
    Holding one already (a request that was re-slotted and dispatched again, or begun after its
    dispatch claimed it) counts as taken: each row is taken only when free or ours (one conditional
    UPDATE per row, or one ordered statement for all on PostgreSQL), so only a refusal costs a
    read (of the holder, for the error). `environment_ids`
    (from `needed_environment_ids`, when the caller already read them) saves that read; `own_site`
    are further columns of the request's own environment written by the same UPDATE (offline).
    Without `accept_own` (dispatch) a site the request itself holds counts as busy: a request that
    is not running holds one only for a job of its earlier run that has not stopped yet.
    """
    if environment_ids is None:
        environment_ids = await needed_environment_ids(request, kind)
    own = request.id if accept_own else NO_REQUEST
    if len(environment_ids) > 1 and _is_postgres():
        taken = await _claim_in_order(request, environment_ids, own_site, own)
    else:
        taken = await _claim_one_by_one(request, environment_ids, own_site, own)
    refused = next((each for each in environment_ids if each not in taken), None)
    if refused is not None:
        raise EnvironmentBusy(await _holder(refused))
    if own_site and request.environment_id not in environment_ids:
        await Environment.filter(id=request.environment_id).update(**own_site)


async def release(request: UpdateRequest, kind: EnvironmentKind | None = None, **own_site: Any) -> None:
    """Give back what `request` holds; its own site comes back online. Only rows it holds change,
    so releasing twice, or releasing what was never claimed, does nothing. `own_site` are further
    columns of its own site written with it (what completing changes: version, refresh time).

    Two statements whatever it holds, no read: the other sites it holds first (production, as in
    the claim's order), then its own; one on PostgreSQL. `kind` is not needed and kept for the
    callers' symmetry."""
    if _is_postgres():
        released = request.environment_id in await _release_in_order(request, own_site)
    else:
        released = await _release_one_by_one(request, own_site)
    if own_site and not released:  # held by another (never in order): the changes still hold
        await sql.update(Environment, {"id": request.environment_id}, **own_site)


async def _claim_one_by_one(
    request: UpdateRequest, environment_ids: list[int], own_site: dict[str, Any], own: int
) -> set[int]:
    """`claim` one row per statement, in order, up to the first refused (held by another than
    `own`); the ids taken."""
    taken: set[int] = set()
    for environment_id in environment_ids:
        changes = own_site if environment_id == request.environment_id else {}
        if not await sql.update(
            Environment,
            {"running_request_id": sql.NullOr(own), "id": environment_id},
            running_request_id=request.id,
            **changes,
        ):
            break
        taken.add(environment_id)
    return taken


async def _release_one_by_one(request: UpdateRequest, own_site: dict[str, Any]) -> bool:
    """`release` in two statements; whether its own site was released."""
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
    return released == 1


async def needed_and_blocker(request: UpdateRequest, kind: EnvironmentKind) -> tuple[list[int], int | None]:
    """`needed_environment_ids` and the request holding one of them (the first in claim order;
    None: all free) in one statement: dispatch looks before it claims. A hold of the request's own
    (a job of its earlier run not stopped yet) blocks it too: dispatch claims with `accept_own`
    off."""
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
    return ids, blocker_of([holders.get(i) for i in ids])


def _is_postgres() -> bool:
    return Environment._meta.db.capabilities.dialect == "postgres"


async def _holder(environment_id: int) -> int | None:
    """Who holds a site a claim could not take (read only for the error)."""
    holders = await Environment.filter(id=environment_id).values_list("running_request_id", flat=True)
    return cast(int | None, holders[0]) if holders else None


# PostgreSQL's one-statement claim and release, text made once per set of own-site columns. The
# CTE locks the candidate rows in the claim's order; the UPDATE writes exactly those. A further
# own-site column is written only on the request's own row (CASE), the other rows keep theirs.
_CLAIMS_IN_ORDER: dict[tuple[str, ...], sql.Sql] = {}
_RELEASES_IN_ORDER: dict[tuple[str, ...], sql.Sql] = {}


def _own_site_sets(names: Sequence[str]) -> str:
    columns = [sql.column(Environment, name) for name in names]
    return "".join(f',{each}=CASE WHEN "e"."id"={{}} THEN {{}} ELSE "e".{each} END' for each in columns)


def _own_site_values(request: UpdateRequest, own_site: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for name, value in own_site.items():
        values += [request.environment_id, sql.db_value(Environment, name, value)]
    return values


async def _claim_in_order(
    request: UpdateRequest, environment_ids: list[int], own_site: dict[str, Any], own: int
) -> set[int]:
    """Take each of `environment_ids` that is free or held by `own`, in that order, in one
    statement; the ids taken."""
    names = tuple(own_site)
    statement = _CLAIMS_IN_ORDER.get(names)
    if statement is None:
        holder = sql.column(Environment, "running_request_id")
        statement = _CLAIMS_IN_ORDER[names] = sql.Sql(
            'WITH "ordered" AS (SELECT "id" FROM "environment" WHERE "id"=ANY({}::bigint[]) AND '
            f"({holder} IS NULL OR {holder}={{}}) "
            'ORDER BY array_position({}::bigint[],"id"::bigint) FOR UPDATE) '
            f'UPDATE "environment" AS "e" SET {holder}={{}}{_own_site_sets(names)} '
            'FROM "ordered" WHERE "e"."id"="ordered"."id" RETURNING "e"."id"'
        )
    values = [environment_ids, own, environment_ids, request.id, *_own_site_values(request, own_site)]
    _, rows = await sql.run(Environment, statement, values)
    return {cast(int, row[0]) for row in rows}


async def _release_in_order(request: UpdateRequest, own_site: dict[str, Any]) -> set[int]:
    """`release` in one statement: the other sites `request` holds first, then its own (also when
    nobody holds it, as in `_release_one_by_one`); the ids released."""
    names = tuple(own_site)
    statement = _RELEASES_IN_ORDER.get(names)
    if statement is None:
        holder = sql.column(Environment, "running_request_id")
        district = sql.column(Environment, "district_id")
        online = sql.column(Environment, "online")
        statement = _RELEASES_IN_ORDER[names] = sql.Sql(
            'WITH "ordered" AS (SELECT "id" FROM "environment" WHERE '
            f'({district}={{}} AND {holder}={{}} AND "id"<>{{}}) OR '
            f'("id"={{}} AND ({holder} IS NULL OR {holder}={{}})) '
            'ORDER BY "id"={}, "id" FOR UPDATE) '
            f'UPDATE "environment" AS "e" SET {holder}=NULL,'
            f'{online}=CASE WHEN "e"."id"={{}} THEN TRUE ELSE "e".{online} END{_own_site_sets(names)} '
            'FROM "ordered" WHERE "e"."id"="ordered"."id" RETURNING "e"."id"'
        )
    own = request.environment_id
    values = [
        request.district_id,
        request.id,
        own,
        own,
        request.id,
        own,
        own,
        *_own_site_values(request, own_site),
    ]
    _, rows = await sql.run(Environment, statement, values)
    return {cast(int, row[0]) for row in rows}
