from models.enums import EnvironmentKind, GroupKind, HostingModel, Role
from models.tables import Account, District, UpdateGroup
from models.tokens import authenticate
from updatedesk.demo import issue_demo_tokens, load_demo_if_empty


async def test_demo_world_shows_every_rule_and_loads_once(db):
    assert await load_demo_if_empty() is True
    assert await load_demo_if_empty() is False

    districts = await District.all().prefetch_related("environments", "update_group")
    by_group_kind = {d.update_group.kind if d.update_group else None for d in districts}
    assert {GroupKind.STATE, GroupKind.CONSORTIUM, None} <= by_group_kind
    cloud = [d for d in districts if d.hosting_model is HostingModel.CAMPUS_CLOUD]
    assert any(d.update_group is None for d in cloud)
    asp = [d for d in districts if d.hosting_model is HostingModel.ASP_HOSTED]
    review_sites = {EnvironmentKind.STAGING, EnvironmentKind.PREVIEW}
    assert asp and all({e.kind for e in d.environments}.isdisjoint(review_sites) for d in asp)
    consortium = await UpdateGroup.get(kind=GroupKind.CONSORTIUM).prefetch_related("districts")
    assert len(consortium.districts) == 2
    assert {a.role for a in await Account.all()} == set(Role)

    logins = await issue_demo_tokens()
    assert {login.role for login in logins} == {role.value for role in Role}
    for login in logins:
        assert (await authenticate(login.token)).account.email == login.email
