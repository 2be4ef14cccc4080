"""Every writer at once on the embedded default: while the dashboard runs with History open
in a browser, the CLI (``calc``, ``score``, ``import mlflow``) and a notebook
(``mlprod.History.save``) save with no flag, and the open page shows their runs by itself."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from mlprod.config import PROJECT_DIR
from mlprod.store import Store
from tests.benchmarks.run import generate

from .conftest import Server, figure, full_screenshot, good_run_ids, rows_in, wait_idle

pytestmark = pytest.mark.e2e

RUNS_SHOWN = (
    "() => { const m = [...document.querySelectorAll('[data-testid=stMetric]')]"
    ".find(e => e.innerText.startsWith('Runs'));"
    " return m ? m.querySelector('[data-testid=stMetricValue]').innerText.replace(/,/g, '') : '' }"
)


def _mlprod(*args: str, db: Path) -> subprocess.Popen:
    env = {**os.environ, "MLPROD_DB": str(db), "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlprod", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, cwd=PROJECT_DIR,
    )  # fmt: skip


def _notebook_save(db: Path, model: str) -> subprocess.Popen:
    code = (
        "import pandas as pd, mlprod\n"
        f"runs = pd.DataFrame({{'model_name': [{model!r}] * 3, 'f1': [0.8, 0.85, 0.9],"
        " 'training_cost': [100.0] * 3, 'inference_cost': [20.0] * 3,"
        " 'training_hours': [2.0] * 3, 'latency_ms': [10.0] * 3})\n"
        f"print(mlprod.History({str(db)!r}).save(mlprod.score(runs), author='nb'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=PROJECT_DIR,
    )  # fmt: skip


def _finished(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode in (0, 1), err  # 1: some rows had errors, the rest saved
    return out, err


def _shown_within(page, runs: int, since: float) -> float:
    """Seconds from ``since`` until the open History shows ``runs`` runs, untouched."""
    page.wait_for_function(f"() => ({RUNS_SHOWN})() === '{runs}'", timeout=30_000, polling=50)
    return time.perf_counter() - since


def test_cli_and_notebook_save_while_history_is_open_and_it_shows_them(
    mlflow_server, page, tmp_path, artifacts
):
    db = tmp_path / "history.duckdb"
    server = Server(db, tmp_path / "streamlit.log")
    try:
        page.goto(f"{server.url}/history")
        wait_idle(page)
        page.get_by_role("textbox", name="Your name").fill("ann")
        page.get_by_role("button", name="Load sample runs").click()  # the dashboard writes
        expect(page.get_by_text("Best CER")).to_be_visible(timeout=30_000)
        runs = 420
        assert page.evaluate(RUNS_SHOWN) == str(runs)

        seconds: list[float] = []
        small = tmp_path / "small.csv"
        for k in range(4):
            proc = _mlprod("calc", "--f1", "0.9", "--training-cost", "1000", "--inference-cost",
                           "200", "--training-hours", "10", "--latency-ms", "50", "--save",
                           "--model-name", f"ci-{k}", "--author", "ci", db=db)  # fmt: skip
            _finished(proc)
            runs += 1
            seconds.append(_shown_within(page, runs, time.perf_counter()))

            generate(small, 200, seed=100 + k)  # another file each time
            _finished(_mlprod("score", str(small), "--save", "-o", os.devnull, "--author", "ci",
                              db=db))  # fmt: skip
            runs += len(rows_in(db)) - runs
            seconds.append(_shown_within(page, runs, time.perf_counter()))

            _finished(_notebook_save(db, f"notebook-{k}"))
            runs += 3
            seconds.append(_shown_within(page, runs, time.perf_counter()))

        cron = _mlprod(
            "import", "mlflow", "--tracking-uri", mlflow_server, "--experiment", "vision",
            "--set", "inference_cost=120", "--save", "-o", os.devnull, "--author", "cron", db=db,
        )  # fmt: skip
        _finished(cron)
        runs += 6
        seconds.append(_shown_within(page, runs, time.perf_counter()))
        full_screenshot(page, artifacts / "history-beside-cli.png")
    finally:
        server.stop()
    stored = rows_in(db)
    assert len(stored) == runs
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    figure(artifacts, scenario="cli_save_exit_to_open_history", saves=len(seconds),
           median_s=round(statistics.median(seconds), 2), p95_s=round(p95, 2),
           max_s=round(max(seconds), 2))  # fmt: skip
    assert statistics.median(seconds) < 2.0, seconds


def test_the_same_file_saved_twice_at_once_beside_the_dashboard_lands_once(page, tmp_path):
    db = tmp_path / "history.duckdb"
    server = Server(db, tmp_path / "streamlit.log")
    path = tmp_path / "runs.csv"
    generate(path, 50_000)
    try:
        page.goto(f"{server.url}/history")
        wait_idle(page)
        both = [_mlprod("score", str(path), "--save", "-o", os.devnull, "--author", "ci", db=db)
                for _ in range(2)]  # fmt: skip
        outcomes = sorted(proc.communicate(timeout=180)[0] + proc.communicate()[1] for proc in both)
        codes = sorted(proc.returncode for proc in both)
    finally:
        server.stop()
    saved = [text for text in outcomes if "Saved" in text]
    assert len(saved) == 1, outcomes
    assert codes == [1, 3] or codes == [1, 1], (codes, outcomes)  # 1: its error rows
    assert any("saved before" in text for text in outcomes), outcomes
    assert len({batch for *_, batch, _ in rows_in(db)}) == 1


def test_a_cli_save_killed_mid_write_leaves_all_or_nothing_and_the_next_one_lands(page, tmp_path):
    db = tmp_path / "history.duckdb"
    server = Server(db, tmp_path / "streamlit.log")
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    generate(big, 400_000, seed=1)
    generate(small, 300, seed=2)
    try:
        page.goto(f"{server.url}/history")
        wait_idle(page)
        doomed = _mlprod("score", str(big), "--save", "-o", os.devnull, db=db)
        wal = db.with_name(db.name + ".wal")
        deadline = time.monotonic() + 120
        while not wal.exists() and time.monotonic() < deadline:  # it is writing now
            time.sleep(0.002)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        _finished(_mlprod("score", str(small), "--save", "-o", os.devnull, db=db))
        stored = rows_in(db)
        # the killed batch is all there or not at all; the next save landed whole
        assert len(stored) - len(good_run_ids(small)) in (0, len(good_run_ids(big)))
        with Store(db) as s:
            assert s.integrity()["broken_batches"] == 0
        page.reload()
        wait_idle(page)
        expect(page.get_by_text("Best CER")).to_be_visible(timeout=30_000)
        assert page.evaluate(RUNS_SHOWN) == str(len(stored))
    finally:
        server.stop()
