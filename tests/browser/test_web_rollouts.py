"""Group rollouts on the Manage Updates page, read-only: hosting staff see every rollout with its
requests counted per status, a state contact those of their group, a technical contact none (the
API's rule), against the demo's rollouts in a real `updatedesk dev`."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.web_page import STAFF, STATE, TC, signed_in
from tests.browser.web_server import WebServer

pytestmark = pytest.mark.browser

ROLLOUTS = """
{ groupRollouts { id environment targetVersion status updateGroup { name } counts { status count } } }"""
ENVIRONMENT = {"PRODUCTION": "Production", "SANDBOX": "Sandbox", "STAGING": "Staging", "PREVIEW": "Preview"}
#: A rollout's status in words.
ROLLOUT_WORD = re.compile("^(Running|Paused|Halted|Completed|Cancelled)$")
STATUS = {
    "TO_BE_SCHEDULED": "To Be Scheduled",
    "SCHEDULED": "Scheduled",
    "NOT_STARTED": "Not Started",
    "IN_PROGRESS": "In Progress",
    "COMPLETED": "Completed",
    "PENDING_INPUT": "Pending Input",
    "DEFERRED": "Deferred",
    "NEW_VERSION_REQUESTED": "New Version Requested",
    "UNABLE_TO_COMPLETE": "Unable to Complete",
    "CANCELLED": "Cancelled",
}


def section(page: Page) -> Locator:
    return page.get_by_role("region", name="Group rollouts")


async def shows_as_the_api_says(page: Page, rollouts: list[dict[str, Any]]) -> None:
    """One card per rollout, newest first, titled by group, environment and version, with its
    requests counted per status. The demo's rollouts are running (the scheduler moves their
    requests meanwhile), so the counts are compared by their total, which no move changes."""
    cards = section(page).locator("li.rollout")
    await expect(cards).to_have_count(len(rollouts))
    for card, rollout in zip(await cards.all(), rollouts, strict=True):
        group, environment = rollout["updateGroup"]["name"], ENVIRONMENT[rollout["environment"]]
        title = f"{group}: {environment} to {rollout['targetVersion']}"
        await expect(card.get_by_role("heading", level=3)).to_have_text(title)
        await expect(card.locator(".rollout-status")).to_have_text(ROLLOUT_WORD)
        shown = await card.get_by_role("list", name="Requests by status").locator("li").all_inner_texts()
        words = {text.split(" ", 1)[1] for text in shown}
        assert words <= set(STATUS.values()), shown
        assert sum(int(text.split(" ", 1)[0]) for text in shown) == sum(c["count"] for c in rollout["counts"])


async def test_staff_and_group_contacts_see_the_rollouts_they_may_see(
    browser: Browser, web: WebServer
) -> None:
    everything = (await web.gql(STAFF, ROLLOUTS))["groupRollouts"]
    theirs = (await web.gql(STATE, ROLLOUTS))["groupRollouts"]
    assert everything and theirs and len(theirs) < len(everything)  # the demo has both kinds

    async with signed_in(browser, web, STAFF) as page:
        await shows_as_the_api_says(page, everything)
    async with signed_in(browser, web, STATE) as page:
        await shows_as_the_api_says(page, theirs)
    async with signed_in(browser, web, TC) as page:
        await expect(page.locator("li.request").first).to_be_visible()
        await expect(page.get_by_role("heading", name="Group rollouts")).to_have_count(0)
