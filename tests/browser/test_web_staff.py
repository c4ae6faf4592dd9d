"""The hosting staff's queue on the Manage Updates page: schedule a request into a maintenance
slot (a start outside the window is refused next to the start field), and change a status with
a message, against a real `updatedesk dev`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.browser.web_page import STAFF, TC, request_item, signed_in, status_of
from tests.browser.web_server import WebServer, district_id, first_slot, request_via_api

pytestmark = pytest.mark.browser

REQUEST = "query($id: ID!) { updateRequest(id: $id) { status scheduledStart statusMessage } }"


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
