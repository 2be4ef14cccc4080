"""The batch page's second source, end to end: a real MLflow server's runs, read, given an
inference cost, scored, saved, and their ratios logged back to MLflow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mlprod.store import Store
from tests.conftest import recent

from .conftest import Server, choose, full_screenshot, named, wait_idle

pytestmark = pytest.mark.e2e


def test_runs_from_an_mlflow_server_to_the_history(mlflow_server, browser, tmp_path, artifacts):
    from mlflow.tracking import MlflowClient

    db = tmp_path / "history.duckdb"
    server = Server(db, tmp_path / "streamlit.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/batch")
        wait_idle(page)
        named(page)
        page.get_by_text("An MLflow server", exact=True).click()  # the caption names it too
        page.get_by_label("Tracking server").fill(mlflow_server)
        page.keyboard.press("Enter")
        page.get_by_text("Experiments").wait_for(timeout=30_000)
        wait_idle(page)
        choose(page, page.locator('[data-testid="stMultiSelect"]'), "vision")
        wait_idle(page)
        page.get_by_role("button", name="Read runs").click()
        expect(page.get_by_text("MLflow tracking server")).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.get_by_label("Inference cost per run (USD)").fill("120")
        page.keyboard.press("Enter")
        score = page.get_by_role("button", name="Score")
        expect(score).to_be_visible(timeout=20_000)
        score.click()
        expect(page.get_by_text("With errors", exact=True)).to_be_visible(timeout=30_000)
        wait_idle(page)
        page.get_by_text("Also log the ratios on each run in MLflow").click()
        wait_idle(page)
        page.get_by_role("button", name="Save 6 new runs to history").click()
        expect(page.get_by_text("Saved 6 rows to the history")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("on 6 runs")).to_be_visible()
        wait_idle(page)
        full_screenshot(page, artifacts / "batch-from-mlflow.png")
    finally:
        context.close()
        server.stop()
    with Store(db) as s:
        stored = recent(s, 20)
    assert len(stored) == 6 and set(stored["source"]) == {"mlflow"}
    assert set(stored["inference_cost"]) == {120.0}
    client = MlflowClient(mlflow_server)
    for row in stored.itertuples():
        assert client.get_run(row.run_id).data.metrics["mlprod.cer"] == pytest.approx(row.cer)
