"""Quality beyond F1 in a real browser (issue #35): the calculator scores a run on WER,
and History, open while a command saves evaluation runs beside it, shows one metric at a
time with its label on the charts."""

from __future__ import annotations

import subprocess
import sys
from contextlib import suppress

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from mlprod.config import PROJECT_DIR

from .conftest import full_screenshot, named, saved, wait_idle

pytestmark = pytest.mark.e2e

PROMPTFOO = PROJECT_DIR / "tests" / "data" / "evals" / "promptfoo-output.json"


def pick(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` as a person does, again if the
    click landed while the page reran."""
    box = page.get_by_role("combobox", name=label).first
    for _ in range(attempts):
        wait_idle(page)
        with suppress(PlaywrightTimeout):
            box.click()
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
        with suppress(AssertionError):
            expect(box).to_have_value(option, timeout=10_000)
            return
        page.keyboard.press("Escape")
    expect(box).to_have_value(option)


def test_the_calculator_scores_and_saves_a_run_on_wer(server, page, artifacts):
    page.goto(server["url"])
    wait_idle(page)
    named(page)
    pick(page, "Quality metric", "WER")
    value = page.get_by_role("spinbutton", name="WER (lower is better: scored as 1 − WER)")
    value.fill("0.2")
    page.get_by_role("button", name="Calculate").click()
    wait_idle(page)
    expect(page.get_by_text("0.08 (1 − WER) per training hour")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("This run: 1 − WER 0.8")).to_be_visible()
    full_screenshot(page, artifacts / "calculator-wer.png")
    page.get_by_role("button", name="Save to history").click()
    expect(page.get_by_text("Saved to the history.")).to_be_visible(timeout=20_000)
    rows = saved(server["db"])
    assert rows["metric"].tolist()[-1] == "wer" and rows["f1"].tolist()[-1] == 0.8


def test_history_open_while_a_command_saves_eval_runs_shows_one_metric_at_a_time(
    server, page, artifacts
):
    page.goto(server["url"] + "/history")
    wait_idle(page)
    named(page)
    if page.get_by_role("button", name="Load sample runs").count():
        page.get_by_role("button", name="Load sample runs").click()
    expect(page.get_by_text("Best CER")).to_be_visible(timeout=30_000)
    done = subprocess.run(  # CI saves promptfoo runs beside the open dashboard
        [sys.executable, "-m", "mlprod", "import", "promptfoo", str(PROMPTFOO),
         "--set", "training_cost=900", "--set", "training_hours=12", "--set",
         "price_in_per_1m=0.2", "--set", "price_out_per_1m=0.8", "--save",
         "--db", str(server["db"]), "-o", "-"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    picker = page.get_by_role("combobox", name="Quality metric")
    expect(picker).to_be_visible(timeout=30_000)  # the page follows the write by itself
    pick(page, "Quality metric", "Pass rate")
    expect(page.get_by_text("Cheapest run within this much Pass rate of the best")).to_be_visible(
        timeout=20_000
    )
    runs = page.locator('[data-testid="stMetric"]').filter(has_text="Runs")
    expect(runs.locator('[data-testid="stMetricValue"]')).to_have_text("4", timeout=20_000)
    drawn = "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].filter(c => c.querySelector('canvas, svg')).length === 4"  # noqa: E501
    page.wait_for_function(drawn, timeout=30_000)
    full_screenshot(page, artifacts / "history-pass-rate.png")


def test_wandb_logs_uploaded_on_the_batch_page_are_scored_and_saved(server, page, artifacts):
    """One tracker source of the Batch page, as a person uses it: W&B's offline logs
    dropped on the page, scored at each run's best step, saved."""
    logs = sorted((PROJECT_DIR / "tests" / "data" / "trackers" / "wandb").glob("*/run-*.wandb"))
    page.goto(server["url"] + "/batch")
    wait_idle(page)
    named(page)
    page.get_by_text("Tracker files", exact=True).click()
    wait_idle(page)
    pick(page, "Tracker", "W&B run folders (offline runs, and runs that ran online or were synced)")
    chips = page.locator('[data-testid="stFileChip"]')
    for _ in range(3):
        wait_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            [str(log) for log in logs]
        )
        with suppress(AssertionError):
            expect(chips).to_have_count(len(logs), timeout=15_000)
            break
    expect(page.get_by_text("W&B run folders", exact=False).first).to_be_visible()
    wait_idle(page)
    for label, value in (("Training cost", "500"), ("Inference cost", "50")):
        box = page.get_by_role("spinbutton", name=label).first
        box.fill(value)
        box.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.get_by_text("Best CER")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("whisper-ft-1", exact=False).first).to_be_visible()
    full_screenshot(page, artifacts / "batch-wandb-logs.png")
    page.get_by_role("button", name="to history").click()
    expect(page.get_by_text("Saved", exact=False).first).to_be_visible(timeout=30_000)
    rows = saved(server["db"])
    assert sorted(rows[rows["source"] == "batch"]["f1"].tolist())[-2:] == [0.83, 0.86]
