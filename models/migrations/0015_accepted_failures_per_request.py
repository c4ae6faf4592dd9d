"""Accepted failures become exact: a mark on each failed request staff accepted by resuming its
halted rollout (`update_request.failure_accepted`), instead of a number on the rollout
(`group_rollout.accepted_failures`, dropped). The number could not tell which failures were
accepted, so retrying one of them after a newer failure left the newer one uncounted.

Existing rollouts: for each one with `accepted_failures` > 0, that many of its requests now
UNABLE_TO_COMPLETE are marked, oldest failure first (by the request's latest move into
UNABLE_TO_COMPLETE, so one retried that failed again counts as recent), all of them when it has
fewer. The number never said which failures were accepted; marking the oldest keeps each rollout's
budget where it stood (the same number of failures left out, now never more than stand) and picks
the failures a resume can have accepted first: a resume accepts those that came before it, every
failure after the last resume is newer than them. Going back, each rollout's number is the count of
its marked failures.

Both columns change in place, both ways: ALTER TABLE ... ADD COLUMN / DROP COLUMN (SQLite 3.35
or later). Tortoise's own RemoveField (and AddField going back) rebuilds the table on SQLite, and
dropping the old table there, with foreign keys on, runs their ON DELETE actions: for
`group_rollout` every rollout skip is deleted and every request unlinked from its rollout, for
`update_request` every history row is deleted; the tables' indexes are lost as well. The new
column has a database default (false), so it can be added to a table that has rows."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

MARK_OLDEST = """
UPDATE update_request SET failure_accepted = TRUE WHERE id IN (
    SELECT ranked.id FROM (
        SELECT failed.id, failed.accepted,
               ROW_NUMBER() OVER (PARTITION BY failed.rollout_id ORDER BY failed.failed_at, failed.id) AS n
        FROM (
            SELECT r.id, r.rollout_id, g.accepted_failures AS accepted,
                   COALESCE((SELECT MAX(c.at) FROM status_change c
                             WHERE c.update_request_id = r.id AND c.to_status = 'UNABLE_TO_COMPLETE'),
                            r.updated_at) AS failed_at
            FROM update_request r JOIN group_rollout g ON g.id = r.rollout_id
            WHERE r.status = 'UNABLE_TO_COMPLETE' AND g.accepted_failures > 0
        ) failed
    ) ranked
    WHERE ranked.n <= ranked.accepted
)
"""

COUNT_MARKED = """
UPDATE group_rollout SET accepted_failures = (
    SELECT COUNT(*) FROM update_request r
    WHERE r.rollout_id = group_rollout.id AND r.status = 'UNABLE_TO_COMPLETE' AND r.failure_accepted = TRUE
)
"""


class AddColumnInPlace(ops.AddField):
    """AddField, and back with ALTER TABLE ... DROP COLUMN (the module's docstring says why)."""

    def __init__(self, model_name: str, name: str, field: fields.Field, table: str) -> None:
        super().__init__(model_name=model_name, name=name, field=field)
        self.table = table

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if state_editor:
            await state_editor._run_sql(f'ALTER TABLE "{self.table}" DROP COLUMN "{self.name}"')


class DropColumnInPlace(ops.RemoveField):
    """RemoveField with ALTER TABLE ... DROP COLUMN, and back with ADD COLUMN `definition` (the
    module's docstring says why not Tortoise's own)."""

    def __init__(self, model_name: str, name: str, table: str, definition: str) -> None:
        super().__init__(model_name=model_name, name=name)
        self.table = table
        self.definition = definition

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if state_editor:
            await state_editor._run_sql(f'ALTER TABLE "{self.table}" DROP COLUMN "{self.name}"')

    async def database_backward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if state_editor:
            await state_editor._run_sql(f'ALTER TABLE "{self.table}" ADD COLUMN "{self.name}" {self.definition}')


class Migration(migrations.Migration):
    dependencies = [('models', '0014_deleted_at_index')]

    initial = False

    operations = [
        AddColumnInPlace(
            model_name='UpdateRequest',
            name='failure_accepted',
            field=fields.BooleanField(default=False, db_default=False),
            table='update_request',
        ),
        ops.RunSQL(MARK_OLDEST, reverse_sql=COUNT_MARKED),
        DropColumnInPlace(
            model_name='GroupRollout',
            name='accepted_failures',
            table='group_rollout',
            definition='INT NOT NULL DEFAULT 0',
        ),
    ]
