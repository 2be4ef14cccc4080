"""The command line as a pipeline sees it (#18): whole processes, A/B against DuckDB itself.

    python tests/benchmarks/cli_process.py [--rows 1000000] [--repeat 3] [--old WORKTREE]

Times ``python -m mlprod score RUNS.csv -o SCORED.csv --save --db NEW.duckdb`` and, on the
same file in the same run, DuckDB's own ``CREATE TABLE AS SELECT * FROM read_csv(...)`` plus
``COPY ... TO`` CSV in a fresh Python process, and ``duckdb_same_work``: DuckDB alone doing
what ``score --save`` does (the ratios, a table of the history's columns, the 23-column
scored CSV), the floor of this work on this machine; prints one JSON object per figure (median
seconds, CPU seconds, rows/s, and the ratio), and the parts of mlprod's run: ``score``
without save, ``score`` of runs whose training costs are priced from their GPUs (a
provider column per run), the imports alone, and ``mlprod_parts`` (imports, reading and scoring, the
scored CSV, the save, DuckDB's checkpoint: each alone, in one process). With ``--old``, the
same ``score --save`` of an older worktree, interleaved (A/B in the same minutes).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[2]

DUCKDB = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.sql("CREATE TABLE runs AS SELECT * FROM read_csv('" + sys.argv[2] + "')")
con.sql("COPY runs TO '" + sys.argv[3] + "' (HEADER)")
"""
# The same work as ``score --save`` in DuckDB alone: the ratios computed, the rows stored in
# a table of the history's columns, the 23 columns of the scored file written as CSV.
DUCKDB_SAME_WORK = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.sql(
    "CREATE TABLE calculations AS SELECT row_number() OVER () AS id, "
    "current_timestamp::TIMESTAMP AS created_at, run_id, NULL::VARCHAR AS run_name, "
    "model_name, NULL::VARCHAR AS project, NULL::VARCHAR AS tags, NULL::VARCHAR AS notes, "
    "f1, training_cost, inference_cost, training_hours, latency_ms, "
    "f1 / (training_cost + inference_cost) AS cer, f1 / training_hours AS ter, "
    "f1 / latency_ms AS psr, NULL::TIMESTAMP AS deleted_at "
    "FROM read_csv('" + sys.argv[2] + "')"
)
con.sql(
    "COPY (SELECT id + 1 AS line, 'ok' AS status, NULL::VARCHAR AS error, run_id, run_name, "
    "model_name, project, tags, notes, NULL::TIMESTAMP AS created_at, f1, training_cost, "
    "inference_cost, training_hours, latency_ms, cer, ter, psr, NULL::DOUBLE AS precision, "
    "NULL::DOUBLE AS recall, NULL::BIGINT AS tp, NULL::BIGINT AS fp, NULL::BIGINT AS fn "
    "FROM calculations) TO '" + sys.argv[3] + "' (HEADER)"
)
con.close()
"""


#: GPUs as trackers log them, and the providers a file may name per run (empty: the team's).
LOGGED_GPUS = [
    "NVIDIA A100-SXM4-80GB",
    "Tesla T4",
    "NVIDIA H100 80GB HBM3",
    "L4",
    "Tesla V100-SXM2-16GB",
]
PROVIDERS = ["", "", "AWS", "GCP"]  # every GPU above is listed by both


def priced_runs_csv(path: Path, rows: int) -> Path:
    """Runs without a training cost: each priced from its GPUs, at its own provider where
    it names one (the team's pricing elsewhere)."""
    rng = np.random.default_rng(12)
    table = pa.table({
        "run_id": pa.array([f"run-{i}" for i in range(rows)]),
        "model_name": pa.array([f"model-{i % 9}" for i in range(rows)]),
        "f1": rng.uniform(0.5, 0.99, rows).round(4),
        "gpu": pa.array([LOGGED_GPUS[i % 5] for i in range(rows)]),
        "gpus": rng.integers(1, 9, rows),
        "provider": pa.array([PROVIDERS[i % 4] for i in range(rows)]),
        "inference_cost": rng.uniform(0, 300, rows).round(2),
        "training_hours": rng.uniform(1, 10, rows).round(2),
        "latency_ms": rng.uniform(5, 100, rows).round(1),
    })  # fmt: skip
    pacsv.write_csv(table, path)
    return path


def runs_csv(path: Path, rows: int) -> Path:
    rng = np.random.default_rng(11)
    f1 = rng.uniform(0.5, 0.99, rows)
    table = pa.table({
        "run_id": pa.array([f"run-{i}" for i in range(rows)]),
        "model_name": pa.array([f"model-{i % 9}" for i in range(rows)]),
        "f1": f1.round(4), "training_cost": rng.uniform(10, 1000, rows).round(2),
        "inference_cost": rng.uniform(0, 300, rows).round(2),
        "training_hours": rng.uniform(1, 10, rows).round(2),
        "latency_ms": rng.uniform(5, 100, rows).round(1),
    })  # fmt: skip
    pacsv.write_csv(table, path)
    return path


PARTS = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from mlprod.export import CsvOut
from mlprod.ingest import inspect, resolve_mapping, scored_batches
from mlprod.saving import save_batch
from mlprod.store import Store
parts = {"imports": time.perf_counter() - started}
clock = time.perf_counter()
source = inspect(Path(sys.argv[1]))
tables = list(scored_batches(source, resolve_mapping(source, None), stream=True))
parts["read_score"] = time.perf_counter() - clock
clock = time.perf_counter()
out = CsvOut(sys.argv[2])
for table in tables:
    out.write(table)
out.close()
parts["scored_csv"] = time.perf_counter() - clock
store = Store(sys.argv[3])
clock = time.perf_counter()
save_batch(store, iter(tables), source="cli")
parts["save"] = time.perf_counter() - clock
clock = time.perf_counter()
store.checkpoint()
parts["checkpoint"] = time.perf_counter() - clock
store.close()
parts["columns_written"] = tables[0].num_columns
print(json.dumps(parts))
"""


def _time(args: list[str], tree: Path = ROOT, ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the process (whose exit status
    must be one of ``ok``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, cwd=tree, capture_output=True)
    if done.returncode not in ok:
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old", type=Path, help="an older worktree: its score --save too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlprod-cli-") as name:
        folder = Path(name)
        csv = runs_csv(folder / "runs.csv", args.rows)
        priced = priced_runs_csv(folder / "priced.csv", args.rows)
        figures: dict[str, list[tuple[float, float]]] = {}
        for i in range(args.repeat):  # interleaved: the machine's noise hits both sides
            py = sys.executable
            figures.setdefault("duckdb_ctas_copy", []).append(_time(
                [py, "-c", DUCKDB, str(folder / f"d{i}.duckdb"), str(csv), str(folder / "d.csv")]
            ))  # fmt: skip
            figures.setdefault("duckdb_same_work", []).append(_time([
                py, "-c", DUCKDB_SAME_WORK, str(folder / f"w{i}.duckdb"), str(csv),
                str(folder / "w.csv"),
            ]))  # fmt: skip
            figures.setdefault("mlprod_score_save", []).append(_time(
                [py, "-m", "mlprod", "score", str(csv), "-o", str(folder / "s.csv"), "--save",
                 "--db", str(folder / f"m{i}.duckdb")]
            ))  # fmt: skip
            if args.old:
                figures.setdefault("old_mlprod_score_save", []).append(_time(
                    [py, "-m", "mlprod", "score", str(csv), "-o", str(folder / "o.csv"),
                     "--save", "--db", str(folder / f"o{i}.duckdb")], args.old.resolve()
                ))  # fmt: skip
            # Training costs priced from GPUs, per run (a provider column; new code only
            # reads it: the old priced every run at the cheapest provider).
            figures.setdefault("mlprod_score_gpu_priced", []).append(
                _time([py, "-m", "mlprod", "score", str(priced), "-o", str(folder / "g.csv")])
            )
            if args.old:
                figures.setdefault("old_mlprod_score_gpu_priced", []).append(_time(
                    [py, "-m", "mlprod", "score", str(priced), "-o", str(folder / "h.csv")],
                    args.old.resolve(),
                ))  # fmt: skip
            figures.setdefault("mlprod_score_no_save", []).append(
                _time([py, "-m", "mlprod", "score", str(csv), "-o", str(folder / "n.csv")])
            )
            figures.setdefault("python_imports_only", []).append(_time(
                [py, "-c", "import mlprod.cli.batch, mlprod.ingest, mlprod.saving, "
                 "mlprod.store, pyarrow.csv, duckdb"]
            ))  # fmt: skip
        base = statistics.median(wall for wall, _ in figures["duckdb_ctas_copy"])
        same = statistics.median(wall for wall, _ in figures["duckdb_same_work"])
        for name_, runs in figures.items():
            median = statistics.median(wall for wall, _ in runs)
            cpu = statistics.median(cpu for _, cpu in runs)
            print(json.dumps({"figure": name_, "rows": args.rows, "median_s": round(median, 3),
                              "cpu_s": round(cpu, 2), "rows_per_s": round(args.rows / median),
                              "x_duckdb": round(median / base, 2),
                              "x_same_work": round(median / same, 2)}), flush=True)  # fmt: skip
        # Where mlprod's time goes: each part alone, one after the other, in a fresh process.
        done = subprocess.run(
            [sys.executable, "-c", PARTS, str(csv), str(folder / "p.csv"),
             str(folder / "p.duckdb")], cwd=ROOT, check=True, capture_output=True, text=True,
        )  # fmt: skip
        parts = json.loads(done.stdout)
        print(json.dumps({"figure": "mlprod_parts", "rows": args.rows,
                          **{k: round(v, 3) for k, v in parts.items()}}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
