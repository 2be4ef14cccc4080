"""The comparison page from a permalink, in a real browser, with its PNG export."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mlprod.export import png_size

from .conftest import full_screenshot, wait_idle

pytestmark = pytest.mark.e2e

LINK = (
    "/compare?a=light-distilled~0.97~400~100~6~20"
    "&b=heavy-ensemble~0.99~45000~5000~200~500&w=1,1,1&tie=2"
)


def test_permalink_shows_both_models_verdict_and_downloads_png(server, page, artifacts):
    page.goto(server["url"] + LINK)
    wait_idle(page)
    expect(page.get_by_text("Choose A, light-distilled", exact=False)).to_be_visible()
    expect(page.get_by_role("textbox", name="Model name").first).to_have_value("light-distilled")
    expect(page.get_by_role("textbox", name="Model name").nth(1)).to_have_value("heavy-ensemble")
    expect(page.get_by_text("$24,750 per 0.01 F1", exact=False).first).to_be_visible()
    # The charts drew: Vega renders into canvas/SVG inside the chart containers.
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2
    # Screenshot-sized: each chart spans the page (side by side, a laptop screen left the
    # bars narrower than the values written on them), ratios above inputs.
    page.set_viewport_size({"width": 1280, "height": 1300})
    wait_idle(page)
    ratios, inputs = charts.nth(0).bounding_box(), charts.nth(1).bounding_box()
    assert ratios and inputs
    assert ratios["width"] > 700 and inputs["width"] > 600
    assert inputs["y"] >= ratios["y"] + ratios["height"] - 1
    page.set_viewport_size({"width": 1400, "height": 1300})

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download PNG").click()
    download = download_info.value
    data = download.path().read_bytes()
    assert png_size(data) == (2560, 1440)
    (artifacts / "comparison-card.png").write_bytes(data)
    assert download.suggested_filename.endswith(".png")

    link = page.locator('[data-testid="stCode"]').last.inner_text()
    assert "a=light-distilled" in link and "b=heavy-ensemble" in link
    full_screenshot(page, artifacts / "compare.png")
