import re

from structlog.testing import capture_logs

from models.enums import EnvironmentKind, Role, UpdateStatus
from tests.factories import make_account, make_district, make_request, make_token
from tests.support_graphql import api_client


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample in the text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # the exposition sorts labels
    braces = f"{{{wanted}}}" if labels else ""
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(braces)} (\S+)$", re.M)
    match = pattern.search(text)
    return float(match.group(1)) if match else 0.0


async def test_operation_is_logged_once_and_counted(db):
    district = await make_district()
    account = await make_account(Role.TECHNICAL_CONTACT, [district])
    token = await make_token(account)
    async with api_client() as client:
        before = (await client.http.get("/metrics")).text
        with capture_logs() as logs:
            body = await client.post("query WhoAmI { viewer { account { email } } }", token=token)
        after = (await client.http.get("/metrics")).text
    assert body["data"]["viewer"]["account"]["email"] == account.email
    lines = [line for line in logs if line["event"] == "graphql operation"]
    assert len(lines) == 1
    assert lines[0]["operation"] == "WhoAmI"
    assert lines[0]["account_id"] == account.id
    assert lines[0]["outcome"] == "ok"
    assert lines[0]["duration_ms"] >= 0
    assert lines[0]["root_fields"] == ["viewer"]
    assert lines[0]["cost"] == 2  # viewer and its account: two objects
    # Counted by root field, never by the client's operation name.
    counted = "updatedesk_graphql_operations_total"
    assert (
        sample(after, counted, root_field="viewer", outcome="ok")
        == sample(before, counted, root_field="viewer", outcome="ok") + 1
    )
    assert "WhoAmI" not in after
    assert sample(after, "updatedesk_graphql_operation_cost_count") == (
        sample(before, "updatedesk_graphql_operation_cost_count") + 1
    )


async def test_unauthenticated_operation_counts_as_refused(db):
    async with api_client() as client:
        with capture_logs() as logs:
            await client.post("query Anon { viewer { account { email } } }")
    lines = [line for line in logs if line["event"] == "graphql operation"]
    assert [(line["operation"], line["outcome"], line["account_id"], line["cost"]) for line in lines] == [
        ("Anon", "refused", None, None)
    ]


async def test_request_id_is_echoed_or_made_up(db):
    async with api_client() as client:
        given = await client.http.get("/healthz", headers={"X-Request-ID": "abc-123"})
        made_up = await client.http.get("/healthz")
        hostile = await client.http.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert given.headers["x-request-id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", made_up.headers["x-request-id"])
    assert hostile.headers["x-request-id"] != "x" * 500


async def test_metrics_report_requests_by_status(db):
    district = await make_district()
    await make_request(district)
    await make_request(district, environment=EnvironmentKind.STAGING)
    await make_request(district, status=UpdateStatus.NOT_STARTED)
    async with api_client() as client:
        response = await client.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert sample(response.text, "updatedesk_update_requests", status="TO_BE_SCHEDULED") == 2
    assert sample(response.text, "updatedesk_update_requests", status="NOT_STARTED") == 1
    assert sample(response.text, "updatedesk_queue_depth", queue="updates") == 1
    assert sample(response.text, "updatedesk_update_requests", status="COMPLETED") == 0


async def test_request_paths_are_counted_by_route_not_by_raw_path(db):
    """Static files and calendar feeds (whose path holds a secret) share one label per route
    family, so scanners and many files cannot grow the label set; unknown paths are "other"."""
    counted = "updatedesk_http_requests_total"
    async with api_client() as client:
        before = (await client.http.get("/metrics")).text
        for path in ("/web/js/main.js", "/web/app.css", "/web/no-such-file.js"):
            await client.http.get(path)
        for secret in ("aaaa", "bbbb"):
            await client.http.get(f"/calendar/{secret}.ics")
        await client.http.get("/")
        await client.http.get("/wp-login.php")
        after = (await client.http.get("/metrics")).text
    for path, status, count in (
        ("/web/*", "200", 2),
        ("/web/*", "404", 1),
        ("/calendar/*", "404", 2),
        ("/", "200", 1),
        ("other", "404", 1),
    ):
        labels = {"path": path, "status": status}
        assert sample(after, counted, **labels) - sample(before, counted, **labels) == count, labels
    for raw in ("main.js", "app.css", "aaaa", "wp-login"):
        assert raw not in after
