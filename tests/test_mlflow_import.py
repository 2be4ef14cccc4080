"""``mlprod import mlflow`` against a real ``mlflow server`` on a loopback port.

The server runs from its own virtual environment (full ``mlflow`` pins ``pyarrow<26``):
``python -m venv ~/.cache/mlprod/mlflow-server`` and
``~/.cache/mlprod/mlflow-server/bin/python -m pip install -r tests/mlflow-server-requirements.txt``
(the README's test command does both; ``MLPROD_MLFLOW_PYTHON`` points elsewhere). Runs
are logged through MLflow's own client the way teams log them: no cost, GPU names as
NVML writes them, real start and end times, two experiments, a nested run, a FAILED run.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlprod.cli import main
from mlprod.costs import default_prices
from mlprod.store import Store
from tests.conftest import recent

SERVER_PYTHON = Path(
    os.environ.get("MLPROD_MLFLOW_PYTHON")
    or Path.home() / ".cache" / "mlprod" / "mlflow-server" / "bin" / "python"
)
T0 = 1_764_000_000_000  # 2025-11-24, in ms
GPUS = ["NVIDIA A100-SXM4-80GB", "Tesla T4", "NVIDIA H100 80GB HBM3", "NVIDIA L4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> Iterator[str]:
    if not SERVER_PYTHON.exists():
        pytest.fail(
            f"No MLflow server environment at {SERVER_PYTHON}: run `python -m venv "
            f"{SERVER_PYTHON.parent.parent}` and `{SERVER_PYTHON} -m pip install -r "
            "tests/mlflow-server-requirements.txt` (the tracker tests are never skipped)."
        )
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [str(SERVER_PYTHON), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
         str(port), "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
         "--default-artifact-root", str(folder / "artifacts"), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                if answer.read().strip() == b"OK":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"mlflow server did not start; see {folder / 'server.log'}")
        time.sleep(0.5)
    try:
        log_runs(uri)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def log_runs(uri: str) -> None:
    """Runs as teams log them: f1 / val_f1 and latency_ms metrics, model, gpu and gpus
    params, real times, no cost."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    vision = client.create_experiment("vision")
    nlp = client.create_experiment("nlp")
    for i in range(6):
        run = client.create_run(vision, start_time=T0 + i * 3_600_000, run_name=f"resnet-{i}")
        metric = "f1" if i % 2 else "val_f1"
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(metric, 0.80 + i / 100, T0, 0), Metric("latency_ms", 20 + i, T0, 0)],
            params=[Param("model", "resnet50"), Param("gpu", GPUS[i % 4]),
                    Param("gpus", str(1 + i % 2))],
        )  # fmt: skip
        client.set_terminated(run.info.run_id, end_time=T0 + i * 3_600_000 + 1_800_000 * (i + 1))
    parent = client.create_run(nlp, start_time=T0, run_name="sweep")
    client.set_terminated(parent.info.run_id, end_time=T0 + 600_000)  # no metrics: an error
    child = client.create_run(nlp, start_time=T0, run_name="bert-child",
                              tags={"mlflow.parentRunId": parent.info.run_id})  # fmt: skip
    client.log_batch(
        child.info.run_id,
        metrics=[Metric("f1", 0.9, T0, 0), Metric("latency_ms", 12, T0, 0)],
        params=[Param("model", "bert-base"), Param("gpu", "Tesla T4"), Param("gpus", "4")],
    )
    client.set_terminated(child.info.run_id, end_time=T0 + 7_200_000)
    failed = client.create_run(nlp, start_time=T0, run_name="crashed")
    client.log_batch(failed.info.run_id, metrics=[Metric("f1", 0.99, T0, 0)])
    client.set_terminated(failed.info.run_id, status="FAILED", end_time=T0 + 60_000)


def run_import(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["import", "mlflow", *args])
    return code, out.getvalue(), err.getvalue()


def expected(price_gpu: str, gpus: int, hours: float, f1: float, inference: float) -> float:
    table = default_prices()
    cost = table.price(table.canonical(price_gpu)).on_demand * gpus * hours
    return f1 / (cost + inference)


