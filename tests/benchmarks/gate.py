"""``mlprod gate`` as CI runs it, whole process, on a history of ``--rows`` runs (#37).

    python tests/benchmarks/gate.py [--rows 1000000] [--repeat 5]

Builds a history (``history.build``), marks one run in production for its model, then
times ``python -m mlprod gate ID --db HISTORY --markdown FILE`` (the production run as
the baseline, a history run as the candidate) and, for the floor, ``python -m mlprod
--version``. Prints one JSON object per figure (median seconds, CPU seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.cli_process import _time
from tests.benchmarks.history import build


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from mlprod.access import Person
    from mlprod.store import Store

    with tempfile.TemporaryDirectory(prefix="mlprod-gate-") as name:
        db = Path(name) / "history.duckdb"
        build(db, args.rows)
        with Store(db) as store:
            newest = store.latest_per_model(1).iloc[0]
            older = store.search(str(newest["model_name"]), limit=2)["id"].tolist()
            store.mark_production(
                str(int(older[-1])),
                scope_kind="model",
                scope=str(newest["model_name"]),
                who=Person.local("bench"),
            )
        py = sys.executable
        figures: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.repeat):
            figures.setdefault("gate_whole_process", []).append(
                _time(
                    [
                        py,
                        "-m",
                        "mlprod",
                        "gate",
                        str(int(newest["id"])),
                        "--db",
                        str(db),
                        "--markdown",
                        str(Path(name) / "pr.md"),
                        "--spread-does-not-hold",
                    ],
                    ok=(0, 1),
                )
            )
            figures.setdefault("mlprod_version_only", []).append(
                _time([py, "-m", "mlprod", "--version"])
            )
        for figure, runs in figures.items():
            print(
                json.dumps(
                    {
                        "figure": figure,
                        "history_rows": args.rows,
                        "median_s": round(statistics.median(w for w, _ in runs), 3),
                        "cpu_s": round(statistics.median(c for _, c in runs), 2),
                    }
                ),
                flush=True,
            )
        done = subprocess.run(
            [py, "-m", "mlprod", "gate", str(int(newest["id"])), "--db", str(db), "--json"],
            capture_output=True,
            text=True,
        )
        print(
            json.dumps(
                {
                    "figure": "gate_decision",
                    "exit": done.returncode,
                    "decision": json.loads(done.stdout)["decision"],
                }
            )
        )


if __name__ == "__main__":
    main()
