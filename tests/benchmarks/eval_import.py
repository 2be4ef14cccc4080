"""``mlprod import lm-eval`` and ``import promptfoo``, whole process, on many files (#35).

    python tests/benchmarks/eval_import.py [--files 10000] [--repeat 3]

Writes ``--files`` lm-eval results files (the shape of the one lm-eval 0.4.13 wrote in
tests/data/evals, each with other scores, dates and models; two tasks each, so twice as
many runs) and as many promptfoo output files (four prompt × provider runs each), then
times the import of each folder, scored to a Parquet file, and once more with ``--save``
into a new DuckDB history. Also times the reading alone (files to runs, in process), to
show where the time goes. Prints one JSON object per figure: median seconds, runs/s.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.cli_process import _time

EVALS = Path(__file__).resolve().parents[1] / "data" / "evals"


def lm_eval_folder(folder: Path, files: int) -> int:
    """``files`` lm-eval results files under ``folder``; returns the runs they hold."""
    template = json.loads(next((EVALS / "lm-eval").rglob("results_*.json")).read_text())
    rng = random.Random(7)
    runs = 0
    for i in range(files):
        data = copy.deepcopy(template)
        data["config"]["model_args"] = {"pretrained": f"org/model-{i % 50}"}
        data["date"] = 1_790_000_000 + i * 60
        for task in data["results"].values():
            for key in list(task):
                if "," in key and "_stderr" not in key:
                    task[key] = round(rng.random(), 4)
            runs += 1
        sub = folder / f"model-{i % 50}"
        sub.mkdir(exist_ok=True)
        (sub / f"results_{i:06d}.json").write_text(json.dumps(data))
    return runs


def promptfoo_folder(folder: Path, files: int) -> int:
    template = json.loads((EVALS / "promptfoo-output.json").read_text())
    runs = 0
    for i in range(files):
        data = copy.deepcopy(template)
        data["evalId"] = f"eval-{i:06d}"
        for prompt in data["results"]["prompts"]:
            prompt["provider"] = "gpt-4o-mini"  # priced by the book
            runs += 1
        (folder / f"out-{i:06d}.json").write_text(json.dumps(data))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from mlprod.ingest.evals import eval_files, lm_eval_runs, promptfoo_runs

    py = sys.executable
    costs = ["--set", "training_cost=900", "--set", "training_hours=12"]
    with tempfile.TemporaryDirectory(prefix="mlprod-evals-") as name:
        root = Path(name)
        (root / "lm").mkdir()
        (root / "pf").mkdir()
        tools = {
            "lm-eval": (
                lm_eval_folder(root / "lm", args.files),
                root / "lm",
                [*costs, "--set", "inference_cost=40"],
                lambda: lm_eval_runs(eval_files([root / "lm"], "results_*.json"), root / "lm"),
            ),
            "promptfoo": (
                promptfoo_folder(root / "pf", args.files),
                root / "pf",
                costs,
                lambda: promptfoo_runs(eval_files([root / "pf"], "*.json"), root / "pf"),
            ),
        }
        for tool, (runs, folder, options, read) in tools.items():
            timings: dict[str, list[float]] = {}
            for i in range(args.repeat):
                out = root / f"{tool}-{i}.parquet"
                wall, _ = _time([py, "-m", "mlprod", "import", tool, str(folder), *options,
                                 "-o", str(out)], ok=(0, 1))  # fmt: skip
                timings.setdefault("import", []).append(wall)
                db = root / f"{tool}-{i}.duckdb"
                wall, _ = _time([py, "-m", "mlprod", "import", tool, str(folder), *options,
                                 "-o", str(out), "--save", "--db", str(db)], ok=(0, 1))  # fmt: skip
                timings.setdefault("import_save", []).append(wall)
                started = time.perf_counter()
                table = read()
                timings.setdefault("read_files_in_process", []).append(
                    time.perf_counter() - started
                )
                assert table.num_rows == runs
            for figure, walls in timings.items():
                median = statistics.median(walls)
                print(
                    json.dumps(
                        {
                            "tool": tool,
                            "figure": figure,
                            "files": args.files,
                            "runs": runs,
                            "median_s": round(median, 3),
                            "runs_per_s": round(runs / median),
                            "files_per_s": round(args.files / median),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
