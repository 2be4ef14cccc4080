"""What a new user of the package waits for: installing it, and the ``mlprod`` command's
start-up. One JSON object per figure.

    python tests/benchmarks/install.py [--repeat 7] [--old PATH]

- ``install``: the wheel of this tree into a fresh virtual environment (with MLflow's cap
  ``pyarrow<26``), whole ``pip install`` wall time (pip's cache as it is: warm on a
  developer's machine), the environment's size and the package's own;
- ``help`` / ``score_no_save`` / ``score_save``: ``mlprod --help`` and ``mlprod score`` of
  the 300-run MLflow export (without and with ``--save``), whole process, median and p95;
- with ``--old PATH`` (a ``git worktree`` of an older commit): the same commands as
  ``python -m mlprod`` from both trees, interleaved, for an A/B in the same minutes.
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

from tests.installed import install  # noqa: E402

RUNS = ROOT / "tests" / "data" / "mlflow_search_runs.csv"


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _times(command: list[str], repeat: int, cwd: Path, env: dict[str, str]) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
        out.append(time.perf_counter() - started)
    return out


def _figure(name: str, seconds: list[float], **extra: object) -> None:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = round(statistics.median(seconds), 3)
    figure = {"figure": name, "median_s": median, "p95_s": round(p95, 3), "runs": len(seconds)}
    print(json.dumps(figure | extra), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--old", type=Path, help="a worktree of an older commit, for A/B")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlprod-install-bench-") as folder:
        work = Path(folder)
        done = install(work)
        print(json.dumps({
            "figure": "install", "seconds": round(done.install_seconds, 1),
            "venv_mb": round(_size(done.venv) / 1e6, 1),
            "mlprod_kb": round(_size(done.site_packages / "mlprod") / 1e3, 1),
            "wheel_kb": round(done.wheel.stat().st_size / 1e3, 1),
        }), flush=True)  # fmt: skip
        env = done.env()
        mlprod = str(done.bin / "mlprod")
        out = work / "scored.csv"
        db = work / "bench.duckdb"
        _figure("help", _times([mlprod, "--help"], args.repeat, work, env), how="mlprod --help")
        _figure("score_no_save", _times([mlprod, "score", str(RUNS), "-o", str(out)],
                                        args.repeat, work, env), rows=300)  # fmt: skip
        _figure("score_save", _times(
            [mlprod, "score", str(RUNS), "-o", str(out), "--save", "--again", "--db", str(db)],
            args.repeat, work, env), rows=300)  # fmt: skip
        if args.old:
            trees = {"old": args.old.resolve(), "new": ROOT}
            for name, command in {
                "help": ["--help"],
                "score_no_save": ["score", str(RUNS), "-o", str(out)],
            }.items():
                seen: dict[str, list[float]] = {"old": [], "new": []}
                for _ in range(args.repeat):  # interleaved: the same minutes for both
                    for label, tree in trees.items():
                        env = {**os.environ, "PYTHONPATH": str(tree)}
                        seen[label] += _times([sys.executable, "-m", "mlprod", *command], 1,
                                              tree, env)  # fmt: skip
                for label, seconds in seen.items():
                    _figure(f"ab_{name}_{label}", seconds, how="python -m mlprod")


if __name__ == "__main__":
    main()
