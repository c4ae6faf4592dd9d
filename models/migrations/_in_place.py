"""Operations that change a table in place where Tortoise's own would fail on a table with rows or
rebuild it on SQLite. (The leading underscore keeps Tortoise from loading this as a migration.)"""

from tortoise import fields
from tortoise.migrations import operations as ops


def is_sqlite(state_editor) -> bool:
    return state_editor.DIALECT == "sqlite"


async def has_rows(state_editor, table: str) -> bool:
    _, rows = await state_editor.client.execute_query(f'SELECT 1 FROM "{table}" LIMIT 1')
    return bool(rows)


class AddRequiredColumn(ops.AddField):
    """AddField of a NOT NULL column without a database default, onto a table that may have rows.

    Tortoise's own ADD COLUMN "c" ... NOT NULL fails as soon as the table has a row (SQLite: "Cannot
    add a NOT NULL column with default value NULL"; PostgreSQL: "column contains null values"). A
    table without rows takes it exactly that way, as every database that ran the migration before
    did. A table with rows gets it with DEFAULT `fill`, every row is given `fill`, and the default is
    taken off again, so the column ends as Tortoise's would: NOT NULL, no default. PostgreSQL drops
    the default; SQLite cannot, so its table definition loses the words " DEFAULT fill" the way the
    SQLite documentation describes for changing a column's default (writable_schema, then a new
    schema version so every connection, this one too, reads the definition again). Each row is
    rewritten first: SQLite reads a column missing from a row written before the column was added
    as the column's default, which would then be NULL.

    Back: ALTER TABLE ... DROP COLUMN (SQLite 3.35 or later). Tortoise's own RemoveField rebuilds
    the table on SQLite, and dropping the old table there, with foreign keys on, runs the ON DELETE
    actions of the rows pointing at it (for `update_request`, every history row is deleted)."""

    def __init__(self, model_name: str, name: str, field: fields.Field, table: str, sql_type: str, fill: str) -> None:
        super().__init__(model_name=model_name, name=name, field=field)
        self.table = table
        self.sql_type = sql_type
        self.fill = fill

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if not state_editor:
            return
        if not await has_rows(state_editor, self.table):
            await super().database_forward(app_label, old_state, new_state, state_editor)
            return
        table, column = f'"{self.table}"', f'"{self.name}"'
        definition = f"{column} {self.sql_type} NOT NULL"
        await state_editor._run_sql(f"ALTER TABLE {table} ADD COLUMN {definition} DEFAULT {self.fill}")
        if not is_sqlite(state_editor):
            await state_editor._run_sql(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
            return
        await state_editor._run_sql(f"UPDATE {table} SET {column} = {self.fill}")
        await self._drop_sqlite_default(state_editor, definition)

    async def _drop_sqlite_default(self, state_editor, definition: str) -> None:
        client = state_editor.client
        with_default = f"{definition} DEFAULT {self.fill}"
        _, rows = await client.execute_query(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [self.table]
        )
        if len(rows) != 1 or rows[0][0].count(with_default) != 1:
            raise RuntimeError(f"{self.table}: the definition of {self.name} is not where it was added")
        _, version = await client.execute_query("PRAGMA schema_version")
        await client.execute_query("PRAGMA writable_schema = ON")
        try:
            await client.execute_query(
                "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
                [with_default, definition, self.table],
            )
            await client.execute_query(f"PRAGMA schema_version = {int(version[0][0]) + 1}")
        finally:
            await client.execute_query("PRAGMA writable_schema = OFF")
        _, default = await client.execute_query(
            "SELECT dflt_value FROM pragma_table_info(?) WHERE name = ?", [self.table, self.name]
        )
        if default[0][0] is not None:
            raise RuntimeError(f"{self.table}.{self.name} kept its default {default[0][0]}")

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if state_editor:
            await state_editor._run_sql(f'ALTER TABLE "{self.table}" DROP COLUMN "{self.name}"')
