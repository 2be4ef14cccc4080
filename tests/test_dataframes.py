"""The DataFrame API a notebook uses: ``mlprod.score`` and ``mlprod.History``."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pandas as pd
import pytest

import mlprod
from mlprod.cli import main
from mlprod.config import PROJECT_DIR
from mlprod.errors import BadFile, DatabaseLocked, InvalidInput
from mlprod.export import csv_bytes
from mlprod.store import Store
from tests.conftest import expected_cer, search_runs_frame


def _as_cli_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A scored frame written as the CLI writes its CSV, read back."""
    return pd.read_csv(io.BytesIO(csv_bytes(frame)))


def test_a_search_runs_frame_scores_exactly_as_the_cli_scores_its_csv(tmp_path):
    frame = search_runs_frame(12)  # prefixed columns, tz-aware start and end times
    frame.loc[3, "metrics.val_f1"] = 93.0  # a bad row, as a tracker may log it
    frame.to_csv(tmp_path / "runs.csv", index=False)
    code = main(["score", str(tmp_path / "runs.csv"), "-o", str(tmp_path / "cli.csv"),
                 "--set", "inference_cost=250"])  # fmt: skip
    assert code == 1  # one row with an error

    scored = mlprod.score(frame, defaults={"inference_cost": 250})

    assert len(scored) == len(frame) and list(scored["line"]) == list(range(2, 14))
    assert scored.loc[3, "status"] == "error" and "did you mean 0.93" in scored.loc[3, "error"]
    ok = scored[scored.status == "ok"]
    assert ok["cer"].tolist() == pytest.approx(expected_cer(frame.drop(index=3), 250.0))
    pd.testing.assert_frame_equal(_as_cli_csv(scored), pd.read_csv(tmp_path / "cli.csv"))


def test_mapping_and_defaults_work_as_map_and_set():
    frame = search_runs_frame(3)
    frame["metrics.f1_test"] = [0.5, 0.6, 0.7]
    scored = mlprod.score(
        frame, mapping={"f1": "metrics.f1_test"},
        defaults={"training_cost": "1,000", "inference_cost": 200, "latency_ms": 50},
    )  # fmt: skip
    # A cell's own value wins over a default: latency comes from the frame's column.
    assert scored["f1"].tolist() == [0.5, 0.6, 0.7]
    assert scored["training_cost"].tolist() == [1000.0] * 3
    assert scored["latency_ms"].tolist() == frame["metrics.latency_ms"].tolist()


def test_a_frame_of_our_own_columns_with_an_odd_index_and_mixed_cells():
    frame = pd.DataFrame(
        {"model_name": ["a", "b", "c"], "f1": [0.9, "0.8", None],
         "training_cost": [1000, 10, 10], "inference_cost": [200, 0, 0],
         "training_hours": [10, 1, 1], "latency_ms": [50, 5, 5]},
        index=[10, 5, 7],
    )  # fmt: skip
    scored = mlprod.score(frame)
    assert scored["model_name"].tolist() == ["a", "b", "c"]  # in order, index ignored
    assert scored["status"].tolist() == ["ok", "ok", "error"]
    assert scored.loc[0, "cer"] == 0.00075 and scored.loc[1, "f1"] == 0.8
    assert "F1" in scored.loc[2, "error"]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: mlprod.score([{"f1": 0.9}]), BadFile, "takes a pandas DataFrame"),
        (lambda: mlprod.score(search_runs_frame().iloc[0:0]), BadFile, "no rows"),
        (lambda: mlprod.score(search_runs_frame()), BadFile, "No column found for Inference"),
        (lambda: mlprod.score(search_runs_frame(), defaults={"cost": 1}), BadFile,
         "defaults cannot set 'cost'"),
        (lambda: mlprod.score(search_runs_frame(), defaults={"inference_cost": "lots"}),
         BadFile, "'lots' is not a number"),
        (lambda: mlprod.score(search_runs_frame(), mapping={"f1": "nope"},
                              defaults={"inference_cost": 1}), BadFile, "no column 'nope'"),
    ],
)  # fmt: skip
def test_bad_calls_raise_typed_errors_that_say_what_to_do(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_history_round_trip_through_the_one_save_path(tmp_path):
    db = tmp_path / "team.duckdb"
    history = mlprod.History(db)
    frame = search_runs_frame(8)
    frame.loc[0, "metrics.val_f1"] = -1.0
    scored = mlprod.score(frame, defaults={"inference_cost": 250, "project": "nlp"})

    batch = history.save(scored, author="ann", name="tuning.ipynb")

    runs = history.runs()
    assert len(runs) == 7  # the bad row is not stored
    assert set(runs["author"]) == {"ann"} and set(runs["source"]) == {"python"}
    assert sorted(runs["cer"]) == sorted(scored.loc[scored.status == "ok", "cer"])
    assert runs["created_at"].is_monotonic_decreasing  # newest first
    assert len(history.runs(models=["bert-3"])) == 1
    assert len(history.runs(search="bert-5")) == 1
    assert history.runs(projects="vision").empty
    best = history.best_per_model()
    assert set(best["ratio"]) == {"CER", "TER", "PSR"} and len(best) == 3 * 7
    front = history.frontier()
    assert front["total_cost"].is_monotonic_increasing and front["f1"].is_monotonic_increasing
    assert len(history.frontier("latency_ms")) >= 1
    with Store(db) as store:
        found = store.integrity()
    assert (found["batches"], found["calculations"], found["broken_batches"]) == (1, 7, 0)
    assert found["rollup_mismatches"] == 0 and batch == 1


def test_history_keeps_no_lock_between_calls(tmp_path):
    """A notebook never stops the CLI (or the dashboard) from saving between cells."""
    db = tmp_path / "team.duckdb"
    history = mlprod.History(db)
    assert history.runs().empty
    saved = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(PROJECT_DIR / "data" / "sample_runs.csv"),
         "-o", str(tmp_path / "out.csv"), "--save", "--db", str(db)],
        capture_output=True, text=True, cwd=PROJECT_DIR,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert len(history.runs()) == 420


def test_history_errors_are_typed(tmp_path):
    db = tmp_path / "h.duckdb"
    history = mlprod.History(db)
    with pytest.raises(InvalidInput, match="Unknown filter 'model'"):
        history.runs(model="bert")
    with pytest.raises(InvalidInput, match="since is a date"):
        history.runs(since="last tuesday")
    with pytest.raises(InvalidInput, match="against"):
        history.frontier("cost")
    with pytest.raises(BadFile, match=r"mlprod\.score returned"):
        history.save(pd.DataFrame({"f1": [0.9]}))
    with Store(db) as holder, holder.held():  # another writer at work, for longer than we wait
        locked = subprocess.run(
            [sys.executable, "-c", f"import mlprod; mlprod.History({str(db)!r}).runs()"],
            capture_output=True, text=True, cwd=PROJECT_DIR,
            env={**os.environ, "MLPROD_DB_WAIT": "0.3"},
        )  # fmt: skip
    assert DatabaseLocked.__name__ in locked.stderr
