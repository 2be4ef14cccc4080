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
import threading
import time

import pytest

from mlprod.cli import main
from mlprod.costs.gpus import default_prices
from mlprod.store import Store
from tests.conftest import recent
from tests.mlflow_server import GPUS, T0, free_port

pytestmark = pytest.mark.slow  # a real `mlflow server` in its own virtual environment


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


@pytest.fixture
def tracking_uri(mlflow_server: str) -> str:
    return mlflow_server


def test_import_scores_runs_without_costs_with_a_scenario(tracking_uri, tmp_path):
    out = tmp_path / "scored.parquet"
    code, stdout, _ = run_import(
        "--tracking-uri", tracking_uri, "--experiment", "vision", "--experiment", "nlp",
        "--set", "inference_cost=120", "-o", str(out), "--json",
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 1  # the parent run of the sweep has no F1: a row error, the rest scored
    assert (report["rows"], report["ok"], report["errors"]) == (9, 7, 1)
    assert report["skipped_states"] == {"FAILED": 1}  # said, not an error, not saved
    assert "skipped (FAILED: 1)" in run_import(
        "--tracking-uri", tracking_uri, "--experiment", "nlp", "--set", "inference_cost=1",
        "-o", str(tmp_path / "text.csv"),
    )[1]  # fmt: skip
    import pyarrow.parquet as pq

    rows = {r["run_name"]: r for r in pq.read_table(out).to_pylist()}
    assert rows["crashed"]["status"] == "skipped" and rows["bert-child"]["status"] == "ok"
    for i in range(6):
        row = rows[f"resnet-{i}"]
        hours = 0.5 * (i + 1)
        want = expected(GPUS[i % 4], 1 + i % 2, hours, 0.80 + i / 100, 120)
        assert row["cer"] == pytest.approx(want, rel=1e-9), row
        assert row["training_hours"] == pytest.approx(hours)
    assert rows["bert-child"]["cer"] == pytest.approx(expected("T4", 4, 2, 0.9, 120), rel=1e-9)
    # A nested run belongs to its parent's group: the runs of one sweep are its seed noise.
    from mlflow.tracking import MlflowClient

    (parent,) = MlflowClient(tracking_uri).search_runs(
        [MlflowClient(tracking_uri).get_experiment_by_name("nlp").experiment_id],
        filter_string="attributes.run_name = 'sweep'",
    )
    assert rows["bert-child"]["tags"] == f"group={parent.info.run_id}"
    assert rows["resnet-0"]["tags"] is None
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
    assert (again["rows"], again["scored"], again["errors"]) == (0, 0, 0)
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
    """More runs than one page of search_runs (1,000) holds. Each finished run is two
    requests (its numbers given with --set): paging is what is tested here, the fields
    elsewhere."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    sweep = client.create_experiment("big-sweep")
    for i in range(1_050):
        run = client.create_run(sweep, start_time=T0 + i, tags={"model_name": f"m{i % 7}"})
        client.set_terminated(run.info.run_id, end_time=T0 + i + 3_600_000)
    code, stdout, _ = run_import(
        "--tracking-uri", tracking_uri, "--experiment", "big-sweep", "--set", "f1=0.5",
        "--set", "training_cost=10", "--set", "inference_cost=1", "--set", "training_hours=1",
        "--set", "latency_ms=10", "-o", os.devnull, "--json",
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 0 and report["rows"] == report["ok"] == 1_050


@pytest.mark.parametrize("port", [40371, 40100, 14013, 4010, 403])
def test_a_port_holding_401_or_403_is_not_read_as_a_refusal(port):
    """The classification of a failure reads the message's words, not its addresses: a dead
    server on port 40371 was reported as refusing the credentials."""
    from mlprod.ingest.mlflow_server import _explained

    uri = f"http://127.0.0.1:{port}"
    down = ConnectionError(
        f"API request to {uri}/api/2.0/mlflow/experiments/get-by-name failed with exception "
        f"HTTPConnectionPool(host='127.0.0.1', port={port}): Max retries exceeded with url: "
        "/api/2.0/mlflow/experiments/get-by-name (Caused by NewConnectionError: [Errno 111] "
        "Connection refused)"
    )
    assert "Cannot reach the MLflow server" in str(_explained(uri, down))
    refused = RuntimeError(f"API request to {uri}/api/2.0/mlflow failed: 403 Forbidden")
    assert "refused the request" in str(_explained(uri, refused))


def test_two_teams_logging_under_different_names_all_score(tracking_uri, tmp_path):
    """Team A logs params.gpu/params.gpus and metrics.f1, team B params.gpu_type/
    params.num_gpus and metrics.val_f1_score: imported together, every run scores (team
    B's runs once all failed "GPU count is empty")."""
    import uuid

    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    names = []
    for team, (gpu, gpus, f1) in (("a", ("gpu", "gpus", "f1")),
                                   ("b", ("gpu_type", "num_gpus", "val_f1_score"))):  # fmt: skip
        name = f"team-{team}-{uuid.uuid4().hex[:6]}"
        names.append(name)
        experiment = client.create_experiment(name)
        for i in range(3):
            run = client.create_run(experiment, start_time=T0, run_name=f"{team}-{i}")
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(f1, 0.8 + i / 100, T0, 0), Metric("latency_ms", 20.0, T0, 0)],
                params=[Param("model", f"model-{team}"), Param(gpu, "NVIDIA A100-SXM4-80GB"),
                        Param(gpus, "2")],
            )  # fmt: skip
            client.set_terminated(run.info.run_id, end_time=T0 + 3_600_000)
    out = tmp_path / "two-teams.parquet"
    code, stdout, _ = run_import(
        "--tracking-uri", tracking_uri, "--experiment", names[0], "--experiment", names[1],
        "--set", "inference_cost=50", "-o", str(out), "--json",
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 0 and (report["rows"], report["ok"], report["errors"]) == (6, 6, 0)
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert {r["gpu_count"] for r in rows} == {2.0} and {r["gpu_model"] for r in rows} == {
        "A100-80GB"
    }
    want = {
        f"{t}-{i}": expected("A100-80GB", 2, 1.0, 0.8 + i / 100, 50) for t in "ab" for i in range(3)
    }
    assert {r["run_name"]: r["cer"] for r in rows} == pytest.approx(want, rel=1e-9)


def test_gate_an_mlflow_run_against_the_run_in_production(tracking_uri, tmp_path):
    """CI gates a run fresh from the tracking server against the history's production run."""
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    (resnet,) = client.search_runs(
        [client.get_experiment_by_name("vision").experiment_id],
        filter_string="attributes.run_name = 'resnet-5'",
    )
    db = tmp_path / "history.duckdb"
    runs = tmp_path / "prod.csv"
    runs.write_text("run_id,model,f1,training_cost,inference_cost,training_hours,latency_ms\n"
                    "old,resnet50,0.70,5000,120,30,80\n")  # fmt: skip
    assert main(["score", str(runs), "--save", "--db", str(db), "-o", str(tmp_path / "o")]) == 0
    with Store(db) as store:
        prod = int(store.search("")["id"].iloc[0])
    assert main(["production", "mark", str(prod), "--model", "resnet50", "--db", str(db)]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "mlprod", "gate", f"mlflow:{resnet.info.run_id}", "--tracking-uri",
         tracking_uri, "--set", "inference_cost=120", "--db", str(db), "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["decision"] == "promote" and report["candidate"] == "resnet50"
    assert report["f1"] == {"baseline": 0.70, "candidate": pytest.approx(0.85)}
    unknown = subprocess.run(
        [sys.executable, "-m", "mlprod", "gate", "mlflow:0123456789abcdef", "--tracking-uri",
         tracking_uri, "--db", str(db)], capture_output=True, text=True,
    )  # fmt: skip
    assert unknown.returncode == 2 and "There is no run 0123456789abcdef" in unknown.stderr


def test_the_quality_is_read_at_each_runs_best_step_in_its_metrics_direction(
    tracking_uri, tmp_path
):
    """A run's metric history, as a training loop logs it: the best step in the metric's
    direction by default (highest accuracy, lowest WER), the last with --step last; latency
    and costs are the run's, not the step's."""
    import uuid

    import pyarrow.parquet as pq
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    name = f"steps-{uuid.uuid4().hex[:6]}"
    experiment = client.create_experiment(name)
    histories = {  # run name -> (metric key, values at steps 0, 1, 2, ...)
        "acc-run": ("val_accuracy", [0.70, 0.86, 0.81, 0.86]),
        "wer-run": ("wer", [0.30, 0.12, 0.19]),
    }
    for run_name, (key, values) in histories.items():
        run = client.create_run(experiment, start_time=T0, run_name=run_name)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, v, T0 + step, step) for step, v in enumerate(values)]
            + [Metric("latency_ms", 40.0, T0, 0)],
            params=[Param("model", run_name)],
        )
        client.set_terminated(run.info.run_id, end_time=T0 + 7_200_000)  # 2 hours

    def imported(*options: str) -> dict[str, dict]:
        out = tmp_path / f"{uuid.uuid4().hex}.parquet"
        _, stdout, _ = run_import(
            "--tracking-uri", tracking_uri, "--experiment", name, "--set", "training_cost=900",
            "--set", "inference_cost=100", "-o", str(out), "--json", *options,
        )  # fmt: skip
        report = json.loads(stdout)
        rows = {r["run_name"]: r for r in pq.read_table(out).to_pylist() if r["status"] == "ok"}
        return report, rows

    report, rows = imported("--metric", "accuracy")
    acc = rows["acc-run"]  # 0.86 first reached at step 1 (tie with step 3: the earliest)
    assert (acc["f1"], acc["step"], acc["metric"]) == (0.86, 1, "accuracy")
    assert acc["cer"] == pytest.approx(0.86 / 1000) and acc["ter"] == pytest.approx(0.86 / 2)
    assert acc["psr"] == pytest.approx(0.86 / 40)
    assert "wer-run" not in rows  # no accuracy logged: a row error, never scored as 0
    assert report["metric"] == "accuracy" and "best step (highest)" in report["steps"]["said"]

    _, rows = imported("--metric", "accuracy", "--step", "last")
    assert (rows["acc-run"]["f1"], rows["acc-run"]["step"]) == (0.86, 3)

    _, rows = imported("--metric", "wer")
    wer = rows["wer-run"]  # lowest WER 0.12 at step 1: quality 1 − 0.12
    assert (wer["metric_value"], wer["f1"], wer["step"]) == (0.12, 0.88, 1)
    assert wer["cer"] == pytest.approx(0.88 / 1000)
    _, rows = imported("--metric", "wer", "--step", "last")
    assert rows["wer-run"]["f1"] == pytest.approx(1 - 0.19)

    db = tmp_path / "h.duckdb"  # saved with its metric: History keeps it apart from F1 runs
    code, _, _ = run_import(
        "--tracking-uri", tracking_uri, "--experiment", name, "--metric", "wer",
        "--set", "training_cost=900", "--set", "inference_cost=100", "--save", "--db", str(db),
        "-o", str(tmp_path / "w.csv"),
    )  # fmt: skip
    assert code == 1  # acc-run logs no WER: a row error
    with Store(db) as store:
        assert store.metrics() == {"wer": 1}
