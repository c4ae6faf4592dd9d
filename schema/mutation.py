"""The Mutation root: one resolver module per mutation in resolvers/."""

from __future__ import annotations

import strawberry

from resolvers.cancel_update_request import cancel_update_request
from resolvers.delete_update_request import delete_update_request
from resolvers.request_update import request_update
from resolvers.roll_out_group_update import RollOutGroupUpdatePayload, roll_out_group_update
from resolvers.schedule_update_request import schedule_update_request
from resolvers.set_preferences import set_preferences
from resolvers.set_update_request_status import set_update_request_status
from schema.accounts import Preferences
from schema.payloads import DeletePayload, UpdateRequestPayload

STAFF_ONLY = "Hosting staff only (FORBIDDEN for everyone else)."


@strawberry.type
class Mutation:
    request_update: UpdateRequestPayload = strawberry.mutation(resolver=request_update)
    cancel_update_request: UpdateRequestPayload = strawberry.mutation(resolver=cancel_update_request)
    delete_update_request: DeletePayload = strawberry.mutation(resolver=delete_update_request)
    set_preferences: Preferences = strawberry.mutation(resolver=set_preferences)
    schedule_update_request: UpdateRequestPayload = strawberry.mutation(
        resolver=schedule_update_request, description=STAFF_ONLY
    )
    set_update_request_status: UpdateRequestPayload = strawberry.mutation(
        resolver=set_update_request_status, description=STAFF_ONLY
    )
    roll_out_group_update: RollOutGroupUpdatePayload = strawberry.mutation(
        resolver=roll_out_group_update, description=STAFF_ONLY
    )
