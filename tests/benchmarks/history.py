"""Speed of the history page's queries on a generated database of N calculations.

``python tests/benchmarks/history.py --rows 1000000 10000000`` prints one JSON object per
figure: the median time of each query the page runs (uncached, as on a first visit or
after a write), for the default view (no filter) and a filtered one (two models, six
months), and a whole visit (``Store.overview`` plus one page of the table).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlprod.store import HistoryFilter, Store  # noqa: E402

MODELS = np.array(["distilbert-base", "bert-base", "roberta-large", "xgboost", "tabnet",
                   "llama-7b-lora", "resnet50", "efficientnet-b0", "vit-b16",
                   "gpt2-small", "t5-base", "whisper-small"])  # fmt: skip
PROJECTS = np.array(["support-triage", "fraud-detection", "vision-qc", "speech"])
TAGS = np.array(["", "spot", "baseline", "prod", "spot, baseline", "experiment"])
AUTHORS = ["ann", "bob", "chen", "dana", "eve"]


def build(path: Path | str, rows: int, seed: int = 11) -> None:
    """``rows`` calculations over two years, saved as batches by five people (``path``: a
    DuckDB file or a PostgreSQL URI)."""
    with Store(path) as store:
        for i, table in enumerate(tables(rows, seed)):
            store.append_calculations(table, source="benchmark", author=AUTHORS[i % len(AUTHORS)])


def tables(rows: int, seed: int = 11, chunk: int = 500_000) -> Iterator[pa.Table]:
    """``rows`` generated calculations over two years, ``chunk`` rows a table."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00")
    for first in range(0, rows, chunk):
        n = min(chunk, rows - first)
        model = rng.integers(0, len(MODELS), n)
        f1 = np.round(rng.uniform(0.6, 0.99, n), 4)
        cost = np.round(rng.lognormal(6, 1.2, n), 2)
        infer = np.round(cost * rng.uniform(0.05, 0.4, n), 2)
        hours = np.round(rng.lognormal(1.5, 0.9, n), 3)
        latency = np.round(rng.lognormal(3, 1, n), 2)
        seconds = rng.integers(0, 730 * 86400, n).astype("timedelta64[s]")
        table = pa.table({
            "created_at": pa.array(start + seconds),
            "run_id": pa.array(np.char.add("run-", np.arange(first, first + n).astype(str))),
            "model_name": pa.array(MODELS[model]),
            "project": pa.array(PROJECTS[model % len(PROJECTS)]),
            "tags": pa.array(TAGS[rng.integers(0, len(TAGS), n)]),
            "f1": f1, "training_cost": cost, "inference_cost": infer,
            "training_hours": hours, "latency_ms": latency,
            "cer": f1 / (cost + infer), "ter": f1 / hours, "psr": f1 / latency,
        })  # fmt: skip
        yield table


#: The History views every benchmark times: the default (no filter) and a filtered one
#: (two models, six months).
VIEWS = {
    "all": HistoryFilter(),
    "filtered": HistoryFilter(models=("bert-base", "resnet50"),
                              date_from=date(2026, 1, 1), date_to=date(2026, 6, 30)),
}  # fmt: skip


def page_queries(store: Store, f: HistoryFilter) -> dict[str, Callable[[], object]]:
    """Exactly what pages/history.py asks for on one visit."""
    total = store.summary(f)["runs"]  # the page passes the count it already has
    fronts = store.frontiers(f, details=False)
    best = store.best_per_model(f, details=False)
    ids = [*best["id"], *(i for front in fronts.values() for i in front["id"])]
    return {
        "summary": lambda: store.summary(f),
        "table_page": lambda: store.history_page(f, page=2, page_size=50),
        "trend": lambda: store.trend(f, "week"),
        # One scan for both frontiers (and the cheapest run near the best F1) ...
        "frontiers": lambda: store.frontiers(f, details=False),
        "scatter": lambda: store.scatter(f, total=total),
        "best_per_model": lambda: store.best_per_model(f, details=False),
        "run_details": lambda: store.run_details(ids),
        # ... and the two questions asked alone: one top-1 query each (the page asks the
        # second this way, next to the frontier scan).
        "best_under": lambda: store.best_under(f, budget=1000, latency_ms=50),
        "deleted_page": lambda: store.history_page(f, deleted=True, page_size=200),
    }


def emit(**figure: object) -> None:
    print(json.dumps(figure, default=str), flush=True)


def median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm: the page cache, not our result cache, is what a real visit sees
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    history_figures(args.rows, args.repeat)


def history_figures(sizes: list[int], repeat: int = 7) -> None:
    """Build a database of each size and print every query's median and a whole visit's."""
    views = VIEWS
    with tempfile.TemporaryDirectory(prefix="mlprod-history-bench-") as tmp:
        for rows in sizes:
            db = Path(tmp) / f"history_{rows}.duckdb"
            started = time.perf_counter()
            build(db, rows)
            seconds = round(time.perf_counter() - started, 1)
            emit(figure="history_build", rows=rows, seconds=seconds)
            with Store(db) as store:
                for view, f in views.items():
                    medians = {}
                    for name, run in page_queries(store, f).items():
                        medians[name] = median_ms(run, repeat)
                        emit(figure="history_query", rows=rows, view=view, query=name,
                             median_ms=round(medians[name], 1))  # fmt: skip
                    # What one visit runs: the overview, whose queries (the table page among
                    # them) run concurrently; the deleted view only runs when switched on.
                    whole = median_ms(lambda: store.overview(f), repeat)  # noqa: B023
                    emit(figure="history_page_total", rows=rows, view=view,
                         median_ms=round(whole, 1),
                         slowest_query=max(medians, key=medians.get))  # fmt: skip


if __name__ == "__main__":
    main()