def test_import_scores_runs_without_costs_with_a_scenario(tracking_uri, tmp_path):
    out = tmp_path / "scored.parquet"
    code, stdout, _ = run_import(
        "--tracking-uri", tracking_uri, "--experiment", "vision", "--experiment", "nlp",
        "--set", "inference_cost=120", "-o", str(out), "--json",
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 1  # the parent run of the sweep has no F1: a row error, the rest scored
    assert (report["rows"], report["ok"], report["errors"]) == (8, 7, 1)  # FAILED left out
    import pyarrow.parquet as pq

    rows = {r["run_name"]: r for r in pq.read_table(out).to_pylist()}
    assert "crashed" not in rows and rows["bert-child"]["status"] == "ok"  # nested: in
    for i in range(6):
        row = rows[f"resnet-{i}"]
        hours = 0.5 * (i + 1)
        want = expected(GPUS[i % 4], 1 + i % 2, hours, 0.80 + i / 100, 120)
        assert row["cer"] == pytest.approx(want, rel=1e-9), row
        assert row["training_hours"] == pytest.approx(hours)
    assert rows["bert-child"]["cer"] == pytest.approx(expected("T4", 4, 2, 0.9, 120), rel=1e-9)
    assert "Training time (hours) from 'end_time' minus 'start_time'" in report["columns"]


def test_save_twice_adds_only_new_runs_and_write_back_shows_in_mlflow(tracking_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    db = str(tmp_path / "history.duckdb")
    args = ["--tracking-uri", tracking_uri, "--experiment", "vision", "--set",
            "requests_per_month=1000000", "--set", "cost_per_1k_requests=0.1", "--save",
            "--db", db, "-o", str(tmp_path / "o.csv"), "--json"]  # fmt: skip
    code, stdout, _ = run_import(*args, "--write-back")
    first = json.loads(stdout)
    assert code == 0 and (first["saved"], first["skipped"]) == (6, 0)
    again = json.loads(run_import(*args)[1])
    assert (again["read"], again["saved"], again["skipped"]) == (6, 0, 6)
    with Store(db) as s:
        stored = recent(s, 100)
    assert len(stored) == 6 and set(stored["source"]) == {"mlflow"}
    assert set(stored["inference_mode"]) == {"requests"} and set(stored["inference_cost"]) == {100}
    client = MlflowClient(tracking_uri)
    for row in stored.itertuples():
        logged = client.get_run(row.run_id).data.metrics
        assert logged["mlprod.cer"] == pytest.approx(row.cer)
        assert logged["mlprod.psr"] == pytest.approx(row.psr)


def test_without_a_scenario_the_missing_cost_says_how_to_give_it(tracking_uri):
    code, _, err = run_import("--tracking-uri", tracking_uri, "--experiment", "vision")
    assert code == 2 and "--set inference_cost=250" in err


def test_a_wrong_experiment_lists_the_real_ones(tracking_uri):
    code, _, err = run_import("--tracking-uri", tracking_uri, "--experiment", "visoin")
    assert code == 2
    assert "No experiment named 'visoin'" in err and "nlp, vision" in err


def test_an_unreachable_server_is_one_clear_message(tmp_path):
    started = time.monotonic()
    nowhere = f"http://127.0.0.1:{free_port()}"
    db = str(tmp_path / "h.db")
    code, _, err = run_import("--tracking-uri", nowhere, "--experiment", "x", "--save", "--db", db)
    assert code == 2 and "Cannot reach the MLflow server" in err
    assert "Traceback" not in err and not (tmp_path / "h.db").exists()
    assert time.monotonic() - started < 60


def test_a_server_that_wants_a_token_says_so():
    class Refuses(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error_code": "UNAUTHENTICATED", "message": "Unauthorized"}')

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, _, err = run_import("--tracking-uri", f"http://127.0.0.1:{server.server_port}",
                                  "--experiment", "vision")  # fmt: skip
    finally:
        server.shutdown()
    assert code == 2 and "MLFLOW_TRACKING_TOKEN" in err


def test_every_page_of_results_is_read(tracking_uri):
    """More runs than one page of search_runs (1,000) holds."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    sweep = client.create_experiment("big-sweep")
    for i in range(1_050):
        run = client.create_run(sweep, start_time=T0 + i)
        client.log_batch(run.info.run_id, metrics=[Metric("f1", 0.5, T0, 0),
                         Metric("latency_ms", 10, T0, 0)], params=[Param("gpu", "T4"),
                         Param("gpus", "1")])  # fmt: skip
        client.set_terminated(run.info.run_id, end_time=T0 + i + 3_600_000)
    code, stdout, _ = run_import(
        "--tracking-uri", tracking_uri, "--experiment", "big-sweep", "--set", "inference_cost=1",
        "-o", os.devnull, "--json",
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 0 and report["rows"] == report["ok"] == 1_050
