"""How fast ``mlprod import mlflow`` brings runs in from a real tracking server.

Run by hand: ``python tests/benchmarks/mlflow_import.py --runs 10000``. Starts ``mlflow
server`` (its own virtual environment, see ``tests/mlflow_server.py``) on a sqlite
backend, fills it with runs written through MLflow's own tracking store (the fast way to
make 10,000 runs; the import reads them through the server like any client), then times:

- ``import``: the whole ``python -m mlprod import mlflow ... -o /dev/null`` process, as a
  person waits for it (start-up included), with and without ``--save``;
- ``server_read``: only the paged ``search_runs`` calls against the server, in this
  process: the server's own share (sqlite, JSON, HTTP) that no change to mlprod removes.

Prints one JSON object per figure.
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

from tests.mlflow_server import SERVER_PYTHON, free_port  # noqa: E402

FILL = """
import sys, time
from mlflow.entities import Metric, Param, RunStatus
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore(sys.argv[1], sys.argv[2])
experiment = store.create_experiment("bench")
gpus = ["NVIDIA A100-SXM4-80GB", "Tesla T4", "NVIDIA H100 80GB HBM3", "NVIDIA L4"]
t0 = 1_764_000_000_000
for i in range(int(sys.argv[3])):
    run = store.create_run(experiment, "bench", t0 + i, [], f"run-{i}")
    store.log_batch(run.info.run_id, metrics=[Metric("f1", 0.5 + (i % 50) / 100, t0, 0),
                    Metric("latency_ms", 5 + i % 40, t0, 0)],
                    params=[Param("model", f"m{i % 7}"), Param("gpu", gpus[i % 4]),
                            Param("gpus", str(1 + i % 8))], tags=[])
    store.update_run_info(run.info.run_id, RunStatus.FINISHED,
                          t0 + i + 3_600_000 * (1 + i % 5), None)
"""


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mlprod-bench-mlflow-"))
    backend = f"sqlite:///{folder}/mlflow.db"
    started = time.perf_counter()
    subprocess.run([str(SERVER_PYTHON), "-c", FILL, backend, str(folder / "artifacts"),
                    str(args.runs)], check=True)  # fmt: skip
    emit(figure="fill", runs=args.runs, seconds=round(time.perf_counter() - started, 1))

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(SERVER_PYTHON), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
         str(port), "--backend-store-uri", backend, "--default-artifact-root",
         str(folder / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        import urllib.request

        for _ in range(180):
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        from mlprod.ingest.mlflow_server import MlflowSource

        MlflowSource(uri, ["bench"]).runs()  # the server's first answers are slow: warm it
        command = [sys.executable, "-m", "mlprod", "import", "mlflow", "--tracking-uri", uri,
                   "--experiment", "bench", "--set", "inference_cost=100", "-o", os.devnull,
                   "--json"]  # fmt: skip
        for save in (False, True):
            walls = []
            for i in range(args.repeat):
                extra = ["--save", "--db", str(folder / f"h{i}.duckdb")] if save else []
                t = time.perf_counter()
                done = subprocess.run([*command, *extra], capture_output=True, text=True,
                                      cwd=ROOT, check=False)  # fmt: skip
                walls.append(time.perf_counter() - t)
                report = json.loads(done.stdout.strip().splitlines()[-1])
            wall = statistics.median(walls)
            emit(figure="import", save=save, runs=report["rows"], ok=report["ok"],
                 median_s=round(wall, 2), runs_per_s=round(report["rows"] / wall))  # fmt: skip

        reads = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            table = MlflowSource(uri, ["bench"]).runs()
            reads.append(time.perf_counter() - t)
        read = statistics.median(reads)
        emit(figure="server_read", runs=table.num_rows, median_s=round(read, 2),
             share_of_import=round(read / wall, 2))  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
