"""Runs logged by teams with different habits: every field read by its known names row by
row, F1 derived only where none was logged (and said so), unfinished runs skipped, errors
grouped by kind."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import mlprod
from mlprod.ingest import inspect, score_file

# Names two teams log each field under (MLflow-style keys): any of them, in any mix, is the
# same field.
ALIASES = {
    "f1": ["metrics.f1", "metrics.val_f1", "metrics.val_f1_score", "metrics.eval_f1",
           "metrics.f1_macro", "metrics.test_f1_score"],
    "gpu_model": ["params.gpu", "params.gpu_type", "params.gpu_name", "params.accelerator"],
    "gpu_count": ["params.gpus", "params.num_gpus", "params.n_gpus", "params.gpu_count"],
    "latency_ms": ["metrics.latency_ms", "metrics.val_latency_ms", "metrics.latency"],
    "training_hours": ["metrics.training_hours", "params.train_hours", "metrics.hours"],
    "model_name": ["params.model_name", "params.model", "tags.model"],
    "project": ["tags.project", "params.project"],
}  # fmt: skip

RUNS = [  # model, f1, gpu, gpus, latency, hours
    ("bert", 0.91, "A100-80GB", 8, 40.0, 3.0),
    ("distil", 0.88, "NVIDIA A100-SXM4-80GB", 4, 12.0, 1.5),
    ("t5", 0.86, "Tesla T4", 1, 80.0, 9.0),
    ("llama", 0.93, "H100-80GB", 8, 120.0, 6.0),
]


def _write(path, rows: list[dict[str, object]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)


def _logged(run, names: dict[str, str]) -> dict[str, object]:
    model, f1, gpu, gpus, latency, hours = run
    values = {
        "f1": f1,
        "gpu_model": gpu,
        "gpu_count": gpus,
        "latency_ms": latency,
        "training_hours": hours,
        "model_name": model,
        "project": "fraud",
    }
    return {
        "run_id": f"{model}-{f1}",
        "inference_cost": 100,
        **{names[k]: v for k, v in values.items()},
    }


def _scored(path):
    table = score_file(inspect(path)).table
    return table.select(
        ["status", "model_name", "project", "gpu_model", "gpu_count", "f1", "cer", "ter", "psr"]
    ).to_pylist()


@settings(max_examples=25, deadline=None)
@given(
    st.fixed_dictionaries({k: st.sampled_from(v) for k, v in ALIASES.items()}),
    st.fixed_dictionaries({k: st.sampled_from(v) for k, v in ALIASES.items()}),
    st.lists(st.booleans(), min_size=len(RUNS), max_size=len(RUNS)),
)
def test_whichever_experiment_uses_whichever_names_the_scored_rows_are_the_same(
    tmp_path_factory, team_a, team_b, by_b
):
    """Two experiments in one file, each run logged under its team's names: every run
    scores as if all used the first name of each field."""
    folder = tmp_path_factory.mktemp("names")
    canonical = {k: v[0] for k, v in ALIASES.items()}
    _write(folder / "one.csv", [_logged(run, canonical) for run in RUNS])
    mixed = [_logged(run, team_b if b else team_a) for run, b in zip(RUNS, by_b, strict=True)]
    _write(folder / "mixed.csv", mixed)
    expected = _scored(folder / "one.csv")
    assert [row["status"] for row in expected] == ["ok"] * len(RUNS)
    assert _scored(folder / "mixed.csv") == expected


def test_two_teams_gpu_names_from_a_notebook_frame_all_score():
    """The reported case: team A logs params.gpu/params.gpus, team B
    params.gpu_type/params.num_gpus; no run of team B is left with 'GPU count is empty'."""
    team_a = {**{k: v[0] for k, v in ALIASES.items()}}
    team_b = {**team_a, "gpu_model": "params.gpu_type", "gpu_count": "params.num_gpus"}
    frame = pd.DataFrame(
        [_logged(run, team_a) for run in RUNS[:2]] + [_logged(run, team_b) for run in RUNS[2:]]
    )
    scored = mlprod.score(frame)
    assert list(scored["status"]) == ["ok"] * 4
    assert list(scored["gpu_count"]) == [8, 4, 1, 8]
    assert list(scored["gpu_model"]) == ["A100-80GB", "A100-80GB", "T4", "H100-80GB"]


def test_a_logged_f1_wins_and_the_summary_says_where_f1_was_derived(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(
        "model,metrics.val_f1_score,precision,recall,training_cost,inference_cost,hours,latency\n"
        "a,0.5,0.9,0.9,100,0,1,10\n"  # logged 0.5 wins over 2PR/(P+R) = 0.9
        "b,,0.8,0.6,100,0,1,10\n"  # derived: 2·0.8·0.6/1.4
        "c,,0.5,0.5,100,0,1,10\n"
    )
    scored = score_file(inspect(path))
    f1 = scored.table["f1"].to_pylist()
    assert f1[0] == 0.5
    assert abs(f1[1] - 2 * 0.8 * 0.6 / 1.4) < 1e-12 and f1[2] == 0.5
    assert scored.table["f1_from"].to_pylist() == [None, "precision and recall"] * 1 + [
        "precision and recall"
    ]
    assert scored.summary.derived_text() == "F1 derived from precision and recall for 2 runs"
    out = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(path), "-o", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
    )
    assert "F1 derived from precision and recall for 2 runs." in out.stdout


def _export_with_states(tmp_path):
    """An MLflow-style export: 3 finished runs, 2 failed, 1 killed, 1 running; and 21 runs
    on a GPU the price table does not list."""
    path = tmp_path / "export.csv"
    head = "run_id,status,params.model,metrics.f1,params.gpu,params.gpus,metrics.latency_ms,"
    rows = [head + "metrics.training_hours,inference_cost"]
    states = ["FINISHED"] * 3 + ["FAILED"] * 2 + ["KILLED", "RUNNING"]
    for i, state in enumerate(states):
        rows.append(f"r{i},{state},bert,0.9,A100-80GB,8,40,2,100")
    for i in range(21):
        rows.append(f"u{i},FINISHED,bert,0.9,Imaginary X9,8,40,2,100")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_unfinished_runs_are_skipped_by_state_and_errors_grouped_by_kind(tmp_path):
    path = _export_with_states(tmp_path)
    scored = score_file(inspect(path))
    summary = scored.summary
    assert (summary.rows, summary.ok, summary.errors, summary.skipped) == (28, 3, 21, 4)
    assert summary.skipped_text() == "skipped (FAILED: 2, KILLED: 1, RUNNING: 1)"
    statuses = scored.table["status"].to_pylist()
    assert statuses[:7] == ["ok"] * 3 + ["skipped"] * 4
    assert scored.table["error"][3].as_py() == "Not finished: FAILED"
    [kind] = summary.kinds()
    assert kind["count"] == 21 and kind["lines"] == [9, 10, 11, 12, 13]
    assert "Imaginary X9" in kind["error"]

    out = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(path), "-o", str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
    )
    assert "28 rows, 3 scored, 21 with errors, skipped (FAILED: 2, KILLED: 1, RUNNING: 1)." in (
        out.stdout
    )
    # once, with its count and first lines
    assert sum("Imaginary X9" in line for line in out.stdout.splitlines()) == 1
    assert "21 runs (lines 9, 10, 11, 12, 13, …): GPU 'Imaginary X9'" in out.stdout

    as_json = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(path), "--json", "-o", str(tmp_path / "j")],
        capture_output=True,
        text=True,
    )
    report = json.loads(as_json.stdout)
    assert report["skipped_states"] == {"FAILED": 2, "KILLED": 1, "RUNNING": 1}
    assert report["error_kinds"][0]["count"] == 21


def test_all_states_scores_every_run_and_the_save_keeps_only_finished_ones(tmp_path):
    path = _export_with_states(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(path), "--all-states", "--json",
         "-o", str(tmp_path / "o.csv")],
        capture_output=True, text=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert (report["ok"], report["skipped_states"]) == (7, {})
    db = tmp_path / "h.duckdb"
    subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(path), "--save", "--db", str(db),
         "-o", str(tmp_path / "o2.csv")],
        capture_output=True, text=True,
    )  # fmt: skip
    saved = mlprod.History(db).runs()
    assert sorted(saved["run_id"]) == ["r0", "r1", "r2"]


def test_a_scored_file_scored_again_keeps_its_good_runs(tmp_path):
    """mlprod's own scored CSV has a `status` column (ok, error): scored again (to save it
    later, say), its ok runs score; they are not taken for unfinished runs."""
    path = tmp_path / "runs.csv"
    path.write_text(
        "model,f1,training_cost,inference_cost,training_hours,latency_ms\n"
        "a,0.9,1000,200,10,50\nb,90,1000,200,10,50\n"
    )
    first = tmp_path / "runs.scored.csv"
    subprocess.run([sys.executable, "-m", "mlprod", "score", str(path), "-o", str(first)],
                   capture_output=True, check=False)  # fmt: skip
    again = score_file(inspect(first))
    assert again.table["status"].to_pylist() == ["ok", "skipped"]
    assert again.table["cer"][0].as_py() == 0.00075
