"""Windows, blackouts and calendars as data: weekdays become ISO numbers (1 = Monday ... 7 = Sunday,
as the API has them; they were 0 = Monday), blackouts, per-account calendar feeds and notify
preferences, and the cancellation notice kinds."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import HostingModel, NotificationKind, NotifyPreference
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_running_safely')]

    initial = False

    operations = [
        ops.RunSQL(
            "UPDATE maintenance_window SET weekday = weekday + 1",
            reverse_sql="UPDATE maintenance_window SET weekday = weekday - 1",
        ),
        ops.CreateModel(
            name='Blackout',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('end', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reason', fields.CharField(max_length=500)),
                ('hosting_model', fields.CharEnumField(null=True, description='CAMPUS_CLOUD: CAMPUS_CLOUD\nASP_HOSTED: ASP_HOSTED', enum_type=HostingModel, max_length=20)),
                ('update_group', fields.ForeignKeyField('models.UpdateGroup', source_field='update_group_id', null=True, db_constraint=True, to_field='id', related_name='blackouts', on_delete=OnDelete.CASCADE)),
                ('district', fields.ForeignKeyField('models.District', source_field='district_id', null=True, db_constraint=True, to_field='id', related_name='blackouts', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('created_by', fields.ForeignKeyField('models.Account', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='blackouts', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'blackout', 'app': 'models', 'indexes': [Index(fields=['end', 'start'])], 'pk_attr': 'id', 'table_description': 'A period in which no work starts: for everything (no scope), or one hosting model, update'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CalendarFeed',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.OneToOneField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='calendar_feed', on_delete=OnDelete.CASCADE)),
                ('nonce', fields.CharField(max_length=64)),
                ('secret_hash', fields.CharField(unique=True, max_length=64)),
                ('rotated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'calendar_feed', 'app': 'models', 'pk_attr': 'id', 'table_description': "An account's feed. The secret in its URL is derived from `nonce` with the deployment's feed"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceKey',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('value', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'service_key', 'app': 'models', 'pk_attr': 'name', 'table_description': 'A key the service made for itself when the deployment configured none (e.g. the calendar'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Account',
            name='notify',
            field=fields.CharEnumField(null=True, description='ALL_MY_DISTRICTS: ALL_MY_DISTRICTS\nMY_REQUESTS: MY_REQUESTS\nNONE: NONE', enum_type=NotifyPreference, max_length=20),
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='SCHEDULED: SCHEDULED\nPENDING_INPUT: PENDING_INPUT\nDEFERRED: DEFERRED\nUNABLE_TO_COMPLETE: UNABLE_TO_COMPLETE\nCOMPLETED: COMPLETED\nCANCELLED: CANCELLED\nSUPERSEDED: SUPERSEDED', enum_type=NotificationKind, max_length=30),
        ),
    ]
