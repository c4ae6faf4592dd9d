"""A page of 1 and a page of 100 requests, with every nested relation, cost the same statements."""

from __future__ import annotations

from models.access import Mover
from models.clock import utcnow
from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.tables import StatusChange, UpdateRequest
from tests.factories import make_account, make_district, make_group, make_request, make_token
from tests.support_graphql import api_client
from tests.support_sql import count_statements

QUERY = """query($first: Int) { updateRequests(first: $first) { totalCount edges { node {
  id status district { name updateGroup { name } environments { kind } }
  environment { kind currentVersion scheduledUpdates { id } }
  requestedBy { email districts { name } } supersededBy { id }
  history { from to by { email } } canCancel canDelete } } } }"""


async def test_statement_count_does_not_grow_with_the_page(db) -> None:
    group = await make_group()
    districts = [await make_district(group=group) for _ in range(4)]
    staff = await make_account(Role.HOSTING_STAFF)
    contacts = [await make_account(Role.TECHNICAL_CONTACT, [d]) for d in districts]
    previous = None
    for i in range(110):
        district = districts[i % 4]
        row = await make_request(
            district,
            kind=UpdateKind.DATABASE_REFRESH,
            environment=EnvironmentKind.SANDBOX,
            status=UpdateStatus.COMPLETED,
            requested_by=contacts[i % 4],
        )
        if previous is not None:
            await UpdateRequest.filter(id=previous.id).update(superseded_by_id=row.id)
        previous = row
        await StatusChange.create(
            update_request_id=row.id,
            to_status=UpdateStatus.TO_BE_SCHEDULED,
            at=utcnow(),
            by_id=contacts[i % 4].id,
            actor=Mover.REQUESTER.value,
        )
        await StatusChange.create(
            update_request_id=row.id,
            from_status=UpdateStatus.TO_BE_SCHEDULED,
            to_status=UpdateStatus.COMPLETED,
            at=utcnow(),
            by_id=staff.id,
            actor=Mover.STAFF.value,
        )
    # The newest row points somewhere too, so a page of one also resolves supersededBy.
    first_row = await UpdateRequest.filter().order_by("id").first()
    assert previous is not None and first_row is not None
    await UpdateRequest.filter(id=previous.id).update(superseded_by_id=first_row.id)
    token = await make_token(staff)
    async with api_client() as client:
        await client.data(QUERY, {"first": 1}, token)  # warm up: token's last_used_at is written once
        counts = {}
        for first in (1, 100):
            with count_statements() as counter:
                data = await client.data(QUERY, {"first": first}, token)
            assert len(data["updateRequests"]["edges"]) == first
            counts[first] = counter.count
    assert counts[1] == counts[100], counts
    assert counts[100] <= 20, counts
