"""The review report as a reviewer opens it: the HTML file in Chromium, offline."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mlprod.comparison.break_even import break_even
from mlprod.comparison.compare import compare
from mlprod.report import Review, write_review
from tests.conftest import api_70b_vs_ft_7b_on_two_l4s

pytestmark = pytest.mark.e2e


def test_the_html_review_opens_offline_with_every_chart_drawn(browser, tmp_path, artifacts):
    a, b = api_70b_vs_ft_7b_on_two_l4s()
    comparison = compare(a, b)
    review = Review(comparison, even=break_even(a, b), link="https://mlprod.test/compare?a=1&b=2")
    path = write_review(review, tmp_path / "review.html")
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    asked: list[str] = []
    context.route("**/*", lambda route: (asked.append(route.request.url), route.continue_()))
    page = context.new_page()
    try:
        page.goto(path.as_uri())
        expect(page.locator("#verdict")).to_have_text(comparison.verdict)
        charts = page.locator(".chart svg")
        expect(charts).to_have_count(3)
        for i in range(3):  # each drawn: its bars or lines are there, not an empty frame
            marks = charts.nth(i).locator("path, rect, line")
            assert marks.count() > 10
        height = page.evaluate("document.body.scrollHeight")
        page.set_viewport_size({"width": 1200, "height": int(height) + 40})
        page.screenshot(path=str(artifacts / "review-html.png"), full_page=True)
    finally:
        context.close()
    assert asked == [path.as_uri()]  # the file itself, and nothing from any network
