"""Each request counts its history rows (`history_seq`): event records carry it, so subscribers
get one request's events in history order whichever process wrote them. Existing requests start
from the history they already have."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0004_windows_blackouts_calendars")]

    initial = False

    operations = [
        ops.AddField(
            model_name="UpdateRequest",
            name="history_seq",
            field=fields.IntField(default=0),
        ),
        ops.RunSQL(
            "UPDATE update_request SET history_seq = "
            "(SELECT COUNT(*) FROM status_change WHERE status_change.update_request_id = update_request.id)",
            reverse_sql="SELECT 1",
        ),
    ]
