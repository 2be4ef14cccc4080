"""Both backends side by side, in one run: a 1M-row batch save, and the History page's
queries and whole visit at 1M runs, on a DuckDB file and on a real PostgreSQL server.

``python tests/benchmarks/postgres.py --rows 1000000`` prints one JSON object per figure.
The server is started from Debian's packages on a free loopback port with its default,
durable settings (fsync and synchronous commit on), and stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlprod.store import Store  # noqa: E402
from tests.benchmarks.history import (  # noqa: E402
    AUTHORS,
    VIEWS,
    median_ms,
    page_queries,
    tables,
)
from tests.pg_server import PostgresServer  # noqa: E402


def emit(**figure: object) -> None:
    print(json.dumps(figure, default=str), flush=True)


def timed_save(database: str, batch: pa.Table, repeat: int) -> list[float]:
    """Seconds to store ``batch`` as one new batch (each try on a fresh database)."""
    times = []
    for attempt in range(repeat):
        target = database.format(n=attempt)
        with Store(target) as store:
            started = time.perf_counter()
            store.append_calculations(batch, source="benchmark", author="ann")
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    views = VIEWS
    with tempfile.TemporaryDirectory(prefix="mlprod-pg-bench-") as tmp:
        server = PostgresServer(durable=True)
        try:
            batch = pa.concat_tables(tables(args.rows, chunk=args.rows))
            for n in range(3):
                server.sql(f"CREATE DATABASE save_{n}")
            targets = {
                "duckdb": str(Path(tmp) / "save_{n}.duckdb"),
                "postgresql": server.uri("save_{n}"),
            }
            for backend, target in targets.items():
                times = timed_save(target, batch, 3)
                best = min(times)
                emit(figure="batch_save", backend=backend, rows=args.rows,
                     seconds=[round(t, 2) for t in times],
                     rows_per_s=round(args.rows / statistics.median(times)),
                     best_rows_per_s=round(args.rows / best))  # fmt: skip
            server.sql("CREATE DATABASE history")
            homes = {
                "duckdb": str(Path(tmp) / "history.duckdb"),
                "postgresql": server.uri("history"),
            }
            for backend, home in homes.items():
                with Store(home) as store:
                    for i, table in enumerate(tables(args.rows)):
                        store.append_calculations(table, source="benchmark",
                                                  author=AUTHORS[i % len(AUTHORS)])  # fmt: skip
                    if backend == "postgresql":
                        with store.cursor() as cur:  # what autovacuum would do soon after
                            cur.execute("VACUUM ANALYZE")
                    for view, f in views.items():
                        medians = {}
                        for name, run in page_queries(store, f).items():
                            medians[name] = median_ms(run, args.repeat)
                            ms = round(medians[name], 1)
                            emit(figure="history_query", backend=backend, rows=args.rows,
                                 view=view, query=name, median_ms=ms)  # fmt: skip
                        whole = median_ms(lambda: store.overview(f), args.repeat)  # noqa: B023
                        emit(figure="history_visit", backend=backend, rows=args.rows, view=view,
                             median_ms=round(whole, 1),
                             slowest_query=max(medians, key=medians.get))  # fmt: skip
        finally:
            server.remove()


if __name__ == "__main__":
    main()
