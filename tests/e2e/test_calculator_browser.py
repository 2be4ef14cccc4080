"""The calculator in a real browser against a real server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import full_screenshot, named, run_details, saved, wait_idle

pytestmark = pytest.mark.e2e


def test_fill_calculate_save_and_screenshot(server, page, artifacts):
    page.goto(server["url"])
    wait_idle(page)
    named(page)
    expect(page.get_by_text("0.00075", exact=True)).to_be_visible()  # the prefilled example

    page.get_by_role("textbox", name="Your name").fill("Grace")
    page.get_by_role("textbox", name="Your name").press("Enter")
    wait_idle(page)
    page.get_by_role("spinbutton", name="F1 score").fill("0.85")
    page.get_by_role("spinbutton", name="Latency (ms)").fill("20")
    run_details(page).fill("distilbert-base")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_text("distilbert-base: F1 0.85")).to_be_visible()
    expect(page.get_by_text("0.0425", exact=True)).to_be_visible()  # PSR 0.85 / 20

    page.get_by_role("button", name="Save to history").click()
    expect(page.get_by_text("Saved to the history.")).to_be_visible()
    full_screenshot(page, artifacts / "calculator.png")

    page.get_by_role("button", name="Save to history").click()  # again: no second row
    expect(page.get_by_text("already in the history")).to_be_visible()
    rows = saved(server["db"])
    mine = rows[rows.model_name == "distilbert-base"]
    assert len(mine) == 1
    assert (mine.iloc[0].author, mine.iloc[0].psr) == ("Grace", 0.0425)
    assert not page.get_by_text(re.compile("Traceback|Error:")).count()


def test_invalid_input_shows_message_next_to_form(server, page):
    page.goto(server["url"])
    wait_idle(page)
    page.get_by_role("spinbutton", name="F1 score").fill("90")
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_text("did you mean 0.90?")).to_be_visible()
    expect(page.get_by_role("button", name="Save to history")).to_have_count(0)


def test_two_sessions_saving_at_once_both_land(server, browser):
    before = len(saved(server["db"]))
    pages = []
    for name in ("first-session", "second-session"):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        p = context.new_page()
        p.goto(server["url"])
        wait_idle(p)
        named(p, name)
        run_details(p).fill(name)
        p.get_by_role("button", name="Calculate").click()
        expect(p.get_by_text(f"{name}: F1 0.9")).to_be_visible()
        pages.append(p)
    for p in pages:  # both clicks go out before either answer comes back
        p.get_by_role("button", name="Save to history").click(no_wait_after=True)
    for p in pages:
        expect(p.get_by_text("Saved to the history.")).to_be_visible()
        p.context.close()
    rows = saved(server["db"])
    assert len(rows) == before + 2
    assert {"first-session", "second-session"} <= set(rows.model_name)


def test_no_page_asks_the_internet_for_anything(server, page):
    """Offline, behind a firewall: every request stays on the dashboard's own address (the
    Material icon favicon was fetched from fonts.gstatic.com by every visit)."""
    from urllib.parse import urlparse

    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    for path in ("", "/batch", "/compare", "/history"):
        page.goto(server["url"] + path)
        wait_idle(page)
        page.wait_for_timeout(500)
    elsewhere = {urlparse(u).netloc for u in asked if urlparse(u).scheme in ("http", "https")}
    assert elsewhere == {urlparse(server["url"]).netloc}, elsewhere
    icon = page.locator('link[rel="shortcut icon"], link[rel="icon"]').first
    assert icon.get_attribute("href").startswith(("/media/", "./media/", server["url"]))
