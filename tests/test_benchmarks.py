"""The benchmark script runs end to end on small sizes (figures are read by people)."""

import json
import subprocess
import sys

import pytest

from mlprod.config import PROJECT_DIR

pytestmark = pytest.mark.slow  # the benchmark scripts, run whole


def test_benchmark_script_reports_every_figure():
    out = subprocess.run(
        [sys.executable, "tests/benchmarks/run.py", "--rows", "20000", "--naive-rows", "2000",
         "--memory-rows", "30000", "--repeat", "1", "--history-rows", "20000"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = list(map(json.loads, out.stdout.splitlines()))
    figures = {f["figure"]: f for f in lines}
    assert set(figures) == {
        "input",
        "plain_load",
        "score_store",
        "store_only",
        "cpu_floor",
        "duckdb_sql_sketch",
        "naive_apply",
        "peak_memory",
        "session_memory",
        "history_build",
        "history_query",
        "history_page_total",
    }
    # Every query of the history page is timed, for the whole history and a filtered view.
    queries = {(f["view"], f["query"]) for f in lines if f["figure"] == "history_query"}
    assert {q for _, q in queries} >= {"summary", "table_page", "trend", "frontiers",
                                       "best_per_model", "scatter"}  # fmt: skip
    assert {v for v, _ in queries} == {"all", "filtered"}
    totals = [f for f in lines if f["figure"] == "history_page_total"]
    assert len(totals) == 2 and all(f["rows"] == 20_000 and f["median_ms"] > 0 for f in totals)
    # About 1% of the generated rows carry an F1 of 90 and must be kept out of the store.
    assert 19_600 < figures["score_store"]["stored"] < 20_000
    assert figures["score_store"]["rows_per_s"] > 0 and figures["peak_memory"]["peak_rss_mb"] > 0
    # A session keeps a preview of the scored rows, not the file (on disk instead).
    held = figures["session_memory"]
    assert held["rows"] == 20_000 and held["preview_rows"] == 10_000
    assert held["held_mb"] > 0 and held["scored_on_disk_mb"] > 0
    # The CPU floor adds up its parts and spreads them over the machine's cores.
    floor = figures["cpu_floor"]
    parts = floor["read_score_cpu_s"] + floor["hash_cpu_s"] + floor["write_cpu_s"]
    assert floor["total_cpu_s"] == pytest.approx(parts, abs=0.002) and parts > 0
    assert floor["least_wall_s"] == pytest.approx(parts / floor["cores"], abs=0.002)
    assert floor["write_cpu_s"] == figures["store_only"]["cpu_s"]
    sketches = {f["shape"] for f in lines if f["figure"] == "duckdb_sql_sketch"}
    assert sketches == {"parallel, no line numbers", "in file order, line numbers"}


def test_mlflow_import_benchmark_reports_every_figure():
    """The import benchmark against a real server, on 40 runs."""
    out = subprocess.run(
        [sys.executable, "tests/benchmarks/mlflow_import.py", "--runs", "40", "--repeat", "1"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    figures = [json.loads(line) for line in out.stdout.splitlines()]
    assert [f["figure"] for f in figures] == ["fill", "import", "import", "server_read"]
    assert all(f["runs"] == 40 for f in figures)
    assert [f["ok"] for f in figures if f["figure"] == "import"] == [40, 40]


def test_gate_benchmark_reports_its_figures_and_a_decision():
    """The gate's whole-process benchmark, on a history of 5,000 runs."""
    out = subprocess.run(
        [sys.executable, "tests/benchmarks/gate.py", "--rows", "5000", "--repeat", "1"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    figures = {f["figure"]: f for f in map(json.loads, out.stdout.splitlines())}
    assert set(figures) == {"gate_whole_process", "mlprod_version_only", "gate_decision"}
    assert figures["gate_whole_process"]["median_s"] > figures["mlprod_version_only"]["median_s"]
    assert figures["gate_decision"]["decision"] in ("promote", "hold")
    assert figures["gate_decision"]["exit"] == (
        0 if figures["gate_decision"]["decision"] == "promote" else 1
    )


def test_eval_import_benchmark_reports_runs_per_second_for_both_tools():
    """The evaluation-file import benchmark, on 20 files of each tool."""
    out = subprocess.run(
        [sys.executable, "tests/benchmarks/eval_import.py", "--files", "20", "--repeat", "1"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    figures = [json.loads(line) for line in out.stdout.splitlines()]
    assert {(f["tool"], f["figure"]) for f in figures} == {
        (tool, figure)
        for tool in ("lm-eval", "promptfoo")
        for figure in ("import", "import_save", "read_files_in_process")
    }
    runs = {f["tool"]: f["runs"] for f in figures}
    assert runs == {"lm-eval": 40, "promptfoo": 80}  # two tasks, four prompt × provider
    assert all(f["runs_per_s"] > 0 for f in figures)


def test_report_benchmark_reports_the_report_and_the_alerts():
    """The review report's and the alert rules' benchmark, on a history of 5,000 runs."""
    out = subprocess.run(
        [sys.executable, "tests/benchmarks/report.py", "--rows", "5000", "--repeat", "1"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    figures = {f["figure"]: f for f in map(json.loads, out.stdout.splitlines())}
    assert set(figures) == {"report_html_whole_process", "report_pdf_whole_process",
                            "mlprod_version_only", "alert_rules_after_a_save"}  # fmt: skip
    assert (
        figures["report_pdf_whole_process"]["median_s"] > figures["mlprod_version_only"]["median_s"]
    )
    assert figures["alert_rules_after_a_save"]["events"] > 0  # the rules found something
