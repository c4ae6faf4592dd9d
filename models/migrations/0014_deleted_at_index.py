"""Requests by when they were deleted: the scheduler looks at those deleted since its last look
for deletes whose REMOVED never reached the event stream (workers/announcements.py)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_updated_at_index')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='UpdateRequest',
            index=Index(fields=['deleted_at']),
        ),
    ]
