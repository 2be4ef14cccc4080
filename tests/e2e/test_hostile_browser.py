"""Hostile text in run names, tags and notes is shown as text on every page, never run."""

from __future__ import annotations

import csv

import pytest
from playwright.sync_api import expect

from mlprod.saving import normalize_tags

from .conftest import named, run_details, saved, upload, wait_idle

pytestmark = pytest.mark.e2e

HOSTILE = {
    "xss-img": "<img src=x onerror=alert(1)>",
    "xss-script": "<script>alert(2)</script>",
    "formula": '=HYPERLINK("http://example.invalid","x")',
    "sql": "'; DROP TABLE calculations; --",
    "rtl-emoji": "نموذج 🚀 модель",
    # as long as a model name may be (TEXT_LIMITS; longer is refused: test_hostile_input)
    "long": "L" * 185 + "<b>not bold</b>",
    "markdown": "**bold** _it_ :red[red] $x^2$ [link](javascript:alert(3)) # h",
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

    # Typed into the calculator: the heading shows the name as typed, nothing formatted.
    page.goto(server["url"])
    wait_idle(page)
    named(page)
    run_details(page).fill(HOSTILE["markdown"])
    page.get_by_role("button", name="Calculate").click()
    heading = page.get_by_role("heading", name="F1 0.9")
    expect(heading).to_have_text(f"{HOSTILE['markdown']}: F1 0.9")
    assert heading.locator("[data-heading-text] *").count() == 0  # plain text, no markup

    page.goto(server["url"] + "/batch")
    wait_idle(page)
    named(page)
    upload(page, path)
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_text("With errors", exact=True)).to_be_visible(timeout=20_000)
    wait_idle(page)
    page.get_by_role("button", name=f"Save {len(HOSTILE)} rows to history").click()
    expect(page.get_by_text(f"Saved {len(HOSTILE)} rows to the history")).to_be_visible(
        timeout=20_000
    )
    # Stored as written, tags as a list "a, b" (and the SQL text did nothing: the table is
    # still there).
    stored = saved(server["db"])
    for key, text in HOSTILE.items():
        row = stored[stored.run_id.str.startswith(key)].iloc[0]
        assert (row.model_name, row.tags, row.notes) == (text, normalize_tags(text), text)

    page.goto(server["url"] + "/history")
    wait_idle(page)
    expect(page.get_by_text("Best CER")).to_be_visible(timeout=20_000)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    exported = {r["run_id"]: r for r in csv.DictReader(download_info.value.path().open())}
    for key, text in HOSTILE.items():
        row = next(r for run_id, r in exported.items() if run_id.startswith(key))
        # A formula is escaped with a leading ' so a spreadsheet shows it as text; every
        # other value comes back exactly.
        want = "'" + text if text[0] in "=+-@" else text
        assert (row["model_name"], row["notes"]) == (want, want)
    page.goto(server["url"] + "/compare")
    wait_idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path="/tmp/hostile_compare.png", full_page=True)
    expect(page.get_by_text("Model A vs model B")).to_be_visible(timeout=20_000)
    # The two newest models are hostile names: their labels are plain text on the page.
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert [key for key, text in HOSTILE.items() if text in body]  # shown verbatim
    assert page.locator("img[src=x]").count() == 0
    assert page.locator('[data-testid="stMain"] script').count() == 0
    assert fired == []  # no alert() ever ran
