"""The outbox's index on (state, created_at) again, on SQLite databases that lost it: the
scheduler finds the mail left waiting by its state and age with it, and the queue-depth metric
counts the mail waiting to be sent.

0001 made it; 0003, 0004, 0008 and 0012 each change the description of a `notification` column
(`kind`, `state`: the values they list), and Tortoise's AlterField does that on SQLite by rebuilding
the table: a new table, the rows copied, the old table dropped. The dropped table takes its indexes
with it, and the rebuilt one gets none, so every SQLite database migrated past 0003, empty or not,
has gone without this index since. The rows survive the rebuild (no table points at `notification`,
so dropping it runs no ON DELETE action, and no mail is ever deleted, so its ids go on from the
same number), which is why those four migrations stay as they are: every deployment ran them, and
changing them now would leave the `notification` tables of older and newer deployments different.
The index is put back here instead, for every deployment alike. PostgreSQL changes a description
with COMMENT ON COLUMN and never lost the index, so there this does nothing (IF NOT EXISTS), and so
it does on SQLite where the index is already there.

Going back leaves the index where it is: the models declare it before this migration as well."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0015_accepted_failures_per_request')]

    initial = False

    operations = [
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_notificatio_state_f61312" ON "notification" ("state", "created_at")',
            reverse_sql=ops.RunSQL.noop,
        ),
    ]
