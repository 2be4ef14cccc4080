"""A real ``mlflow server`` for the tests: its own virtual environment, a sqlite backend,
a free loopback port; runs logged through MLflow's client the way teams log them.

The server's environment: ``python -m venv ~/.cache/mlprod/mlflow-server`` and
``~/.cache/mlprod/mlflow-server/bin/python -m pip install -r
tests/mlflow-server-requirements.txt`` (the README's test command does both; full ``mlflow``
pins ``pyarrow<26``). ``MLPROD_MLFLOW_PYTHON`` points at another interpreter.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def serve(tmp_path_factory) -> Iterator[str]:
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
