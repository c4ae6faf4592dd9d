"""The Manage Updates page as district contacts use it, in headless Chromium against a real
`updatedesk dev` (embedded default, demo world): request, watch live, cancel, delete, Hide
Complete, switching districts, refusals shown next to their field, sign-in by token."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.browser.web_page import (
    CONSORTIUM,
    ESA,
    PARTNER,
    STAFF,
    STATE,
    TC,
    open_page,
    request_item,
    shown_request_ids,
    signed_in,
    status_of,
)
from tests.browser.web_server import (
    WebServer,
    district_id,
    first_slot,
    request_via_api,
    schedule_via_api,
    status_via_api,
)
from tests.support_live import wait_until

pytestmark = pytest.mark.browser


async def choose_district(page: Page, name: str) -> None:
    await page.get_by_label("District", exact=True).select_option(label=name)
    await expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()


async def test_contact_requests_a_refresh_and_watches_it_complete_live(
    browser: Browser, web: WebServer
) -> None:
    async with signed_in(browser, web, TC) as page:
        await expect(page.get_by_role("heading", level=1, name="Lakeside Public Schools")).to_be_visible()
        # One district: no District combobox.
        await expect(page.get_by_label("District", exact=True)).to_have_count(0)

        await page.get_by_role("button", name="Request update").click()
        form = page.get_by_role("dialog", name="Request update")
        await form.get_by_label("Kind").select_option(label="Database refresh")
        await expect(form.get_by_label("Version")).to_have_count(0)  # a refresh takes no version
        await form.get_by_label("Environment").select_option("SANDBOX")
        await form.get_by_label("Notes").fill("Fresh data for the training week")
        await form.get_by_role("button", name="Send request").click()
        await expect(form).to_be_hidden()

        item = page.locator(
            "li.request", has=page.get_by_role("heading", name="Database refresh · Sandbox")
        ).first
        await expect(status_of(item)).to_have_text("To Be Scheduled")
        request_id = await item.get_attribute("data-request-id")
        assert request_id

        # Hosting staff schedule it now; the page follows without reloading.
        await schedule_via_api(web, request_id)
        await expect(status_of(item)).to_have_text("In Progress")
        await expect(item.get_by_role("progressbar")).to_be_visible()
        await expect(status_of(item)).to_have_text("Completed")
        await expect(item.get_by_role("progressbar")).to_have_count(0)
        sandbox = page.locator("li.environment", has=page.get_by_role("heading", name="Sandbox"))
        await expect(sandbox).not_to_contain_text("never")  # last refresh is now known

        # History on expand, oldest first, in the seed's words.
        await item.get_by_text("History").click()
        await expect(item.locator(".history li")).to_have_count(5)
        await expect(item.locator(".history li").last).to_contain_text("In Progress → Completed")

        # Completed: Delete (not Cancel), after a confirmation in the seed's words.
        await expect(item.get_by_role("button", name="Cancel")).to_have_count(0)
        await item.get_by_role("button", name="Delete").click()
        confirm = page.get_by_role("dialog", name="Please confirm")
        await expect(confirm).to_contain_text("Are you sure that you would like to delete this request?")
        await confirm.get_by_role("button", name="Yes").click()
        await expect(item).to_have_count(0)
        await expect(page.get_by_role("status")).to_have_text("The completed request was deleted.")
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    listed = await web.gql(
        TC, "query($d: ID!) { district(id: $d) { updateRequests { edges { node { id } } } } }", d=lakeside
    )
    assert request_id not in {e["node"]["id"] for e in listed["district"]["updateRequests"]["edges"]}


async def test_contact_cancels_a_scheduled_request(browser: Browser, web: WebServer) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    request_id = await request_via_api(
        web, TC, lakeside, kind="VERSION_UPDATE", environment="STAGING", targetVersion="Campus.2435.4"
    )
    slot = await first_slot(web, lakeside)
    async with signed_in(browser, web, TC) as page:
        item = request_item(page, request_id)
        await expect(status_of(item)).to_have_text("To Be Scheduled")
        await schedule_via_api(web, request_id, slot)
        await expect(status_of(item)).to_have_text("Scheduled")
        # Scheduled start in the viewer's zone (Berlin) and in Central time: 00:30 on a Thursday,
        # standard or daylight time as the slot's date has it.
        central = datetime.fromisoformat(slot).astimezone(ZoneInfo("America/Chicago")).tzname()
        await expect(item).to_contain_text("Central:")
        await expect(item).to_contain_text(f"12:30 AM {central}")

        # Saying No keeps it.
        await item.get_by_role("button", name="Cancel").click()
        confirm = page.get_by_role("dialog", name="Please confirm")
        await expect(confirm).to_contain_text("Are you sure that you would like to cancel this request?")
        await confirm.get_by_role("button", name="No").click()
        await expect(confirm).to_be_hidden()
        await expect(status_of(item)).to_have_text("Scheduled")

        await item.get_by_role("button", name="Cancel").click()
        await confirm.get_by_role("button", name="Yes").click()
        await expect(item).to_have_count(0)
    assert await status_via_api(web, STAFF, request_id) == "CANCELLED"


async def test_hide_complete_is_saved_and_survives_a_reload(browser: Browser, web: WebServer) -> None:
    prairie = await district_id(web, PARTNER, "Prairie ASP District")
    await web.gql(PARTNER, "mutation { setPreferences(hideCompleted: false) { hideCompleted } }")
    request_id = await request_via_api(web, PARTNER, prairie, kind="DATABASE_REFRESH", environment="SANDBOX")
    await schedule_via_api(web, request_id)

    async def completed() -> bool:
        return await status_via_api(web, PARTNER, request_id) == "COMPLETED"

    await wait_until(completed, "the refresh to complete", within=30)

    async with signed_in(browser, web, PARTNER) as page:
        hide = page.get_by_label("Hide Complete")
        await choose_district(page, "Prairie ASP District")
        item = request_item(page, request_id)
        await expect(status_of(item)).to_have_text("Completed")
        await expect(hide).not_to_be_checked()

        await hide.check()
        await expect(item).to_have_count(0)
        await page.reload()
        await choose_district(page, "Prairie ASP District")
        await expect(hide).to_be_checked()
        await expect(page.get_by_text("Showing ")).to_be_visible()
        await expect(item).to_have_count(0)

        await hide.uncheck()
        await expect(status_of(item)).to_have_text("Completed")
        await page.reload()
        await choose_district(page, "Prairie ASP District")
        await expect(hide).not_to_be_checked()
        await expect(item).to_be_visible()
    saved = await web.gql(PARTNER, "{ viewer { preferences { hideCompleted } } }")
    assert saved["viewer"]["preferences"]["hideCompleted"] is False


async def test_multi_district_contact_sees_only_the_chosen_district(browser: Browser, web: WebServer) -> None:
    north = await district_id(web, CONSORTIUM, "North River Schools")
    south = await district_id(web, CONSORTIUM, "South River Schools")
    north_first = await request_via_api(
        web, CONSORTIUM, north, kind="DATABASE_REFRESH", environment="STAGING"
    )
    south_first = await request_via_api(
        web, CONSORTIUM, south, kind="DATABASE_REFRESH", environment="STAGING"
    )

    async def ids_of(district: str) -> set[str]:
        query = "query($d: ID!) { district(id: $d) { updateRequests(first: 100) { edges { node { id } } } } }"
        edges = (await web.gql(CONSORTIUM, query, d=district))["district"]["updateRequests"]["edges"]
        return {edge["node"]["id"] for edge in edges}

    async with signed_in(browser, web, CONSORTIUM) as page:
        combobox = page.get_by_role("combobox", name="District")
        await expect(combobox.locator("option")).to_have_text(["North River Schools", "South River Schools"])

        await choose_district(page, "North River Schools")
        await expect(request_item(page, north_first)).to_be_visible()
        assert await shown_request_ids(page) <= await ids_of(north)

        await choose_district(page, "South River Schools")
        await expect(request_item(page, south_first)).to_be_visible()
        await expect(request_item(page, north_first)).to_have_count(0)
        assert await shown_request_ids(page) <= await ids_of(south)

        # Live: a new North request never shows while South is chosen; the next South one does.
        north_new = await request_via_api(
            web, CONSORTIUM, north, kind="DATABASE_REFRESH", environment="SANDBOX"
        )
        south_new = await request_via_api(
            web, CONSORTIUM, south, kind="DATABASE_REFRESH", environment="SANDBOX"
        )
        await expect(request_item(page, south_new)).to_be_visible()
        await expect(request_item(page, north_new)).to_have_count(0)
        assert await shown_request_ids(page) <= await ids_of(south)


async def test_refusals_show_next_to_the_field_they_name(browser: Browser, web: WebServer) -> None:
    async with signed_in(browser, web, STATE) as page:
        # Capital City is updated with its state group: the page says so up front.
        await expect(
            page.get_by_text("Version updates of this district come with its state group")
        ).to_be_visible()
        await page.get_by_role("button", name="Request update").click()
        form = page.get_by_role("dialog", name="Request update")

        # A preferred start in the past: refused on preferredStart, shown under that field.
        await form.get_by_label("Kind").select_option(label="Database refresh")
        await form.get_by_label("Environment").select_option("SANDBOX")
        yesterday = (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        start = form.get_by_label("Preferred start")
        await start.fill(yesterday)
        await form.get_by_role("button", name="Send request").click()
        await expect(form.locator("#rf-start-error")).to_contain_text("preferredStart is in the past.")
        await expect(start).to_have_attribute("aria-invalid", "true")
        await expect(start).to_have_attribute("aria-describedby", "rf-start-error")
        await expect(start).to_be_focused()
        await expect(form.get_by_label("Environment")).to_have_attribute("aria-invalid", "false")

        # A version update of the sandbox: refused on environment, shown under Environment.
        await start.fill("")
        await form.get_by_label("Kind").select_option(label="Version update")
        await form.get_by_label("Environment").select_option("SANDBOX")
        await form.get_by_role("button", name="Send request").click()
        await expect(form.locator("#rf-environment-error")).to_contain_text("The sandbox follows production")
        await expect(form.locator("#rf-start-error")).to_have_count(0)

        # Production of a group-managed district: GROUP_MANAGED names districtId, not a form
        # field, so the message goes on top of the form.
        await form.get_by_label("Environment").select_option("PRODUCTION")
        await form.get_by_role("button", name="Send request").click()
        await expect(form.get_by_role("alert")).to_contain_text("updated with its state or consortium group")
        await form.get_by_role("button", name="Close").click()
        await expect(form).to_be_hidden()


async def test_sign_in_with_a_pasted_token_kept_for_the_tab_only(browser: Browser, web: WebServer) -> None:
    async with open_page(browser, web) as page:
        token_field = page.get_by_label("API token", exact=True)
        await token_field.fill("ud_not-a-real-token")
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(page.locator("#token-error")).to_have_text("That token is unknown, expired or revoked.")

        await token_field.fill(web.tokens[TC])
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(page.get_by_role("heading", level=1, name="Lakeside Public Schools")).to_be_visible()
        assert web.tokens[TC] not in page.url
        assert await page.evaluate("sessionStorage.getItem('updatedesk:token')") == web.tokens[TC]
        assert await page.evaluate("localStorage.length") == 0

        await page.reload()  # same tab: still signed in
        await expect(page.get_by_role("heading", level=1, name="Lakeside Public Schools")).to_be_visible()
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_label("API token", exact=True)).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('updatedesk:token')") is None


async def test_request_list_is_paged_newest_first(browser: Browser, web: WebServer) -> None:
    prairie = await district_id(web, ESA, "Prairie ASP District")
    # Each newer version supersedes the one before: the older ones stay listed as
    # "New Version Requested".
    chain = [
        await request_via_api(
            web, ESA, prairie, kind="VERSION_UPDATE", environment="PRODUCTION", targetVersion=v
        )
        for v in ("Campus.2435.3", "Campus.2435.4", "Campus.2435.9")
    ]
    query = "query($d: ID!) { district(id: $d) { updateRequests(first: 100) { edges { node { id } } } } }"
    edges = (await web.gql(ESA, query, d=prairie))["district"]["updateRequests"]["edges"]
    newest_first = [edge["node"]["id"] for edge in edges]
    assert newest_first[:3] == chain[::-1]

    async with open_page(browser, web) as page:
        # The page asks for 10 per page; pages of 2 show the paging with few requests.
        async def smaller_pages(route: Route) -> None:
            response = await route.fetch()
            body = (await response.text()).replace("PAGE_SIZE = 10;", "PAGE_SIZE = 2;")
            assert "PAGE_SIZE = 2;" in body
            await route.fulfill(response=response, body=body)

        await page.route("**/web/js/list.js", smaller_pages)
        await page.reload()
        await page.get_by_role("button", name=f"Sign in as {ESA}").click()
        await choose_district(page, "Prairie ASP District")
        await expect(page.locator("li.request")).to_have_count(2)
        await expect(page.get_by_text(f"Showing 2 of {len(newest_first)}.")).to_be_visible()
        await expect(status_of(request_item(page, chain[0]))).to_have_count(0)

        await page.get_by_role("button", name="Show more requests").click()
        await expect(page.locator("li.request")).to_have_count(min(4, len(newest_first)))
        shown = await page.locator("li.request").evaluate_all("items => items.map(i => i.dataset.requestId)")
        assert shown == newest_first[: len(shown)]
        await expect(status_of(request_item(page, chain[0]))).to_have_text("New Version Requested")
        await expect(status_of(request_item(page, chain[2]))).to_have_text("To Be Scheduled")
