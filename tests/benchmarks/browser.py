"""What a person waits for in the browser (#18): a real ``streamlit run`` and headless
Chromium, one JSON object per figure (median and p95 of ``--repeat`` tries, and the
websocket bytes the server sent for the action).

    python tests/benchmarks/browser.py [--runs 10000 1000000] [--repeat 5] [--tree OLD]

Figures, each from the click (or navigation) until the app is idle and every chart on the
page has drawn:
- ``history_warm``: a History visit after the page was seen once (and the server's CPU
  seconds per visit, from /proc: one process serves 1 / that visits per second per core);
- ``history_from_sidebar``: History reached from the Guide by its sidebar link, the way a
  person moves between pages (no new document: the app's code is already loaded);
- ``history_filter``: picking one model in the filter;
- ``history_table_page``: another page of the table (no chart changes);
- ``compare_change_b``: changing run B until the verdict shows;
- ``calculate``: Calculate until the ratios show;
- ``guide_no_charts``: a visit of the Guide (text, no chart): the app's own floor;
- ``batch_rerun``: with a ``--batch-rows`` file uploaded and scored on the batch page, a
  rerun that changes nothing about it (typing a name in the sidebar), with the server's
  CPU seconds per rerun; ``batch_memory``: how much the server's RSS grew for that one
  session's upload and scored file;
- ``floor_history_warm``: the framework's floor, a plain Streamlit page drawing the same
  charts, points and table from memory (``floor_app.py``), visited in turn with the History
  page, try by try (``history_over_floor``: the History page's medians over the floor's);
  ``floor_history_filter``: on that page, one model picked (the same charts of that
  model's runs, from memory), in turn with ``history_filter``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
TREE = [ROOT]  # the dashboard served: this checkout, or another worktree (``--tree``, A/B)

from mlprod.saving import save_batch  # noqa: E402
from mlprod.store import Store  # noqa: E402

CHROMIUM = os.environ.get("MLPROD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking"]  # fmt: skip
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Drawn: no element still waiting for its code (a chart or a table shows a skeleton until
# its lazily loaded component arrives: without this, a visit's time stopped at "idle, and
# every chart there is drawn" while the four History charts were still skeletons, ~1.3 s
# before they showed), at least ``n`` charts on the page and each of them drawn.
DRAWN = """(n) => {
  if (document.querySelector('[data-testid="stMain"] [data-testid="stSkeleton"]')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return charts.length >= (n || 0) && charts.every(c => c.querySelector('canvas, svg'));
}"""
# Counts the app's script runs that ended in this document (``window.__mlprodRuns``): "idle
# and every chart drawn" alone is also true of a page that has not started its run yet (no
# chart, not running), which let a visit's timing stop before anything was drawn.
COUNT_RUNS = """
window.__mlprodRuns = 0;
new MutationObserver(records => {
  for (const r of records) if (r.oldValue === 'running') window.__mlprodRuns += 1;
}).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
"""
RUNS = "() => window.__mlprodRuns || 0"


def history_database(path: Path, runs: int) -> Path:
    rng = np.random.default_rng(7)
    with Store(path) as store:
        done = 0
        while done < runs:
            n = min(1_000_000, runs - done)
            f1, cost, hours, latency = (rng.uniform(a, b, n) for a, b in
                                        ((0.5, 0.99), (10, 1000), (1, 10), (5, 100)))  # fmt: skip
            table = pa.table({
                "status": pa.array(["ok"] * n),
                "model_name": pa.array([f"model-{i % 9}" for i in range(n)]),
                "project": pa.array(["nlp", "vision", "tabular"] * (n // 3) + ["nlp"] * (n % 3)),
                "f1": f1, "training_cost": cost, "inference_cost": np.zeros(n),
                "training_hours": hours, "latency_ms": latency, "cer": f1 / cost,
                "ter": f1 / hours, "psr": f1 / latency,
            })  # fmt: skip
            save_batch(store, table, source="cli")
            done += n
    return path


def _served_history(path: Path, runs: int) -> Path:
    """:func:`history_database`, written by the served tree's own code (``--tree``: an
    older schema, which that tree can open)."""
    if TREE[0] == ROOT:
        return history_database(path, runs)
    code = ("import sys; from pathlib import Path; from tests.benchmarks.browser import "
            f"history_database; history_database(Path({str(path)!r}), {runs})")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], cwd=TREE[0], check=True,
                   env={**os.environ, "PYTHONPATH": str(TREE[0])})  # fmt: skip
    return path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def floor_view(db: Path, path: Path, models: int = 9) -> Path:
    """What the History page draws on a first visit and for each model picked alone, built
    once and pickled for the floor page: the same charts (points, frontiers, trend, best
    runs) and the same table."""
    import pickle

    from mlprod.charts import best_chart, frontier_dots, frontier_layers, themed, trend_chart
    from mlprod.store import HistoryFilter

    views = {}
    with Store(db) as store:
        for name in ["all", *(f"model-{i}" for i in range(models))]:
            f = HistoryFilter(models=() if name == "all" else (name,))
            view = store.overview(f, f1_gap=0.01, budget=1000.0, latency_ms=50.0, page=0,
                                  page_size=50)  # fmt: skip
            total = view.summary["runs"]
            charts = [
                trend_chart(view.trend, view.bucket),
                *(frontier_layers(frontier_dots(view.points, x=x), view.frontiers[x], x_title=x)
                  for x in ("total_cost", "latency_ms")),
                best_chart(view.best),
            ]  # fmt: skip
            metrics = [("Runs", f"{total:,}"), ("Models", "9"), ("Best CER", "1"),
                       ("Best TER", "1"), ("Best PSR", "1")]  # fmt: skip
            views[name] = {"charts": [themed(c) for c in charts], "table": view.table,
                           "metrics": metrics}  # fmt: skip
    with path.open("wb") as fh:
        pickle.dump(views, fh)
    return path


def _serve(
    db: Path, script: str = "app.py", env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=TREE[0], env={**os.environ, "MLPROD_DB": str(db), "PYTHONPATH": str(TREE[0]),
                          **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("streamlit did not start")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timer:
    """Time an action on a page until the app is idle and every chart is drawn."""

    def __init__(self, page) -> None:
        self.page = page
        self.received = 0
        page.add_init_script(COUNT_RUNS)
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        ws.on("framereceived", lambda frame: self._count(frame))

    def _count(self, frame) -> None:
        self.received += len(frame) if isinstance(frame, bytes | str) else 0

    def __call__(
        self, action, *, navigates: bool = False, reruns: bool = True, charts: int = 0
    ) -> tuple[float, int]:
        """Seconds and websocket bytes from ``action`` until a script run that began after
        it has ended, the app is idle and every chart is drawn, at least ``charts`` of them
        (``navigates``: the action loads a new document, whose run count starts at 0;
        ``reruns=False``: the action runs no script, e.g. a download)."""
        before = self.received
        runs = 0 if navigates else self.page.evaluate(RUNS)
        started = time.perf_counter()
        action()
        if reruns:
            self.page.wait_for_function(f"n => ({RUNS})() > n", arg=runs, timeout=120_000,
                                        polling=10)  # fmt: skip
        self.page.wait_for_selector(IDLE, timeout=120_000)
        self.page.wait_for_function(DRAWN, arg=charts, timeout=120_000, polling=10)
        return time.perf_counter() - started, self.received - before


def _figure(name: str, runs: int, tries: list[tuple[float, int]]) -> None:
    seconds = sorted(t for t, _ in tries)
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    sent = statistics.median(b for _, b in tries) / 1e3
    figure = {"figure": name, "runs": runs, "median_s": round(statistics.median(seconds), 3),
              "p95_s": round(p95, 3), "ws_kb": round(sent, 1), "tries": len(tries)}  # fmt: skip
    print(json.dumps(figure), flush=True)


def _pick_model(page, i: int):
    """Open the Model filter and return the click that picks ``model-{i % 9}`` in it."""
    page.get_by_role("combobox", name="Model").click()
    return page.get_by_role("option", name=f"model-{i % 9}", exact=True).click


def measure(runs: int, repeat: int, folder: Path) -> None:
    """The History page and the floor page (two servers, one tab each) are visited and
    filtered in turn, try by try, so that both are measured in the same moments of this
    noisy machine; then the rest of the dashboard."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    db = _served_history(folder / f"history-{runs}.duckdb", runs)
    # The floor's charts from a copy: this checkout's code may migrate the file, which an
    # older tree then could not open.
    shutil.copy(db, folder / "floor-source.duckdb")
    floor = floor_view(folder / "floor-source.duckdb", folder / f"floor-{runs}.pickle")
    proc, url = _serve(db)
    floor_proc, floor_url = _serve(
        db, "tests/benchmarks/floor_app.py", {"MLPROD_FLOOR": str(floor)}
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            timer = Timer(page)
            floor_page = browser.new_page(viewport={"width": 1400, "height": 1400})
            floor_timer = Timer(floor_page)
            history = f"{url}/history"
            for tab, time_it, address in ((page, timer, history),
                                          (floor_page, floor_timer, floor_url)):  # fmt: skip
                tab.bring_to_front()
                time_it(lambda: tab.goto(address), navigates=True, charts=4)  # noqa: B023  seen once
            visits, floor_visits, cpu_used = [], [], 0.0
            for _ in range(repeat):
                page.bring_to_front()
                cpu = _cpu_seconds(proc.pid)
                visits.append(timer(lambda: page.goto(history), navigates=True, charts=4))
                cpu_used += _cpu_seconds(proc.pid) - cpu
                floor_page.bring_to_front()
                floor_visits.append(
                    floor_timer(lambda: floor_page.goto(floor_url), navigates=True, charts=4)
                )
            _figure("history_warm", runs, visits)
            _figure("floor_history_warm", runs, floor_visits)
            per_visit = cpu_used / repeat
            cpu_figure = {"figure": "history_warm_server_cpu", "runs": runs,
                          "cpu_s_per_visit": round(per_visit, 3),
                          "visits_per_s_per_core": round(1 / per_visit, 1)}  # fmt: skip
            print(json.dumps(cpu_figure), flush=True)
            filters, floor_filters, cpu_used = [], [], 0.0
            for i in range(repeat):  # a fresh filter each time
                page.bring_to_front()
                timer(lambda: page.goto(history), navigates=True, charts=4)
                pick = _pick_model(page, i)
                cpu = _cpu_seconds(proc.pid)
                filters.append(timer(pick, charts=4))  # picking it reruns the page
                cpu_used += _cpu_seconds(proc.pid) - cpu
                floor_page.bring_to_front()
                floor_timer(lambda: floor_page.goto(floor_url), navigates=True, charts=4)
                floor_filters.append(floor_timer(_pick_model(floor_page, i), charts=4))
            _figure("history_filter", runs, filters)
            _figure("floor_history_filter", runs, floor_filters)
            per_filter = round(cpu_used / repeat, 3)
            print(json.dumps({"figure": "history_filter_server_cpu", "runs": runs,
                              "cpu_s_per_filter": per_filter}), flush=True)  # fmt: skip
            ratio = {"figure": "history_over_floor", "runs": runs}
            for name, mine, theirs in (("warm", visits, floor_visits),
                                       ("filter", filters, floor_filters)):  # fmt: skip
                median = statistics.median(t for t, _ in mine)
                ratio[f"{name}_x"] = round(median / statistics.median(t for t, _ in theirs), 2)
            print(json.dumps(ratio), flush=True)
            floor_page.close()
            page.bring_to_front()
            sidebar = []
            for _ in range(repeat):
                timer(lambda: page.goto(f"{url}/guide"), navigates=True)
                link = page.get_by_role("link", name="History")
                sidebar.append(timer(link.click, charts=4))
            _figure("history_from_sidebar", runs, sidebar)
            timer(lambda: page.goto(history), navigates=True, charts=4)
            clicks = []
            for i in range(repeat):
                table_page = page.get_by_label(re.compile(r"^Page \(of"))
                table_page.fill(str(2 + i))
                clicks.append(timer(lambda: table_page.press("Enter"), charts=4))  # noqa: B023
            _figure("history_table_page", runs, clicks)
            timer(lambda: page.goto(f"{url}/compare"), navigates=True, charts=2)
            changes, pngs = [], []
            for _ in range(repeat):
                picker = page.get_by_label("Run (newest first)").nth(1)  # B's run picker
                picker.click()
                page.wait_for_timeout(300)
                page.keyboard.press("ArrowDown")  # the next run in B's list
                changes.append(timer(lambda: page.keyboard.press("Enter"), charts=2))

                def download() -> None:
                    with page.expect_download() as done:
                        page.get_by_role("button", name="Download PNG").click()
                    done.value.path()  # until the file is there

                pngs.append(timer(download, reruns=False))
            _figure("compare_change_b", runs, changes)
            _figure("compare_png", runs, pngs)
            print(json.dumps({"figure": "compare_png_first", "runs": runs,  # the process's first
                              "seconds": round(pngs[0][0], 3)}), flush=True)  # fmt: skip
            timer(lambda: page.goto(f"{url}/"), navigates=True)
            calc = []
            for i in range(repeat):  # the inputs are a form: only Calculate runs the page
                latency = page.get_by_role("spinbutton", name="Latency (ms)")
                latency.fill(str(20 + i))
                # Committed before the click (as leaving the field does): a click that
                # also blurred the input was lost about once a run, timing out after 2 min.
                latency.press("Tab")
                page.wait_for_timeout(100)
                try:
                    calc.append(timer(lambda: page.get_by_role("button", name="Calculate").click()))
                except PlaywrightTimeout:  # a click lost under load: say so, go on
                    print(json.dumps({"figure": "calculate", "lost_click": i}), flush=True)
            _figure("calculate", runs, calc)
            timer(lambda: page.goto(f"{url}/guide"), navigates=True)
            empty = [timer(lambda: page.goto(f"{url}/guide"), navigates=True)
                     for _ in range(repeat)]  # fmt: skip
            _figure("guide_no_charts", runs, empty)
            browser.close()
    finally:
        for server in (proc, floor_proc):
            server.terminate()
            server.wait(timeout=30)


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")) / 1024  # fmt: skip


def measure_batch(rows: int, repeat: int, folder: Path) -> None:
    """A ``rows``-run CSV uploaded and scored on the batch page, then reruns that leave it
    as it is."""
    import pyarrow.csv as pacsv
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(5)
    runs = folder / f"runs-{rows}.csv"
    pacsv.write_csv(pa.table({
        "run_id": pa.array(np.char.add("run-", np.arange(rows).astype(str))),
        "model_name": pa.array(np.array([f"model-{i}" for i in range(9)])[rng.integers(0, 9, rows)]),  # noqa: E501
        "f1": np.round(rng.uniform(0.5, 0.99, rows), 4),
        "training_cost": np.round(rng.uniform(10, 1000, rows), 2),
        "inference_cost": np.round(rng.uniform(1, 100, rows), 2),
        "training_hours": np.round(rng.uniform(1, 10, rows), 3),
        "latency_ms": np.round(rng.uniform(5, 100, rows), 2),
    }), runs)  # fmt: skip
    proc, url = _serve(folder / f"batch-{rows}.duckdb")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            timer = Timer(page)
            timer(lambda: page.goto(f"{url}/batch"), navigates=True)
            before = _rss_mb(proc.pid)
            page.locator('input[type="file"]').set_input_files(str(runs))
            page.get_by_role("button", name="Score").wait_for(timeout=300_000)
            page.wait_for_selector(IDLE, timeout=300_000)
            page.get_by_role("button", name="Score").click()
            page.get_by_text("With errors").wait_for(timeout=300_000)
            page.wait_for_selector(IDLE, timeout=300_000)
            grown = _rss_mb(proc.pid) - before
            name = page.get_by_role("textbox", name="Your name")
            cpu = _cpu_seconds(proc.pid)
            reruns = []
            for i in range(repeat):
                name.fill(f"ann {i}")
                reruns.append(timer(lambda: name.press("Enter")))
            per_rerun = (_cpu_seconds(proc.pid) - cpu) / repeat
            _figure("batch_rerun", rows, reruns)
            print(json.dumps({"figure": "batch_rerun_server_cpu", "rows": rows,
                              "cpu_s_per_rerun": round(per_rerun, 3)}), flush=True)  # fmt: skip
            print(json.dumps({"figure": "batch_memory", "rows": rows,
                              "file_mb": round(runs.stat().st_size / 1e6, 1),
                              "server_rss_growth_mb": round(grown)}), flush=True)  # fmt: skip
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-rows", type=int, default=1_000_000, help="0: no batch figure")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="serve this worktree's dashboard (an older commit: A/B)")  # fmt: skip
    args = parser.parse_args()
    TREE[0] = args.tree.resolve()
    commit = subprocess.run(["git", "-C", str(TREE[0]), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    print(json.dumps({"figure": "served", "tree": str(TREE[0]), "commit": commit}), flush=True)
    with tempfile.TemporaryDirectory(prefix="mlprod-browser-") as name:
        for runs in args.runs:
            measure(runs, args.repeat, Path(name))
        if args.batch_rows:
            measure_batch(args.batch_rows, args.repeat, Path(name))


if __name__ == "__main__":
    main()
