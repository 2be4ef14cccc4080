"""Speed and memory of batch scoring, on data this script generates.

Run by hand (``python tests/benchmarks/run.py``) or with small sizes from the test suite.
Prints one JSON object per figure on stdout. No thresholds here: the figures are read by
people (and quoted in closing notes), not asserted by CI.

Figures
-------
- ``plain_load``: DuckDB loading the CSV into a table (``CREATE TABLE t AS SELECT * FROM
  read_csv(...)``) — the floor for "read a CSV into a database".
- ``score_store``: mlprod's whole path, inspect -> parse -> validate -> score -> store in
  one transaction, streamed block by block.
- ``store_only``: just the DuckDB write of rows already scored in memory — the floor
  under ``score_store`` (our rows carry ids, ratios and metadata: more columns than the
  raw file).
- ``naive``: pandas ``read_csv`` + ``DataFrame.apply`` per row + the same store.
- ``peak_memory``: the whole path in a fresh process on ``--memory-rows`` rows (max RSS).
- ``history_*``: the history page's queries on generated databases of ``--history-rows``
  calculations (issue #5; see ``tests/benchmarks/history.py``, which also runs alone).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlprod.ingest import inspect, resolve_mapping, scored_batches  # noqa: E402
from mlprod.store import Store  # noqa: E402
from tests.benchmarks.history import history_figures  # noqa: E402

MODELS = np.array(["bert-large", "resnet50", "distilbert-base", "mobilenet-v3", "gpt2-small",
                   "vit-b16", "xgboost", "llama-7b-ft"])  # fmt: skip


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A canonical CSV of ``rows`` runs, written in chunks (1% of rows carry an error)."""
    rng = np.random.default_rng(seed)
    writer = None
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        f1 = np.round(rng.uniform(0.5, 0.99, n), 4)
        f1[rng.random(n) < 0.01] = 90.0  # "90" instead of 0.90: a row error
        table = pa.table({
            "run_id": pa.array(np.char.add("run-", np.arange(start, start + n).astype(str))),
            "model_name": pa.array(MODELS[rng.integers(0, len(MODELS), n)]),
            "f1": f1,
            "training_cost": np.round(rng.uniform(10, 5000, n), 2),
            "inference_cost": np.round(rng.uniform(0, 500, n), 2),
            "training_hours": np.round(rng.uniform(0.1, 100, n), 3),
            "latency_ms": np.round(rng.uniform(1, 500, n), 2),
        })  # fmt: skip
        if writer is None:
            writer = pacsv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def plain_load(csv_path: Path, workdir: Path) -> float:
    db = workdir / "plain.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    started = time.perf_counter()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(csv_path)])
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def score_store(csv_path: Path, workdir: Path) -> tuple[float, int]:
    db = workdir / "ours.duckdb"
    db.unlink(missing_ok=True)
    with Store(db) as store:
        started = time.perf_counter()
        inspection = inspect(csv_path)
        mapping = resolve_mapping(inspection)
        store.append_calculations(
            scored_batches(inspection, mapping, stream=True),  # as `score --save` does
            source="benchmark",
            content_hash=inspection.hash_meanwhile(),  # as `score --save` does
        )
        elapsed = time.perf_counter() - started
        # The batch's own row count: a count(*) scan here would fill DuckDB's page cache
        # and show up in the peak memory as if scoring had used it.
        found = store.find_batch(inspection.content_hash)
    return elapsed, int(found["rows"]) if found else 0


def store_only(csv_path: Path, workdir: Path) -> float:
    """Only the DuckDB write of already-scored rows: the floor under score_store."""
    inspection = inspect(csv_path)
    tables = list(scored_batches(inspection, resolve_mapping(inspection)))
    db = workdir / "store_only.duckdb"
    db.unlink(missing_ok=True)
    with Store(db) as store:
        started = time.perf_counter()
        store.append_calculations(tables, source="benchmark")
        return time.perf_counter() - started


