"""Hostile text in run names, tags and notes is shown as text on every page, never run."""

from __future__ import annotations

import csv

import pytest
from playwright.sync_api import expect

from .conftest import wait_idle

pytestmark = pytest.mark.e2e

HOSTILE = {
    "xss-img": "<img src=x onerror=alert(1)>",
    "xss-script": "<script>alert(2)</script>",
    "formula": '=HYPERLINK("http://example.invalid","x")',
    "sql": "'; DROP TABLE calculations; --",
    "rtl-emoji": "نموذج 🚀 модель",
}


def test_hostile_names_are_text_everywhere(server, page, tmp_path):
    fired = []
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    path = tmp_path / "hostile.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model_name", "run_id", "tags", "notes", "f1", "training_cost",
                         "inference_cost", "training_hours", "latency_ms"])  # fmt: skip
        for i, (key, text) in enumerate(HOSTILE.items()):
            writer.writerow([text, f"{key}-{i}", text, text, 0.8 + i / 100, 100, 10, 2, 20])

    page.goto(server["url"] + "/batch")
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_text("With errors", exact=True)).to_be_visible(timeout=20_000)
    wait_idle(page)
    page.get_by_role("button", name="Save 5 rows to history").click()
    expect(page.get_by_text("Saved 5 rows to the history")).to_be_visible(timeout=20_000)

    page.goto(server["url"] + "/history")
    wait_idle(page)
    expect(page.get_by_text("Best CER")).to_be_visible(timeout=20_000)
    page.goto(server["url"] + "/compare")
    wait_idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path="/tmp/hostile_compare.png", full_page=True)
    expect(page.get_by_text("Model A vs model B")).to_be_visible(timeout=20_000)
    # The two newest models are hostile names: their labels are plain text on the page.
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert HOSTILE["rtl-emoji"] in body or HOSTILE["sql"] in body
    assert page.locator("img[src=x]").count() == 0
    assert page.locator('[data-testid="stMain"] script').count() == 0
    assert fired == []  # no alert() ever ran
