from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import EnvironmentKind, ErrorCode, RolloutStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

"""Group rollouts (issue 16): the rollout row, the districts it skipped, and each request's link to
its rollout (indexed with the status: wave checks and counts read it)."""

class Migration(migrations.Migration):
    dependencies = [('models', '0008_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GroupRollout',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('update_group', fields.ForeignKeyField('models.UpdateGroup', source_field='update_group_id', db_constraint=True, to_field='id', related_name='rollouts', on_delete=OnDelete.CASCADE)),
                ('environment', fields.CharEnumField(description='PRODUCTION: PRODUCTION\nSANDBOX: SANDBOX\nSTAGING: STAGING\nPREVIEW: PREVIEW', enum_type=EnvironmentKind, max_length=20)),
                ('target_version', fields.CharField(max_length=64)),
                ('wave_size', fields.IntField(description='Most of its requests started and unfinished (NOT_STARTED, IN_PROGRESS) at once.')),
                ('max_failures', fields.IntField(description='Requests that may end UNABLE_TO_COMPLETE before the rollout halts (one more halts it).')),
                ('accepted_failures', fields.IntField(default=0, description='Failures staff accepted by resuming a halted rollout: the budget counts those after them.')),
                ('status', fields.CharEnumField(default=RolloutStatus.RUNNING, description='RUNNING: RUNNING\nPAUSED: PAUSED\nHALTED: HALTED\nCOMPLETED: COMPLETED\nCANCELLED: CANCELLED', enum_type=RolloutStatus, max_length=20)),
                ('status_message', fields.TextField(null=True, unique=False)),
                ('notes', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_by', fields.ForeignKeyField('models.Account', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='rollouts', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'group_rollout', 'app': 'models', 'indexes': [Index(fields=['status']), Index(fields=['update_group_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'The rollout itself, whose work is ordinary update requests pointing at it (`rollout_id`).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RolloutSkip',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('rollout', fields.ForeignKeyField('models.GroupRollout', source_field='rollout_id', db_constraint=True, to_field='id', related_name='skips', on_delete=OnDelete.CASCADE)),
                ('district', fields.ForeignKeyField('models.District', source_field='district_id', db_constraint=True, to_field='id', related_name='rollout_skips', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharEnumField(description='UNAUTHENTICATED: UNAUTHENTICATED\nFORBIDDEN: FORBIDDEN\nNOT_FOUND: NOT_FOUND\nVALIDATION: VALIDATION\nINVALID_TRANSITION: INVALID_TRANSITION\nGROUP_MANAGED: GROUP_MANAGED\nENVIRONMENT_UNAVAILABLE: ENVIRONMENT_UNAVAILABLE\nOUTSIDE_MAINTENANCE_WINDOW: OUTSIDE_MAINTENANCE_WINDOW\nVERSION_NOT_NEWER: VERSION_NOT_NEWER\nUNKNOWN_VERSION: UNKNOWN_VERSION\nDUPLICATE_REQUEST: DUPLICATE_REQUEST\nIDEMPOTENCY_KEY_REUSED: IDEMPOTENCY_KEY_REUSED\nWINDOW_TOO_SHORT: WINDOW_TOO_SHORT\nBLACKOUT: BLACKOUT\nENVIRONMENT_BUSY: ENVIRONMENT_BUSY', enum_type=ErrorCode, max_length=40)),
                ('message', fields.TextField(unique=False)),
            ],
            options={'table': 'rollout_skip', 'app': 'models', 'indexes': [Index(fields=['rollout_id', 'district_id'])], 'pk_attr': 'id', 'table_description': "A district of the group that got no request, with the refusal's code and words."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='UpdateRequest',
            name='rollout',
            field=fields.ForeignKeyField('models.GroupRollout', source_field='rollout_id', null=True, db_constraint=True, to_field='id', related_name='update_requests', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddIndex(
            model_name='UpdateRequest',
            index=Index(fields=['rollout_id', 'status']),
        ),
    ]
