from models.enums import EnvironmentKind, Role, UpdateKind, UpdateStatus
from models.requests.requesting import request_update
from models.tables import MaintenanceWindow, StatusChange
from tests.factories import actor_of, make_account, make_catalog, make_district


async def test_request_update_creates_request_and_history(db):
    district = await make_district()
    await make_catalog()
    account = await make_account(Role.TECHNICAL_CONTACT, [district])
    request = await request_update(
        await actor_of(account),
        district_id=district.id,
        kind=UpdateKind.VERSION_UPDATE,
        environment=EnvironmentKind.PRODUCTION,
        target_version="Campus.2435.4",
    )
    assert request.status is UpdateStatus.TO_BE_SCHEDULED
    history = await StatusChange.filter(update_request_id=request.id)
    assert [(h.from_status, h.to_status) for h in history] == [(None, UpdateStatus.TO_BE_SCHEDULED)]
    assert await MaintenanceWindow.all().count() == 1