def naive(csv_path: Path, workdir: Path, rows: int) -> float:
    db = workdir / "naive.duckdb"
    db.unlink(missing_ok=True)

    def one(row: pd.Series) -> pd.Series:
        ok = (0 <= row.f1 <= 1 and row.training_cost >= 0 and row.inference_cost >= 0
              and row.training_cost + row.inference_cost > 0 and row.training_hours > 0
              and row.latency_ms > 0)  # fmt: skip
        nan = math.nan
        return pd.Series({
            "cer": row.f1 / (row.training_cost + row.inference_cost) if ok else nan,
            "ter": row.f1 / row.training_hours if ok else nan,
            "psr": row.f1 / row.latency_ms if ok else nan,
            "status": "ok" if ok else "error",
        })  # fmt: skip

    with Store(db) as store:
        started = time.perf_counter()
        frame = pd.read_csv(csv_path, nrows=rows)
        scored = pd.concat([frame, frame.apply(one, axis=1)], axis=1)
        good = scored[scored.status == "ok"].drop(columns="status")
        store.append_calculations(good, source="benchmark")
        return time.perf_counter() - started


def peak_memory_mb(rows: int, workdir: Path) -> tuple[float, float]:
    """Max RSS of a fresh process that scores and stores ``rows`` rows."""
    csv_path = workdir / f"runs_{rows}.csv"
    if not csv_path.exists():
        generate(csv_path, rows)
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.benchmarks.run import score_store\n"
        "from pathlib import Path\n"
        f"elapsed, stored = score_store(Path({str(csv_path)!r}), Path({str(workdir)!r}))\n"
        "print(elapsed, stored)\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kb <= before:
        raise RuntimeError("could not measure the child's peak memory")
    return peak_kb / 1024, float(out.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=100_000)
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=10_000_000,
        help="rows for the peak-memory run in a fresh process (0 skips it)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--history-rows",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="database sizes for the history figures (0 skips them)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mlprod-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "runs.csv"
        generate(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        emit(figure="input", rows=args.rows, csv_mb=round(size_mb, 1), cores=os.cpu_count())

        plain = [plain_load(csv_path, workdir) for _ in range(args.repeat)]
        ours = [score_store(csv_path, workdir) for _ in range(args.repeat)]
        plain_s = statistics.median(plain)
        ours_s = statistics.median(t for t, _ in ours)
        emit(figure="plain_load", rows=args.rows, median_s=round(plain_s, 3),
             rows_per_s=round(args.rows / plain_s))  # fmt: skip
        emit(figure="score_store", rows=args.rows, stored=ours[0][1], median_s=round(ours_s, 3),
             rows_per_s=round(args.rows / ours_s),
             ratio_to_plain_load=round(ours_s / plain_s, 2))  # fmt: skip

        write_s = statistics.median(store_only(csv_path, workdir) for _ in range(args.repeat))
        emit(
            figure="store_only",
            rows=args.rows,
            median_s=round(write_s, 3),
            ratio_to_plain_load=round(write_s / plain_s, 2),
        )

        naive_rows = min(args.naive_rows, args.rows)
        naive_s = naive(csv_path, workdir, naive_rows)
        naive_rate = naive_rows / naive_s
        emit(figure="naive_apply", rows=naive_rows, seconds=round(naive_s, 3),
             rows_per_s=round(naive_rate),
             ours_speedup=round((args.rows / ours_s) / naive_rate, 1))  # fmt: skip

        if args.memory_rows:
            peak, seconds = peak_memory_mb(args.memory_rows, workdir)
            emit(
                figure="peak_memory",
                rows=args.memory_rows,
                peak_rss_mb=round(peak),
                seconds=round(seconds, 2),
                rows_per_s=round(args.memory_rows / seconds),
            )

    history_rows = [rows for rows in args.history_rows if rows > 0]
    if history_rows:
        history_figures(history_rows, repeat=max(args.repeat, 5))


if __name__ == "__main__":
    main()
