"""The review report and the alerts on a history of ``--rows`` runs (#37).

    python tests/benchmarks/report.py [--rows 1000000] [--repeat 5]

Builds a history (``history.build``), then times, whole process, ``python -m mlprod report
A B --db HISTORY -o review.html`` and ``-o review.pdf`` (two runs of one model, each with
its group's run-to-run spread), and ``python -m mlprod --version`` for the floor; and, in
process, the three alert rules asked of a batch of 100 runs saved into that history (what
a save waits for before its webhook is tried). Prints one JSON object per figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.cli_process import _time
from tests.benchmarks.history import build, tables


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from mlprod import alerts
    from mlprod.access import Person
    from mlprod.store import Store

    with tempfile.TemporaryDirectory(prefix="mlprod-report-") as name:
        db = Path(name) / "history.duckdb"
        build(db, args.rows)
        with Store(db) as store:
            newest = store.latest_per_model(1).iloc[0]
            two = store.search(str(newest["model_name"]), limit=2)["id"].tolist()
            store.mark_production(
                str(int(two[-1])),
                scope_kind="model",
                scope=str(newest["model_name"]),
                who=Person.local("bench"),
            )
        py = sys.executable
        figures: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            for suffix in ("html", "pdf"):
                out = Path(name) / f"review.{suffix}"
                wall, _ = _time([py, "-m", "mlprod", "report", str(int(two[0])), str(int(two[1])),
                                 "--db", str(db), "-o", str(out)])  # fmt: skip
                figures.setdefault(f"report_{suffix}_whole_process", []).append(wall)
            wall, _ = _time([py, "-m", "mlprod", "--version"])
            figures.setdefault("mlprod_version_only", []).append(wall)
        rules = alerts.rules_from(
            {"url": "http://127.0.0.1:9/hook", "below_frontier": 0.02,
             "worse_than_production": 10, "median_cer_drop": 20}
        )  # fmt: skip
        assert rules is not None
        with Store(db) as store:
            batch = store.append_calculations(next(tables(100, seed=3)), source="benchmark")
            for _ in range(args.repeat):
                started = time.perf_counter()
                found = alerts.events_after(store, batch, rules)
                figures.setdefault("alert_rules_after_a_save", []).append(
                    time.perf_counter() - started
                )
        for figure, walls in figures.items():
            print(
                json.dumps(
                    {
                        "figure": figure,
                        "history_rows": args.rows,
                        "median_s": round(statistics.median(walls), 3),
                        **({"events": len(found)} if figure.startswith("alert") else {}),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
