"""The hosting staff's queue on the Manage Updates page: schedule a request into a maintenance
slot (a start outside the window is refused next to the start field), the pre-flight of a start
(a blackout shown in words before submitting, the override offered only where the API allows
it), the scheduled work in conflict, and a status change with a message, against a real
`updatedesk dev`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.browser.web_page import STAFF, TC, request_item, signed_in, status_of
from tests.browser.web_server import WebServer, district_id, first_slot, request_via_api, schedule_via_api

pytestmark = pytest.mark.browser

REQUEST = "query($id: ID!) { updateRequest(id: $id) { status scheduledStart statusMessage } }"
BLACKOUT = """
mutation($input: BlackoutInput!) {
  createBlackout(input: $input) { blackout { id } errors { code message field } }
}"""
DELETE_BLACKOUT = "mutation($id: ID!) { deleteBlackout(id: $id) { errors { code } } }"
SLOTS = "query($d: ID!) { maintenanceWindows(districtId: $d, first: 2) { start } }"
CANCEL = "mutation($id: ID!) { cancelUpdateRequest(id: $id) { errors { code } } }"


async def test_staff_schedules_from_the_queue_and_changes_a_status(browser: Browser, web: WebServer) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    request_id = await request_via_api(
        web, TC, lakeside, kind="VERSION_UPDATE", environment="PREVIEW", targetVersion="Campus.2435.3"
    )
    slot = await first_slot(web, lakeside)

    # The staff member's browser is on UTC, so a datetime-local value is a UTC time.
    async with signed_in(browser, web, STAFF, time_zone="UTC") as page:
        await expect(page.get_by_role("heading", level=1, name="Update queue")).to_be_visible()
        await expect(page.get_by_label("Status", exact=True)).to_have_value("TO_BE_SCHEDULED")
        item = request_item(page, request_id)
        await expect(item).to_contain_text("Lakeside Public Schools")
        await expect(status_of(item)).to_have_text("To Be Scheduled")

        await item.get_by_role("button", name="Schedule").click()
        dialog = page.get_by_role("dialog", name="Schedule")
        slot_choices = dialog.get_by_role("radio")
        await expect(slot_choices).to_have_count(5)  # four next slots and "Another time"

        # A day after the slot is outside the Thursday window: refused, shown next to Start.
        outside = datetime.fromisoformat(slot).astimezone(UTC) + timedelta(days=1)
        await dialog.get_by_label("Another time").check()
        await dialog.get_by_label("Other start").fill(outside.strftime("%Y-%m-%dT%H:%M"))
        await dialog.get_by_role("button", name="Schedule").click()
        await expect(dialog.locator("#sf-start-error")).to_contain_text("maintenance window")
        await expect(dialog.get_by_label("Override maintenance window")).not_to_be_checked()
        assert (await web.gql(STAFF, REQUEST, id=request_id))["updateRequest"]["status"] == "TO_BE_SCHEDULED"

        # The first slot is accepted.
        await slot_choices.first.check()
        await dialog.get_by_role("button", name="Schedule").click()
        await expect(dialog).to_be_hidden()
        await expect(status_of(item)).to_have_text("Scheduled")
        stored = (await web.gql(STAFF, REQUEST, id=request_id))["updateRequest"]
        assert stored["status"] == "SCHEDULED"
        assert datetime.fromisoformat(stored["scheduledStart"]) == datetime.fromisoformat(slot)

        # A status change without the message the district needs is refused next to Message.
        await item.get_by_role("button", name="Change status").click()
        change = page.get_by_role("dialog", name="Change status")
        await change.get_by_label("New status").select_option(label="Pending Input")
        await change.get_by_role("button", name="Change status").click()
        await expect(change.locator("#st-message-error")).to_contain_text("needs a message")
        await change.get_by_label("Message for the district").fill("Please confirm the SSO change.")
        await change.get_by_role("button", name="Change status").click()
        await expect(change).to_be_hidden()
        await expect(status_of(item)).to_have_text("Pending Input")
        await expect(item).to_contain_text("Please confirm the SSO change.")
    stored = (await web.gql(TC, REQUEST, id=request_id))["updateRequest"]
    assert stored["status"] == "PENDING_INPUT"
    assert stored["statusMessage"] == "Please confirm the SSO change."


async def test_staff_overrides_the_maintenance_window(browser: Browser, web: WebServer) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    request_id = await request_via_api(
        web, TC, lakeside, kind="VERSION_UPDATE", environment="PREVIEW", targetVersion="Campus.2435.9"
    )
    slot = await first_slot(web, lakeside)
    outside = datetime.fromisoformat(slot).astimezone(UTC) + timedelta(days=2)
    async with signed_in(browser, web, STAFF, time_zone="UTC") as page:
        item = request_item(page, request_id)
        await item.get_by_role("button", name="Schedule").click()
        dialog = page.get_by_role("dialog", name="Schedule")
        await dialog.get_by_label("Other start").fill(outside.strftime("%Y-%m-%dT%H:%M"))  # focus picks it
        await dialog.get_by_label("Override maintenance window").check()
        await dialog.get_by_role("button", name="Schedule").click()
        await expect(dialog).to_be_hidden()
        await expect(status_of(item)).to_have_text("Scheduled")
        await item.get_by_text("History").click()
        await expect(item.locator(".history")).to_contain_text("outside the maintenance window, by override")


async def test_a_blackout_over_scheduled_work_is_shown_and_the_schedule_checks_a_start_first(
    browser: Browser, web: WebServer
) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    request_id = await request_via_api(
        web, TC, lakeside, kind="VERSION_UPDATE", environment="STAGING", targetVersion="Campus.2435.9"
    )
    slot = datetime.fromisoformat(await first_slot(web, lakeside))
    await schedule_via_api(web, request_id, slot.isoformat())
    # Declared after the request was scheduled into the slot: nothing moves, the start conflicts.
    created = await web.gql(
        STAFF,
        BLACKOUT,
        input={
            "start": (slot - timedelta(hours=1)).isoformat(),
            "end": (slot + timedelta(hours=6)).isoformat(),
            "reason": "State testing week",
            "districtId": lakeside,
        },
    )
    assert created["createBlackout"]["errors"] == [], created
    blackout_id = created["createBlackout"]["blackout"]["id"]
    try:
        async with signed_in(browser, web, STAFF, time_zone="UTC") as page:
            conflicted = page.locator(f'li.conflicted-request[data-request-id="{request_id}"]')
            await expect(conflicted).to_contain_text("Blackout:")
            await expect(conflicted).to_contain_text("State testing week")

            await conflicted.get_by_role("button", name="Reschedule").click()
            dialog = page.get_by_role("dialog", name="Schedule")
            slot_choices = dialog.get_by_role("radio")
            await expect(slot_choices).to_have_count(5)  # four next slots and "Another time"
            await expect(slot_choices.first).to_be_checked()
            # The pre-flight of the chosen slot, in words next to the start, before submitting.
            check = dialog.locator("#sf-start-check")
            await expect(check).to_contain_text("Blackout:")
            await expect(check).to_contain_text("State testing week")
            described = await dialog.get_by_role("group", name="Start").get_attribute("aria-describedby")
            assert "sf-start-check" in (described or "").split()
            # A blackout cannot be overridden: the override is not offered.
            await expect(dialog.get_by_label("Override maintenance window")).to_be_disabled()

            # Submitted anyway, the API refuses with the blackout next to the start.
            await dialog.get_by_role("button", name="Schedule", exact=True).click()
            await expect(dialog.locator("#sf-start-error")).to_contain_text("State testing week")

            # The next possible start has no conflict; scheduled there, the conflict is gone.
            await dialog.get_by_role("button", name=re.compile("^Use the next possible start")).click()
            await expect(check).to_contain_text("No conflict at this start.")
            await expect(dialog.get_by_label("Another time")).to_be_checked()
            await dialog.get_by_role("button", name="Schedule", exact=True).click()
            await expect(dialog).to_be_hidden()
            await expect(conflicted).to_have_count(0)
            stored = (await web.gql(STAFF, REQUEST, id=request_id))["updateRequest"]
            assert stored["status"] == "SCHEDULED"
            assert datetime.fromisoformat(stored["scheduledStart"]) >= slot + timedelta(hours=6)
    finally:
        assert (await web.gql(STAFF, DELETE_BLACKOUT, id=blackout_id))["deleteBlackout"]["errors"] == []
        assert (await web.gql(TC, CANCEL, id=request_id))["cancelUpdateRequest"]["errors"] == []


async def test_the_override_is_offered_only_for_a_window_conflict(browser: Browser, web: WebServer) -> None:
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    request_id = await request_via_api(
        web, TC, lakeside, kind="VERSION_UPDATE", environment="PREVIEW", targetVersion="Campus.2439.1"
    )
    slot = datetime.fromisoformat(await first_slot(web, lakeside)).astimezone(UTC)
    async with signed_in(browser, web, STAFF, time_zone="UTC") as page:
        await request_item(page, request_id).get_by_role("button", name="Schedule").click()
        dialog = page.get_by_role("dialog", name="Schedule")
        check = dialog.locator("#sf-start-check")
        override = dialog.get_by_label("Override maintenance window")
        await expect(check).to_contain_text("No conflict at this start.")  # the first slot
        await expect(override).to_be_disabled()
        await dialog.get_by_label("Other start").fill((slot + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
        await expect(check).to_contain_text("Outside the maintenance window:")
        await expect(override).to_be_enabled()
        await dialog.get_by_role("radio").first.check()
        await expect(check).to_contain_text("No conflict at this start.")
        await expect(override).to_be_disabled()
        await dialog.get_by_role("button", name="Close").click()
    assert (await web.gql(TC, CANCEL, id=request_id))["cancelUpdateRequest"]["errors"] == []


async def test_inside_a_window_the_schedule_dialog_offers_only_slots_ahead(
    browser: Browser, web: WebServer
) -> None:
    # Opened inside a maintenance window, the dialog used to preselect the slot in progress, whose
    # start is in the past: its pre-flight said "The start is in the past" and Schedule was refused.
    lakeside = await district_id(web, TC, "Lakeside Public Schools")
    request_id = await request_via_api(
        web, TC, lakeside, kind="VERSION_UPDATE", environment="PREVIEW", targetVersion="Campus.2439.1"
    )
    slots = (await web.gql(STAFF, SLOTS, d=lakeside))["maintenanceWindows"]
    first, second = (datetime.fromisoformat(slot["start"]) for slot in slots[:2])
    async with signed_in(browser, web, STAFF, time_zone="UTC") as page:
        # The page's clock an hour into the first slot (the server's is not: the slots it lists
        # are the same, the first now in progress as the page sees it).
        await page.clock.set_fixed_time(first + timedelta(hours=1))
        await request_item(page, request_id).get_by_role("button", name="Schedule").click()
        dialog = page.get_by_role("dialog", name="Schedule")
        slot_choices = dialog.get_by_role("radio")
        await expect(slot_choices).to_have_count(5)  # still four slots, and "Another time"
        await expect(slot_choices.first).to_be_checked()
        offered = datetime.fromisoformat(await slot_choices.first.get_attribute("value") or "")
        assert offered == second
        await dialog.get_by_role("button", name="Close").click()
    assert (await web.gql(TC, CANCEL, id=request_id))["cancelUpdateRequest"]["errors"] == []
