"""Seed the maintenance window of the seed document: Campus Cloud, Thursday 00:30-03:30 Central."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [
        ops.RunSQL(
            "INSERT INTO maintenance_window (hosting_model, weekday, start_time, end_time, time_zone) "
            "VALUES ('CAMPUS_CLOUD', 3, '00:30:00', '03:30:00', 'America/Chicago')",
            reverse_sql="DELETE FROM maintenance_window WHERE hosting_model = 'CAMPUS_CLOUD' "
            "AND weekday = 3 AND time_zone = 'America/Chicago'",
        )
    ]
