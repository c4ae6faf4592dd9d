"""Hot statements without query building: UPDATE, INSERT and SELECT text made once per shape and
dialect, sent with parameters through Tortoise's connection (the current transaction's, inside
one), values converted by the model's own fields exactly as Tortoise converts them.

Why: building a query through Tortoise and pypika costs more CPU than the round trip it makes
(0.3-0.5 ms per statement on this project's machine), and a zero-length runbook makes ~25 of them
(BENCHMARKS.md, throughput). Only the worker's and the scheduler's per-request statements use this;
everything else stays on the ORM.

The conditions are the few the hot paths need: equality, ``None`` (IS NULL), ``OneOf`` (IN),
``NullOr`` (IS NULL OR =), ``Not`` (<>); a change may be ``Add`` (column + n) or, on PostgreSQL,
``DatabaseClockPlus`` (the database's clock + an interval: lease expiries, `models.requests.lease_clock`).
Column names come from the model's metadata, never from input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from tortoise.models import Model

#: The placeholder in statement text; rendered as $1, $2... (PostgreSQL) or ? (SQLite).
PLACEHOLDER = "{}"


@dataclass(frozen=True, slots=True)
class OneOf:
    """Condition: the column holds one of `values` (IN)."""

    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class NullOr:
    """Condition: the column is NULL or equals `value`."""

    value: Any


@dataclass(frozen=True, slots=True)
class Not:
    """Condition: the column differs from `value` (not NULL)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Add:
    """Change: the column plus `amount`, computed by the database."""

    amount: int


@dataclass(frozen=True, slots=True)
class DatabaseClockPlus:
    """Change (PostgreSQL only): the database's clock when the statement runs, plus `after`."""

    after: timedelta


#: Changes whose value the database computes: the caller does not know it after the write.
COMPUTED = (Add, DatabaseClockPlus)

#: The database's clock in a statement: when the statement began (not the transaction), and
#: stable within it, so a comparison with it can use an index.
DATABASE_CLOCK = "statement_timestamp()"


