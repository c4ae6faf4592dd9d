"""Running safely (issue 12): one job per environment (environment.running_request_id), leases
(update_request.lease_token, lease_expires_at, reclaims), staff-only internal_detail, who deleted
a request, and staff alerts in the outbox. Requests already running when this is applied get their
claims here; their leases start empty, so the first scheduler pass enqueues them again and they
resume after their last checkpoint.

`reclaims` is NOT NULL: Tortoise's own AddField could add it only to an empty `update_request` (on
a table with rows both databases refuse a NOT NULL column without a default), so no deployment with
requests could take this migration. It is added with AddRequiredColumn now (see its docstring):
existing requests get 0 and the column ends as before, NOT NULL without a default; on an empty table
it runs the same ALTER TABLE as before, so databases that took it then have the same schema."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.enums import NotificationKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from models.migrations._in_place import AddRequiredColumn

class Migration(migrations.Migration):
    dependencies = [('models', '0002_seed_maintenance_window')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Environment',
            name='running_request_id',
            field=fields.IntField(null=True),
        ),
        ops.AlterField(
            model_name='Notification',
            name='kind',
            field=fields.CharEnumField(description='SCHEDULED: SCHEDULED\nPENDING_INPUT: PENDING_INPUT\nDEFERRED: DEFERRED\nUNABLE_TO_COMPLETE: UNABLE_TO_COMPLETE\nCOMPLETED: COMPLETED\nSTAFF_ALERT: STAFF_ALERT', enum_type=NotificationKind, max_length=30),
        ),
        ops.AddField(
            model_name='UpdateRequest',
            name='deleted_by',
            field=fields.ForeignKeyField('models.Account', source_field='deleted_by_id', null=True, db_constraint=True, to_field='id', related_name='deleted_requests', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='UpdateRequest',
            name='internal_detail',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='UpdateRequest',
            name='lease_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='UpdateRequest',
            name='lease_token',
            field=fields.CharField(null=True, max_length=36),
        ),
        AddRequiredColumn(
            model_name='UpdateRequest',
            name='reclaims',
            field=fields.SmallIntField(default=0),
            table='update_request',
            sql_type='SMALLINT',
            fill='0',
        ),
        ops.AddIndex(
            model_name='UpdateRequest',
            index=Index(fields=['status', 'lease_expires_at']),
        ),
        ops.RunSQL(
            "UPDATE environment SET running_request_id = (SELECT MIN(r.id) FROM update_request r "
            "WHERE r.environment_id = environment.id AND r.status IN ('NOT_STARTED', 'IN_PROGRESS') "
            "AND r.deleted_at IS NULL) WHERE running_request_id IS NULL",
            reverse_sql="UPDATE environment SET running_request_id = NULL",
        ),
        ops.RunSQL(
            "UPDATE environment SET running_request_id = (SELECT MIN(r.id) FROM update_request r "
            "JOIN environment t ON t.id = r.environment_id WHERE t.district_id = environment.district_id "
            "AND r.kind = 'DATABASE_REFRESH' AND r.status IN ('NOT_STARTED', 'IN_PROGRESS') "
            "AND r.deleted_at IS NULL) WHERE kind = 'PRODUCTION' AND running_request_id IS NULL",
            reverse_sql="UPDATE environment SET running_request_id = NULL",
        ),
    ]
