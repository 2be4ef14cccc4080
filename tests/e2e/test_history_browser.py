"""History in a real browser: load the sample, filter, delete, undo."""

from __future__ import annotations

import pandas as pd
import pytest
from playwright.sync_api import expect

from .conftest import (
    ann_deletes_what_she_ticked_after_bob,
    choose,
    full_screenshot,
    history_as,
    named,
    saved,
    tick_first_row,
    wait_idle,
)

pytestmark = pytest.mark.e2e

DRAWINGS = "[...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(c => c.querySelector('canvas, svg'))"  # noqa: E501
DRAWN_FOUR = f"() => {{ const d = {DRAWINGS}; return d.length === 4 && d.every(Boolean); }}"
TAG_DRAWINGS = f"() => {DRAWINGS}.forEach((d, i) => {{ d.__mlprodTag = i + 1; }})"
DRAWING_TAGS = f"() => {DRAWINGS}.map(d => d && d.__mlprodTag || 0)"


def _model_filter(page):
    return page.locator('[data-testid="stMultiSelect"]').filter(has_text="Model").first


def metric(page, label):
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_sample_filter_delete_undo(server, page, artifacts):
    page.goto(server["url"] + "/history")
    wait_idle(page)
    named(page)
    page.get_by_role("button", name="Load sample runs").click()
    expect(page.get_by_text("Best CER")).to_be_visible(timeout=30_000)
    assert metric(page, "Runs") == "420"

    # The four charts as drawn: a new filter swaps their data into them, it does not build
    # new ones (the sample's 9 models leave one out of the trend, and the note saying so
    # goes away with the filter: it once shifted the charts below it, rebuilding them).
    page.wait_for_function(DRAWN_FOUR, timeout=30_000)
    page.evaluate(TAG_DRAWINGS)
    choose(page, _model_filter(page), "xgboost")
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Models").locator(
        '[data-testid="stMetricValue"]')).to_have_text("1", timeout=20_000)  # fmt: skip
    runs = int(metric(page, "Runs"))
    assert 0 < runs < 420
    wait_idle(page)
    page.wait_for_function(DRAWN_FOUR, timeout=30_000)
    assert page.evaluate(DRAWING_TAGS) == [1, 2, 3, 4]

    # Tick the first two rows in the grid (the row-marker column is its left edge). The grid
    # is rebuilt for the new filter: wait until the rerun is over before touching it.
    wait_idle(page)
    page.wait_for_timeout(500)
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    for row in range(2):
        page.mouse.click(box["x"] + 16, box["y"] + 36 + 35 * row + 17)
        page.wait_for_timeout(300)
    expect(page.get_by_role("button", name="Delete 2 selected")).to_be_enabled(timeout=10_000)
    page.get_by_role("button", name="Delete 2 selected").click()
    expect(page.get_by_role("button", name="Undo delete")).to_be_visible(timeout=20_000)
    wait_idle(page)
    assert int(metric(page, "Runs")) == runs - 2
    assert len(saved(server["db"])) == 418
    # The selection does not jump to the rows that moved up.
    expect(page.get_by_role("button", name="Delete 0 selected")).to_be_disabled()
    full_screenshot(page, artifacts / "history.png")

    page.get_by_role("button", name="Undo delete").click()
    expect(page.get_by_role("button", name="Undo delete")).to_have_count(0, timeout=20_000)
    wait_idle(page)
    assert int(metric(page, "Runs")) == runs
    assert len(saved(server["db"])) == 420

    # A selection is positions in this table: another filter clears it (the grid itself is
    # kept, its rows replaced), so Delete never hits the rows that took those positions.
    wait_idle(page)
    page.wait_for_timeout(500)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 36 + 17)
    expect(page.get_by_role("button", name="Delete 1 selected")).to_be_enabled(timeout=10_000)
    choose(page, _model_filter(page), "resnet50")
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Models").locator(
        '[data-testid="stMetricValue"]')).to_have_text("2", timeout=20_000)  # fmt: skip
    wait_idle(page)
    expect(page.get_by_role("button", name="Delete 0 selected")).to_be_disabled()
    full_screenshot(page, artifacts / "history-after-filter.png")


def test_two_people_delete_the_run_they_both_ticked_and_nothing_else(server, browser, artifacts):
    """Ann and Bob tick the newest run; Bob deletes it; Ann's Delete then names who got
    there first and deletes nothing (it deleted the run that moved up into row 1)."""
    ann = history_as(browser, server["url"], "ann")
    bob = history_as(browser, server["url"], "bob")
    before = saved(server["db"], include_deleted=True)
    live = before[before.deleted_at.isna()]
    newest, second = live.sort_values(["created_at", "id"], ascending=False).id.tolist()[:2]

    tick_first_row(ann)
    tick_first_row(bob)
    bob.get_by_role("button", name="Delete 1 selected").click()
    expect(bob.get_by_role("button", name="Undo delete")).to_be_visible(timeout=20_000)

    ann_deletes_what_she_ticked_after_bob(ann)
    full_screenshot(ann, artifacts / "history-deleted-meanwhile.png")
    after = saved(server["db"], include_deleted=True).set_index("id")
    assert pd.notna(after.loc[newest, "deleted_at"])
    assert pd.isna(after.loc[second, "deleted_at"])  # the run that moved up is untouched
    assert int(after.deleted_at.notna().sum()) == int(before.deleted_at.notna().sum()) + 1
    for p in (ann, bob):
        p.context.close()


def test_an_editor_marks_the_ticked_run_in_production(server, browser, artifacts):
    """Ann ticks the newest run and marks it in production with a note; the page names it
    and the history keeps who marked it."""
    from mlprod.store import Store

    ann = history_as(browser, server["url"], "ann")
    live = saved(server["db"])
    newest = live.sort_values(["created_at", "id"], ascending=False).iloc[0]
    tick_first_row(ann)
    ann.get_by_role("button", name="Mark in production").click()
    ann.get_by_role("textbox", name="Why (kept with the mark)").fill("after the review")
    ann.get_by_role("button", name=f"Mark run {int(newest.id)} in production for "
                    f"{newest.model_name}").click()  # fmt: skip
    expect(ann.get_by_text(f"{newest.model_name}: run {int(newest.id)}, marked by ann", exact=False)
           ).to_be_visible(timeout=20_000)  # fmt: skip
    with Store(server["db"]) as store:
        mark = store.production(model=str(newest.model_name))
    assert (mark.side, mark.marked_by, mark.note) == (
        str(int(newest.id)),
        "ann",
        "after the review",
    )
    full_screenshot(ann, artifacts / "history-production.png")
    ann.context.close()