class Sql:
    """Statement text with ``{}`` for each parameter, rendered once per dialect."""

    __slots__ = ("_rendered", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._rendered: dict[str, str] = {}

    def render(self, dialect: str) -> str:
        rendered = self._rendered.get(dialect)
        if rendered is None:
            parts = self.text.split(PLACEHOLDER)
            if dialect == "postgres":
                marks = [f"${n}" for n in range(1, len(parts))]
            else:
                marks = ["?"] * (len(parts) - 1)
            rendered = parts[0] + "".join(mark + part for mark, part in zip(marks, parts[1:], strict=True))
            self._rendered[dialect] = rendered
        return rendered


async def run(model: type[Model], sql: Sql, values: Sequence[Any]) -> tuple[int, Sequence[Any]]:
    """Rows affected (or returned) and the rows, on `model`'s connection."""
    db = model._meta.db
    affected, rows = await db.execute_query(sql.render(db.capabilities.dialect), list(values))
    return affected, rows


def db_value(model: type[Model], name: str, value: Any) -> Any:
    """`value` as Tortoise sends it for the field `name` (enums, JSON, datetimes)."""
    return model._meta.fields_map[name].to_db_value(value, cast(Any, None))  # as UpdateQuery does


def python_value(model: type[Model], name: str, raw: Any) -> Any:
    """A value read by hand as Tortoise gives it for the field `name` (SQLite returns text)."""
    return model._meta.fields_map[name].to_python_value(raw)


def column(model: type[Model], name: str) -> str:
    return f'"{model._meta.fields_db_projection[name]}"'


def _condition(model: type[Model], name: str, value: Any, values: list[Any]) -> str:
    if name.endswith("__isnull"):
        name = name.removesuffix("__isnull")
        if value is not True:
            raise ValueError(f"only {name}__isnull=True is supported")
        return f"{column(model, name)} IS NULL"
    if value is None:
        return f"{column(model, name)} IS NULL"
    if isinstance(value, OneOf):
        if not value.values:
            return "1=0"
        values.extend(db_value(model, name, item) for item in value.values)
        return f"{column(model, name)} IN ({','.join(PLACEHOLDER for _ in value.values)})"
    if isinstance(value, NullOr):
        values.append(db_value(model, name, value.value))
        return f"({column(model, name)} IS NULL OR {column(model, name)}={PLACEHOLDER})"
    if isinstance(value, Not):
        values.append(db_value(model, name, value.value))
        return f"{column(model, name)}<>{PLACEHOLDER}"
    values.append(db_value(model, name, value))
    return f"{column(model, name)}={PLACEHOLDER}"


def _change(model: type[Model], name: str, value: Any, values: list[Any]) -> str:
    if isinstance(value, Add):
        values.append(value.amount)
        return f"{column(model, name)}={column(model, name)}+{PLACEHOLDER}"
    if isinstance(value, DatabaseClockPlus):
        values.append(value.after)
        return f"{column(model, name)}={DATABASE_CLOCK}+{PLACEHOLDER}::interval"
    if value is None:
        return f"{column(model, name)}=NULL"
    values.append(db_value(model, name, value))
    return f"{column(model, name)}={PLACEHOLDER}"


# Statement text by shape: the same columns and kinds of condition make the same text.
_UPDATES: dict[tuple[Any, ...], Sql] = {}
_INSERTS: dict[tuple[Any, ...], Sql] = {}


def _shape(items: Iterable[tuple[str, Any]]) -> tuple[Any, ...]:
    def kind(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, OneOf):
            return ("in", len(value.values))
        return type(value) if isinstance(value, NullOr | Not | Add | DatabaseClockPlus) else "="

    return tuple((name, kind(value)) for name, value in items)


def _update_text(
    model: type[Model], where: Mapping[str, Any], changes: Mapping[str, Any], values: list[Any]
) -> str:
    sets = [_change(model, name, value, values) for name, value in changes.items()]
    conditions = [_condition(model, name, value, values) for name, value in where.items()]
    return f'UPDATE "{model._meta.db_table}" SET {",".join(sets)} WHERE {" AND ".join(conditions)}'


async def update(model: type[Model], where: Mapping[str, Any], **changes: Any) -> int:
    """``UPDATE table SET changes WHERE where``; the number of rows changed."""
    key = (model, _shape(changes.items()), _shape(where.items()))
    values: list[Any] = []
    text = _update_text(model, where, changes, values)
    sql = _UPDATES.get(key)
    if sql is None:
        sql = _UPDATES[key] = Sql(text)
    affected, _ = await run(model, sql, values)
    return affected


_RECORDED_UPDATES: dict[tuple[Any, ...], Sql] = {}


async def update_and_insert(
    model: type[Model],
    where: Mapping[str, Any],
    changes: Mapping[str, Any],
    record: type[Model],
    row: Mapping[str, Any],
) -> int:
    """``update(model, where, **changes)`` and, only when it changed a row, ``insert(record, **row)``
    (a compare-and-set and its history row); the number of rows changed. One round trip on
    PostgreSQL (the UPDATE in a WITH, the INSERT selecting from it), two on SQLite."""
    if model._meta.db.capabilities.dialect != "postgres":
        changed = await update(model, where, **changes)
        if changed:
            await insert(record, **row)
        return changed
    key = (model, _shape(changes.items()), _shape(where.items()), record, tuple(row))
    values: list[Any] = []
    text = _update_text(model, where, changes, values)
    values += [db_value(record, name, value) for name, value in row.items()]
    sql = _RECORDED_UPDATES.get(key)
    if sql is None:
        columns = ",".join(column(record, name) for name in row)
        marks = ",".join(PLACEHOLDER for _ in row)
        sql = _RECORDED_UPDATES[key] = Sql(
            f'WITH "changed" AS ({text} RETURNING 1) INSERT INTO "{record._meta.db_table}" ({columns}) '
            f'SELECT {marks} FROM "changed" RETURNING 1'
        )
    changed, _ = await run(model, sql, values)
    return changed


_SELECTS: dict[tuple[Any, ...], Sql] = {}


async def select(model: type[Model], names: Sequence[str], where: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """``SELECT names FROM table WHERE where``: rows as tuples of the columns' raw values."""
    key = (model, tuple(names), _shape(where.items()))
    values: list[Any] = []
    conditions = [_condition(model, name, value, values) for name, value in where.items()]
    sql = _SELECTS.get(key)
    if sql is None:
        columns = ",".join(column(model, name) for name in names)
        sql = Sql(f'SELECT {columns} FROM "{model._meta.db_table}" WHERE {" AND ".join(conditions)}')
        _SELECTS[key] = sql
    _, rows = await run(model, sql, values)
    return [tuple(row) for row in rows]


class Rows:
    """One statement reading rows (with the rows their foreign keys point to), built into models
    as Tortoise builds them (`select_related` ones too, so `related()` finds them), without query
    building. `joins` are (foreign key field, related model), every one an inner join; `where` is
    the text after WHERE (ORDER BY too), the model's table aliased "t0". The text is made on first
    use: the models' columns are known only once Tortoise has started."""

    def __init__(
        self,
        model: type[Model],
        where: str,
        joins: Sequence[tuple[str, type[Model]]] = (),
        *,
        source: tuple[str, str] | None = None,
        extra: tuple[Sequence[str], str] | None = None,
    ) -> None:
        """`source`, (a WITH clause, its name): read the model's rows from that instead of its
        table (say an UPDATE ... RETURNING *: the change and the read in one round trip).
        `extra`, (expressions, join text): further values read with each row (`first_with_extra`)."""
        self.models = [model, *(related for _, related in joins)]
        self.joins = joins
        self.where = where
        self.source = source
        self.extra = extra
        self.attributes = [f"_{name}" for name, _ in joins]
        self._made: tuple[Sql, list[list[str]]] | None = None

    def _make(self) -> tuple[Sql, list[list[str]]]:
        model = self.models[0]
        columns = [sorted(each._meta.db_fields) for each in self.models]
        selected = [f'"t{index}"."{name}"' for index, names in enumerate(columns) for name in names]
        prefix, table = self.source if self.source is not None else ("", f'"{model._meta.db_table}"')
        tables = [f'{table} "t0"']
        for index, (name, related) in enumerate(self.joins, start=1):
            key = model._meta.fields_db_projection[f"{name}_id"]
            tables.append(f'JOIN "{related._meta.db_table}" "t{index}" ON "t{index}"."id"="t0"."{key}"')
        if self.extra is not None:
            selected += self.extra[0]
            tables.append(self.extra[1])
        text = f"{prefix}SELECT {','.join(selected)} FROM {' '.join(tables)} WHERE {self.where}"
        return Sql(text), columns

    async def all(self, values: Sequence[Any]) -> list[tuple[Model, ...]]:
        """Every row the condition selects: (the model, then each joined one)."""
        return [built for built, _ in await self._read(values)]

    async def first_with_extra(
        self, values: Sequence[Any]
    ) -> tuple[tuple[Model, ...], tuple[Any, ...]] | None:
        """The first row: its models, and the `extra` values read with it (raw)."""
        found = await self._read(values)
        return found[0] if found else None

    async def _read(self, values: Sequence[Any]) -> list[tuple[tuple[Model, ...], tuple[Any, ...]]]:
        if self._made is None:
            self._made = self._make()
        statement, columns = self._made
        _, rows = await run(self.models[0], statement, values)
        width = sum(len(names) for names in columns)
        return [(self._build(flat, columns), flat[width:]) for flat in (tuple(row) for row in rows)]

    async def first(self, values: Sequence[Any]) -> tuple[Model, ...] | None:
        found = await self.all(values)
        return found[0] if found else None

    def _build(self, flat: tuple[Any, ...], columns: list[list[str]]) -> tuple[Model, ...]:
        built: list[Model] = []
        start = 0
        for each, names in zip(self.models, columns, strict=True):
            end = start + len(names)
            built.append(each._init_from_db(**dict(zip(names, flat[start:end], strict=True))))
            start = end
        for attribute, related in zip(self.attributes, built[1:], strict=True):
            object.__setattr__(built[0], attribute, related)
        return tuple(built)


async def insert(model: type[Model], **row: Any) -> None:
    """``INSERT INTO table (columns) VALUES (...)``, no id read back."""
    key = (model, tuple(row))
    sql = _INSERTS.get(key)
    if sql is None:
        columns = ",".join(column(model, name) for name in row)
        marks = ",".join(PLACEHOLDER for _ in row)
        sql = Sql(f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES ({marks})')
        _INSERTS[key] = sql
    await run(model, sql, [db_value(model, name, value) for name, value in row.items()])
