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
- ``cpu_floor``: why ``score_store`` cannot get much closer to ``plain_load`` on this
  machine: the CPU seconds its parts need (reading + scoring, hashing, DuckDB's write),
  summed and spread perfectly over every core, give the least wall time possible.
- ``duckdb_sql_sketch``: the same file parsed *and* scored by DuckDB itself (ratios and
  the ok check in SQL, no error texts), once in parallel (rows lose their file order and
  line numbers) and once ``WITH ORDINALITY`` (line numbers kept: DuckDB runs it on one
  thread) — the two shapes an all-SQL save could take.
- ``naive``: pandas ``read_csv`` + ``DataFrame.apply`` per row + the same store.
- ``peak_memory``: the whole path in a fresh process on ``--memory-rows`` rows (max RSS).
- ``session_memory``: what a browser session keeps of the scored file (the batch page's
  ``score_to_disk``: the scored rows on disk, a preview in memory), measured as the Arrow
  and Python memory still allocated while the result is held. (The upload itself is on
  disk too: the page lets Streamlit's uploader drop its in-memory copy once the file is
  written out, ``ui.uploads._release_streamlit_copy``.)
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
from mlprod.saving import file_hash, save_batch  # noqa: E402
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


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread (DuckDB's and pyarrow's) included."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


class Clock:
    """Wall and CPU seconds of the block it times."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = cpu_seconds() - self.cpu


def plain_load(csv_path: Path, workdir: Path, sql: str = "SELECT * FROM read_csv(?)") -> Clock:
    db = workdir / "plain.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    with Clock() as clock:
        con.execute(f"CREATE TABLE t AS {sql}", [str(csv_path)])
    con.close()
    return clock


# The ratios and the ok check in DuckDB SQL (the error texts left out): what a save would
# cost if DuckDB parsed and scored the file itself, for ``duckdb_sql_sketch``.
_SQL_SCORED = """
    SELECT {order} *, f1 / (training_cost + inference_cost) AS cer, f1 / training_hours AS ter,
           f1 / latency_ms AS psr,
           f1 BETWEEN 0 AND 1 AND training_cost >= 0 AND inference_cost >= 0
           AND training_cost + inference_cost > 0 AND training_hours > 0 AND latency_ms > 0
           AS ok
    FROM read_csv(?) {ordinality}
"""


def _touch(path: Path) -> None:
    """A new modification time: the remembered hash no longer applies, the file is read."""
    os.utime(path, ns=(time.time_ns(), time.time_ns()))


def score_store(csv_path: Path, workdir: Path) -> tuple[float, int, float]:
    """Seconds, rows stored, CPU seconds."""
    db = workdir / "ours.duckdb"
    db.unlink(missing_ok=True)
    _touch(csv_path)  # each run hashes the file, as a fresh `mlprod score` does
    with Store(db) as store:
        with Clock() as clock:
            inspection = inspect(csv_path)
            mapping = resolve_mapping(inspection)
            save_batch(  # the one save path, as `mlprod score --save` calls it
                store, scored_batches(inspection, mapping, stream=True), source="benchmark",
                file=csv_path,
            )  # fmt: skip
        # The batch's own row count: a count(*) scan here would fill DuckDB's page cache
        # and show up in the peak memory as if scoring had used it.
        found = store.find_batch(file_hash(csv_path))
    return clock.wall, int(found["rows"]) if found else 0, clock.cpu


def read_and_score(csv_path: Path) -> Clock:
    """Inspect, parse, validate and score, storing nothing (as ``score_store`` streams it)."""
    with Clock() as clock:
        inspection = inspect(csv_path)
        for _ in scored_batches(inspection, resolve_mapping(inspection), stream=True):
            pass
    return clock


def hash_only(csv_path: Path) -> Clock:
    with Clock() as clock:
        _touch(csv_path)
        file_hash(csv_path)
    return clock


def store_only(csv_path: Path, workdir: Path) -> Clock:
    """Only the DuckDB write of already-scored rows: the floor under score_store."""
    inspection = inspect(csv_path)
    tables = list(scored_batches(inspection, resolve_mapping(inspection)))
    db = workdir / "store_only.duckdb"
    db.unlink(missing_ok=True)
    with Store(db) as store, Clock() as clock:
        save_batch(store, tables, source="benchmark")
    return clock


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
        f"elapsed, stored, _ = score_store(Path({str(csv_path)!r}), Path({str(workdir)!r}))\n"
        "print(elapsed, stored)\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kb <= before:
        raise RuntimeError("could not measure the child's peak memory")
    return peak_kb / 1024, float(out.stdout.split()[0])


def session_memory(csv_path: Path, workdir: Path) -> dict[str, float]:
    """MB a session holds of a scored file: Arrow buffers (the preview tables) and Python
    objects allocated by ``score_to_disk`` and still alive, after a garbage collection."""
    import gc
    import tracemalloc

    from mlprod.ingest.on_disk import score_to_disk

    folder = Path(tempfile.mkdtemp(dir=workdir))
    gc.collect()
    arrow_before = pa.total_allocated_bytes()
    tracemalloc.start()
    python_before = tracemalloc.get_traced_memory()[0]
    scored = score_to_disk(inspect(csv_path), folder=folder)
    gc.collect()
    held = {"arrow_mb": (pa.total_allocated_bytes() - arrow_before) / 1e6,
            "python_mb": (tracemalloc.get_traced_memory()[0] - python_before) / 1e6}  # fmt: skip
    tracemalloc.stop()
    held["rows"] = scored.summary.rows
    held["preview_rows"] = scored.preview.num_rows
    held["on_disk_mb"] = scored.path.stat().st_size / 1e6
    scored.remove()
    return held


def emit_floor(csv_path: Path, rows: int, repeat: int, plain_s: float, writes: list[Clock]) -> None:
    """The least wall time score_store could take: its parts' CPU over every core."""
    read_cpu = statistics.median(read_and_score(csv_path).cpu for _ in range(repeat))
    hash_cpu = statistics.median(hash_only(csv_path).cpu for _ in range(repeat))
    write_cpu = statistics.median(c.cpu for c in writes)
    total = read_cpu + hash_cpu + write_cpu
    cores = os.cpu_count() or 1
    emit(figure="cpu_floor", rows=rows, read_score_cpu_s=round(read_cpu, 3),
         hash_cpu_s=round(hash_cpu, 3), write_cpu_s=round(write_cpu, 3),
         total_cpu_s=round(total, 3), cores=cores, least_wall_s=round(total / cores, 3),
         least_ratio_to_plain_load=round(total / cores / plain_s, 2))  # fmt: skip


def emit_sql_sketch(csv_path: Path, workdir: Path, rows: int, repeat: int, plain_s: float) -> None:
    shapes = {
        "parallel, no line numbers": _SQL_SCORED.format(order="", ordinality=""),
        "in file order, line numbers": _SQL_SCORED.format(
            order="ordinality + 1 AS line,", ordinality="WITH ORDINALITY"
        ),
    }
    for shape, sql in shapes.items():
        wall = statistics.median(plain_load(csv_path, workdir, sql).wall for _ in range(repeat))
        emit(figure="duckdb_sql_sketch", rows=rows, shape=shape, median_s=round(wall, 3),
             ratio_to_plain_load=round(wall / plain_s, 2))  # fmt: skip


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
        plain_s = statistics.median(c.wall for c in plain)
        ours_s = statistics.median(t for t, _, _ in ours)
        emit(figure="plain_load", rows=args.rows, median_s=round(plain_s, 3),
             rows_per_s=round(args.rows / plain_s),
             cpu_s=round(statistics.median(c.cpu for c in plain), 3))  # fmt: skip
        emit(figure="score_store", rows=args.rows, stored=ours[0][1], median_s=round(ours_s, 3),
             rows_per_s=round(args.rows / ours_s),
             ratio_to_plain_load=round(ours_s / plain_s, 2),
             cpu_s=round(statistics.median(c for _, _, c in ours), 3))  # fmt: skip

        writes = [store_only(csv_path, workdir) for _ in range(args.repeat)]
        write_s = statistics.median(c.wall for c in writes)
        emit(
            figure="store_only",
            rows=args.rows,
            median_s=round(write_s, 3),
            ratio_to_plain_load=round(write_s / plain_s, 2),
            cpu_s=round(statistics.median(c.cpu for c in writes), 3),
        )
        emit_floor(csv_path, args.rows, args.repeat, plain_s, writes)
        emit_sql_sketch(csv_path, workdir, args.rows, args.repeat, plain_s)

        naive_rows = min(args.naive_rows, args.rows)
        naive_s = naive(csv_path, workdir, naive_rows)
        naive_rate = naive_rows / naive_s
        emit(figure="naive_apply", rows=naive_rows, seconds=round(naive_s, 3),
             rows_per_s=round(naive_rate),
             ours_speedup=round((args.rows / ours_s) / naive_rate, 1))  # fmt: skip

        held = session_memory(csv_path, workdir)
        emit(figure="session_memory", rows=held["rows"], preview_rows=held["preview_rows"],
             held_mb=round(held["arrow_mb"] + held["python_mb"], 1),
             arrow_mb=round(held["arrow_mb"], 1), python_mb=round(held["python_mb"], 1),
             scored_on_disk_mb=round(held["on_disk_mb"], 1),
             upload_mb=round(size_mb, 1))  # fmt: skip

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
