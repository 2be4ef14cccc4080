"""``mlprod import wandb`` and ``import tensorboard``, whole process, on many runs (#36).

    python tests/benchmarks/tracker_import.py [--runs 1000] [--steps 100] [--repeat 3]

Writes ``--runs`` W&B run folders (copies of the offline runs wandb 0.31 wrote in
tests/data/trackers, each under its own id) and ``--runs`` TensorBoard runs (tensorboardX,
``--steps`` steps of three scalars each, and hparams), then times each import scored to a
Parquet file, once more with ``--save`` into a new DuckDB history, and the reading alone
in process. Prints one JSON object per figure: median seconds and runs/s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.cli_process import _time

DATA = Path(__file__).resolve().parents[1] / "data" / "trackers"


def wandb_folders(root: Path, runs: int) -> None:
    logs = sorted((DATA / "wandb").glob("offline-run-*/run-*.wandb"))
    logs = [log for log in logs if log.stat().st_size > 100]  # the finished runs
    for i in range(runs):
        folder = root / f"offline-run-20261201_{i:06d}-bench{i:04d}"
        folder.mkdir(parents=True)
        shutil.copy(logs[i % len(logs)], folder / f"run-bench{i:04d}.wandb")


def tensorboard_runs(root: Path, runs: int, steps: int) -> None:
    from tensorboardX import SummaryWriter

    t0 = time.time() - 3600
    for i in range(runs):
        writer = SummaryWriter(str(root / f"run-{i:04d}"))
        for step in range(steps):
            when = t0 + step * 3600 / steps
            writer.add_scalar("eval/accuracy", 0.5 + 0.4 * step / steps, step, walltime=when)
            writer.add_scalar("train/loss", 1.0 / (step + 1), step, walltime=when)
            writer.add_scalar("latency_ms", 20.0, step, walltime=when)
        writer.add_hparams({"gpu": "A100-80GB", "gpus": 2, "lr": 0.1}, {"hparam/x": 1.0})
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from mlprod.quality import metric_named
    from mlprod.trackers import TRACKERS

    py = sys.executable
    costs = ["--set", "inference_cost=50", "--set", "training_cost=500"]
    with tempfile.TemporaryDirectory(prefix="mlprod-trackers-") as name:
        root = Path(name)
        wandb_folders(root / "wandb", args.runs)
        tensorboard_runs(root / "tb", args.runs, args.steps)
        tools = {
            "wandb": (root / "wandb", costs, "f1"),
            "tensorboard": (root / "tb", costs, "accuracy"),
        }
        for tool, (folder, options, metric) in tools.items():
            timings: dict[str, list[float]] = {}
            for i in range(args.repeat):
                out = root / f"{tool}-{i}.parquet"
                common = ["import", tool, str(folder), "--metric", metric, *options]
                wall, _ = _time([py, "-m", "mlprod", *common, "-o", str(out)], ok=(0, 1))
                timings.setdefault("import", []).append(wall)
                db = root / f"{tool}-{i}.duckdb"
                wall, _ = _time(
                    [py, "-m", "mlprod", *common, "-o", str(out), "--save", "--db", str(db)],
                    ok=(0, 1),
                )
                timings.setdefault("import_save", []).append(wall)
                started = time.perf_counter()
                table = TRACKERS[tool].read([folder], metric_named(metric))
                timings.setdefault("read_in_process", []).append(time.perf_counter() - started)
                assert table.num_rows == args.runs, table.num_rows
            for figure, walls in timings.items():
                median = statistics.median(walls)
                print(
                    json.dumps(
                        {
                            "tool": tool,
                            "figure": figure,
                            "runs": args.runs,
                            "steps": args.steps if tool == "tensorboard" else 4,
                            "median_s": round(median, 3),
                            "runs_per_s": round(args.runs / median),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
