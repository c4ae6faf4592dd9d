"""Requests by their last change: the scheduler looks at those changed since its last look for
moves whose event record never reached the stream (workers/announcements.py)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_mail_claims')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='UpdateRequest',
            index=Index(fields=['updated_at']),
        ),
    ]
