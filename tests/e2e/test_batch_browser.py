"""Batch scoring in a real browser: upload, score, save, download."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from mlprod.config import PROJECT_DIR

from .conftest import full_screenshot, named, saved, upload, wait_idle

pytestmark = pytest.mark.e2e

EXPORT = PROJECT_DIR / "tests" / "data" / "wandb_runs_export.csv"


def test_upload_score_save_download(server, page, artifacts):
    # A deep link as the first request of a fresh server still gets the app shell.
    page.goto(server["url"] + "/batch")
    wait_idle(page)
    named(page)
    expect(page.get_by_role("textbox", name="Your name")).to_be_visible()
    expect(page.get_by_role("link", name="Calculator")).to_be_visible()
    upload(page, EXPORT)
    expect(page.get_by_text("Weights & Biases runs table export")).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_text("With errors", exact=True)).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Rows with errors (8), by kind", exact=True)).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download scored CSV").click()
    download = download_info.value
    rows = list(csv.DictReader(io.StringIO(download.path().read_text())))
    assert len(rows) == 300 and download.suggested_filename == "wandb_runs_export.scored.csv"
    assert rows[0]["run_name"] == "bert-large-299" and float(rows[0]["cer"]) > 0

    wait_idle(page)
    before = len(saved(server["db"]))
    page.get_by_role("button", name="Save 292 rows to history").click()
    expect(page.get_by_text("Saved 292 rows to the history")).to_be_visible(timeout=20_000)
    full_screenshot(page, artifacts / "batch.png")
    assert len(saved(server["db"])) == before + 292
    # Normal use logs no traceback (each Score logged pyarrow's "Conversion failed for
    # column price_as_of" while Streamlit fell back to sending the table as text).
    assert "Traceback" not in server.log.read_text()
