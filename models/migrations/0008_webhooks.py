from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import EventType, NotificationKind, WebhookDeliveryState
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

"""Webhooks: endpoints, one delivery per event and endpoint, the attempt log, the dispatcher's
stream position; the outbox learns the WEBHOOK_DEACTIVATED mail."""

class Migration(migrations.Migration):
    dependencies = [('models', '0005_history_sequence')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Webhook',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('models.Account', source_field='owner_id', db_constraint=True, to_field='id', related_name='webhooks', on_delete=OnDelete.CASCADE)),
                ('district', fields.ForeignKeyField('models.District', source_field='district_id', null=True, db_constraint=True, to_field='id', related_name='webhooks', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2000)),
                ('secret', fields.CharField(max_length=100)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('deactivated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook', 'app': 'models', 'indexes': [Index(fields=['owner_id', 'created_at']), Index(fields=['active', 'district_id'])], 'pk_attr': 'id', 'table_description': 'An HTTPS endpoint that gets the events of one district of its owner, or of all it sees.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('webhook', fields.ForeignKeyField('models.Webhook', source_field='webhook_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('uid', fields.CharField(unique=True, max_length=36)),
                ('event_cursor', fields.CharField(max_length=200)),
                ('event_type', fields.CharEnumField(description='SNAPSHOT: SNAPSHOT\nCREATED: CREATED\nSTATUS_CHANGED: STATUS_CHANGED\nPROGRESS: PROGRESS\nREMOVED: REMOVED', enum_type=EventType, max_length=20)),
                ('update_request_id', fields.IntField()),
                ('district_id', fields.IntField()),
                ('body', fields.TextField(unique=False)),
                ('state', fields.CharEnumField(default=WebhookDeliveryState.PENDING, description='PENDING: PENDING\nDELIVERED: DELIVERED\nFAILED: FAILED\nSKIPPED: SKIPPED', enum_type=WebhookDeliveryState, max_length=20)),
                ('attempts', fields.SmallIntField(default=0)),
                ('in_flight', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('first_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'webhook_delivery', 'app': 'models', 'unique_together': (('webhook', 'event_cursor'),), 'indexes': [Index(fields=['webhook_id', 'state', 'id']), Index(fields=['state', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One event for one endpoint. `uid` (the `Updatedesk-Delivery` header) and `body` stay'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('models.WebhookDelivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('webhook', fields.ForeignKeyField('models.Webhook', source_field='webhook_id', db_constraint=True, to_field='id', related_name='attempts', on_delete=OnDelete.CASCADE)),
                ('attempt', fields.SmallIntField()),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status_code', fields.IntField(null=True)),
                ('error', fields.TextField(null=True, unique=False)),
                ('delivered', fields.BooleanField(default=False)),
                ('duration_ms', fields.IntField(null=True)),
            ],
            options={'table': 'webhook_attempt', 'app': 'models', 'indexes': [Index(fields=['webhook_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One POST of a delivery and what came of it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookStreamPosition',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('cursor', fields.CharField(max_length=200)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_stream_position', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How far the webhook dispatcher has read the event stream (one row per reader name).'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='SCHEDULED: SCHEDULED\nPENDING_INPUT: PENDING_INPUT\nDEFERRED: DEFERRED\nUNABLE_TO_COMPLETE: UNABLE_TO_COMPLETE\nCOMPLETED: COMPLETED\nCANCELLED: CANCELLED\nSUPERSEDED: SUPERSEDED\nWEBHOOK_DEACTIVATED: WEBHOOK_DEACTIVATED\nSTAFF_ALERT: STAFF_ALERT', enum_type=NotificationKind, max_length=30),
        ),
    ]
