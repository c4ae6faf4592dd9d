"""Each request counts its history rows (`history_seq`): event records carry it, so subscribers
get one request's events in history order whichever process wrote them. Existing requests start
from the history they already have.

`history_seq` is NOT NULL: Tortoise's own AddField could add it only to an empty `update_request`
(on a table with rows both databases refuse a NOT NULL column without a default), so no deployment
with requests could take this migration. It is added with AddRequiredColumn now (see its docstring)
and then counted as before; on an empty table it runs the same ALTER TABLE as before, so databases
that took it then have the same schema."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from models.migrations._in_place import AddRequiredColumn


class Migration(migrations.Migration):
    dependencies = [("models", "0004_windows_blackouts_calendars")]

    initial = False

    operations = [
        AddRequiredColumn(
            model_name="UpdateRequest",
            name="history_seq",
            field=fields.IntField(default=0),
            table="update_request",
            sql_type="INT",
            fill="0",
        ),
        ops.RunSQL(
            "UPDATE update_request SET history_seq = "
            "(SELECT COUNT(*) FROM status_change WHERE status_change.update_request_id = update_request.id)",
            reverse_sql="SELECT 1",
        ),
    ]
