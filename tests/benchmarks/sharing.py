"""A team on one DuckDB file (#31): what a person waits for while other processes write.

    python tests/benchmarks/sharing.py [--runs 100000] [--saves 12] [--saver-rows 150000]

One JSON object per figure:
- ``cli_exit_to_history``: a real ``streamlit run`` with History open in headless
  Chromium on a history of ``--runs`` runs; ``mlprod calc --save`` runs ``--saves`` times
  beside it; seconds from each command's exit until the open page shows the new count
  by itself (median, p95), and the command's own wall time;
- ``dashboard_save``: the calculator's Save (click until "Saved to the history.") alone,
  and while three ``mlprod score --save`` of ``--saver-rows`` runs each save beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from mlprod.ingest import inspect, resolve_mapping, scored_batches  # noqa: E402
from mlprod.saving import save_batch  # noqa: E402
from mlprod.store import Store  # noqa: E402
from tests.benchmarks.run import generate  # noqa: E402
from tests.e2e.conftest import CHROMIUM, IDLE, Server  # noqa: E402

RUNS_SHOWN = (
    "() => { const m = [...document.querySelectorAll('[data-testid=stMetric]')]"
    ".find(e => e.innerText.startsWith('Runs'));"
    " return m ? m.querySelector('[data-testid=stMetricValue]').innerText.replace(/,/g, '') : '' }"
)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _mlprod(db: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MLPROD_DB": str(db), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "mlprod", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _save_seconds(page) -> float:
    page.get_by_role("button", name="Calculate").click()
    save = page.get_by_role("button", name="Save to history")
    expect(save).to_be_visible(timeout=60_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    started = time.perf_counter()
    save.click()
    expect(page.get_by_text("Saved to the history.")).to_be_visible(timeout=120_000)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--saves", type=int, default=12)
    parser.add_argument("--saver-rows", type=int, default=150_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mlprod-sharing-"))
    db = folder / "history.duckdb"
    runs = folder / "runs.csv"
    generate(runs, args.runs, seed=3)
    inspection = inspect(runs)
    with Store(db) as store:
        save_batch(store, scored_batches(inspection, resolve_mapping(inspection)), source="cli",
                   author="bench")  # fmt: skip
        stored = store.integrity()["calculations"]
    server = Server(db, folder / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking"])  # fmt: skip
            history = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
            history.goto(f"{server.url}/history")
            history.wait_for_function(f"() => ({RUNS_SHOWN})() === '{stored}'", timeout=120_000)
            shown, commands = [], []
            for k in range(args.saves):
                began = time.perf_counter()
                proc = _mlprod(
                    db, "calc", "--f1", "0.9", "--training-cost", "1000", "--inference-cost",
                    "200", "--training-hours", "10", "--latency-ms", "50", "--save",
                    "--model-name", f"ci-{k}",
                )  # fmt: skip
                proc.communicate(timeout=120)
                exited = time.perf_counter()
                assert proc.returncode == 0
                stored += 1
                history.wait_for_function(f"() => ({RUNS_SHOWN})() === '{stored}'",
                                          timeout=60_000, polling=20)  # fmt: skip
                shown.append(time.perf_counter() - exited)
                commands.append(exited - began)
            print(json.dumps({
                "figure": "cli_exit_to_history", "history_runs": args.runs, "saves": len(shown),
                "median_s": round(statistics.median(shown), 3), "p95_s": round(_p95(shown), 3),
                "command_median_s": round(statistics.median(commands), 3),
            }), flush=True)  # fmt: skip

            calculator = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            calculator.goto(server.url)
            calculator.wait_for_selector(IDLE, timeout=60_000)
            box = calculator.get_by_role("textbox", name="Your name")
            box.fill("bench")
            box.press("Enter")
            alone = [_save_seconds(calculator) for _ in range(3)]
            files = []
            for n in range(3):
                files.append(folder / f"saver-{n}.csv")
                generate(files[-1], args.saver_rows, seed=20 + n)
            savers = [_mlprod(db, "score", str(f), "--save", "-o", os.devnull) for f in files]
            beside = []
            while any(s.poll() is None for s in savers) or not beside:
                beside.append(_save_seconds(calculator))
            for s in savers:
                s.communicate(timeout=300)
            print(json.dumps({
                "figure": "dashboard_save", "history_runs": args.runs,
                "alone_median_s": round(statistics.median(alone), 3),
                "beside_3_savers_median_s": round(statistics.median(beside), 3),
                "beside_3_savers_max_s": round(max(beside), 3), "saves_beside": len(beside),
                "saver_rows": args.saver_rows,
            }), flush=True)  # fmt: skip
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
