from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import NotificationState
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_group_rollouts')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Notification',
            name='state',
            field=fields.CharEnumField(default=NotificationState.PENDING, description='PENDING: PENDING\nSENDING: SENDING\nSENT: SENT\nLOGGED: LOGGED\nFAILED: FAILED', enum_type=NotificationState, max_length=20),
        ),
        ops.AddField(
            model_name='Notification',
            name='claimed_at',
            field=fields.DatetimeField(null=True, description='When the attempt now SENDING claimed the mail: a claim much older than an SMTP exchange can', auto_now=False, auto_now_add=False),
        ),
    ]
