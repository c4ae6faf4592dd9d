"""The Mutation root: one module per mutation in its feature slice."""

from __future__ import annotations

import strawberry

from schema.accounts.mutations.rotate_calendar_feed import rotate_calendar_feed
from schema.accounts.mutations.set_preferences import set_preferences
from schema.accounts.types import Preferences, Viewer
from schema.requests.mutations.cancel_update_request import cancel_update_request
from schema.requests.mutations.delete_update_request import delete_update_request
from schema.requests.mutations.request_update import request_update
from schema.requests.mutations.roll_out_group_update import RollOutGroupUpdatePayload, roll_out_group_update
from schema.requests.mutations.schedule_update_request import schedule_update_request
from schema.requests.mutations.set_update_request_status import set_update_request_status
from schema.requests.payloads import DeletePayload, UpdateRequestPayload
from schema.rollouts.mutations.cancel_group_rollout import cancel_group_rollout
from schema.rollouts.mutations.pause_group_rollout import pause_group_rollout
from schema.rollouts.mutations.resume_group_rollout import resume_group_rollout
from schema.rollouts.mutations.start_group_rollout import start_group_rollout
from schema.rollouts.types import GroupRolloutPayload
from schema.schedule.mutations.create_blackout import create_blackout
from schema.schedule.mutations.create_maintenance_window import create_maintenance_window
from schema.schedule.mutations.delete_blackout import delete_blackout
from schema.schedule.mutations.delete_maintenance_window import delete_maintenance_window
from schema.schedule.mutations.update_maintenance_window import update_maintenance_window
from schema.schedule.types import BlackoutPayload, MaintenanceWindowPayload
from schema.webhooks.mutations.create_webhook import create_webhook
from schema.webhooks.mutations.delete_webhook import delete_webhook
from schema.webhooks.payloads import WebhookPayload

STAFF_ONLY = "Hosting staff only (FORBIDDEN for everyone else)."


@strawberry.type
class Mutation:
    request_update: UpdateRequestPayload = strawberry.mutation(resolver=request_update)
    cancel_update_request: UpdateRequestPayload = strawberry.mutation(resolver=cancel_update_request)
    delete_update_request: DeletePayload = strawberry.mutation(resolver=delete_update_request)
    set_preferences: Preferences = strawberry.mutation(resolver=set_preferences)
    rotate_calendar_feed: Viewer = strawberry.mutation(
        resolver=rotate_calendar_feed,
        description="A new secret for the caller's calendar feed URL; the old URL stops working at once.",
    )
    create_webhook: WebhookPayload = strawberry.mutation(resolver=create_webhook)
    delete_webhook: DeletePayload = strawberry.mutation(resolver=delete_webhook)
    schedule_update_request: UpdateRequestPayload = strawberry.mutation(
        resolver=schedule_update_request, description=STAFF_ONLY
    )
    set_update_request_status: UpdateRequestPayload = strawberry.mutation(
        resolver=set_update_request_status, description=STAFF_ONLY
    )
    roll_out_group_update: RollOutGroupUpdatePayload = strawberry.mutation(
        resolver=roll_out_group_update,
        description=f"{STAFF_ONLY} startGroupRollout with its default wave size and error budget; "
        "answers with the rollout's requests.",
        deprecation_reason="Use startGroupRollout",
    )
    create_maintenance_window: MaintenanceWindowPayload = strawberry.mutation(
        resolver=create_maintenance_window, description=STAFF_ONLY
    )
    update_maintenance_window: MaintenanceWindowPayload = strawberry.mutation(
        resolver=update_maintenance_window, description=STAFF_ONLY
    )
    delete_maintenance_window: DeletePayload = strawberry.mutation(
        resolver=delete_maintenance_window, description=STAFF_ONLY
    )
    create_blackout: BlackoutPayload = strawberry.mutation(resolver=create_blackout, description=STAFF_ONLY)
    delete_blackout: DeletePayload = strawberry.mutation(resolver=delete_blackout, description=STAFF_ONLY)
    start_group_rollout: GroupRolloutPayload = strawberry.mutation(
        resolver=start_group_rollout, description=STAFF_ONLY
    )
    pause_group_rollout: GroupRolloutPayload = strawberry.mutation(
        resolver=pause_group_rollout, description=STAFF_ONLY
    )
    resume_group_rollout: GroupRolloutPayload = strawberry.mutation(
        resolver=resume_group_rollout, description=STAFF_ONLY
    )
    cancel_group_rollout: GroupRolloutPayload = strawberry.mutation(
        resolver=cancel_group_rollout, description=STAFF_ONLY
    )
