"""Runs from the files trackers leave on disk (issue #36): W&B run folders, TensorBoard
event files, Hugging Face Trainer state, Lightning CSV logs, DVC experiments, an MLflow
file store and CodeCarbon's energy. Files written by the real libraries
(tests/data/trackers/README.md says how; TensorBoard's and MLflow's are written here);
ratios computed by the tests from what the files hold."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import textwrap
import time
import zlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlprod.cli import main
from mlprod.costs.gpus import default_prices
from mlprod.ingest.trackers.wandb import BLOCK, FULL, RECORD_HEADER, _record_class
from mlprod.store import HistoryFilter, Store
from tests.conftest import upload_tracker_files
from tests.mlflow_server import SERVER_PYTHON

DATA = Path(__file__).parent / "data" / "trackers"
WANDB = DATA / "wandb"
COSTS = ["--set", "training_cost=500", "--set", "inference_cost=50"]


def imported(capsys, tmp_path, *args: str) -> tuple[int, dict, dict[str, dict]]:
    out = tmp_path / f"scored-{len(list(tmp_path.iterdir()))}.parquet"
    code = main(["import", *args, "-o", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    rows = {r["run_name"]: r for r in pq.read_table(out).to_pylist()} if out.exists() else {}
    return code, report, rows


def a100(gpus: float, hours: float) -> float:
    """What the GPU table charges for ``gpus`` A100-80GB for ``hours`` (on demand)."""
    table = default_prices()
    return table.price(table.canonical("A100-80GB")).on_demand * gpus * hours


# -- W&B ----------------------------------------------------------------------------------------


def test_wandb_offline_runs_score_at_their_best_step_and_a_crashed_run_is_skipped(capsys, tmp_path):
    code, report, rows = imported(capsys, tmp_path, "wandb", str(WANDB), *COSTS)
    assert code == 0 and (report["rows"], report["ok"]) == (3, 2)
    assert report["skipped_states"] == {"CRASHED": 1}  # killed before its log was flushed
    # the summary names one source per field: the cost given, not also the GPU table
    assert "Training cost from --set" in report["columns"] and "GPUs" not in report["columns"]
    one, two = rows["whisper-ft-1"], rows["whisper-ft-2"]
    assert (one["f1"], one["step"], two["f1"], two["step"]) == (0.86, 1, 0.83, 2)
    assert one["latency_ms"] == 40.0 and one["cer"] == pytest.approx(0.86 / 550)
    assert one["psr"] == pytest.approx(0.86 / 40)
    assert 0 < one["training_hours"] < 0.01  # the run's own runtime: a few seconds
    _, _, rows = imported(capsys, tmp_path, "wandb", str(WANDB), *COSTS, "--step", "last")
    assert (rows["whisper-ft-1"]["f1"], rows["whisper-ft-2"]["f1"]) == (0.84, 0.80)
    _, _, rows = imported(capsys, tmp_path, "wandb", str(WANDB), *COSTS, "--metric", "wer")
    assert rows["whisper-ft-1"]["metric_value"] == 0.12  # the lowest WER, at step 1
    assert rows["whisper-ft-1"]["f1"] == pytest.approx(0.88)


def frame(record: bytes) -> bytes:
    """One record in W&B's log framing (a FULL record in the current block)."""
    return struct.pack("<IHB", zlib.crc32(bytes([FULL]) + record), len(record), FULL) + record


def with_gpu(log: Path, gpu: str, count: int) -> None:
    """Add the system info W&B logs on a GPU machine (an ``environment`` record)."""
    record = _record_class()()
    record.num = 999
    record.environment.gpu_type = gpu
    record.environment.gpu_count = count
    data = log.read_bytes()
    framed = frame(record.SerializeToString())
    left = BLOCK - len(data) % BLOCK
    assert left >= RECORD_HEADER + len(framed)  # the real log is far shorter than a block
    log.write_bytes(data + framed)


def test_wandb_gpu_name_and_count_are_priced_by_the_table(capsys, tmp_path):
    runs = tmp_path / "wandb"
    offline = next(WANDB.glob("offline-run-*nzx74uvy"))
    shutil.copytree(offline, runs / offline.name)
    with_gpu(next((runs / offline.name).glob("run-*.wandb")), "NVIDIA A100-SXM4-80GB", 8)
    synced = runs / "run-20261201_090000-syncd001" / "files"  # as wandb writes a synced run
    synced.mkdir(parents=True)
    (synced / "wandb-summary.json").write_text(
        json.dumps({"val/f1": 0.91, "latency_ms": 25, "_runtime": 7200, "_step": 9})
    )
    (synced / "wandb-metadata.json").write_text(
        json.dumps({"gpu": "NVIDIA A100-SXM4-80GB", "gpu_count": 4,
                    "startedAt": "2026-12-01T09:00:00.000000Z", "program": "train.py"})
    )  # fmt: skip
    (synced / "config.yaml").write_text(
        "_wandb:\n  value:\n    cli_version: 0.31.0\nmodel:\n  value: whisper-large\n"
    )
    code, report, rows = imported(
        capsys, tmp_path, "wandb", str(runs), "--set", "inference_cost=50", "--save",
        "--db", str(tmp_path / "h.duckdb"),
    )  # fmt: skip
    assert code == 0 and report["ok"] == 2
    assert "Training cost from GPUs × hours × the price table" in report["columns"]
    offline_run = rows["whisper-ft-1"]
    assert (offline_run["gpu_model"], offline_run["gpu_count"]) == ("A100-80GB", 8)
    assert offline_run["training_cost"] == pytest.approx(a100(8, offline_run["training_hours"]))
    synced_run = next(r for r in rows.values() if r["run_id"] == "syncd001")
    assert (synced_run["model_name"], synced_run["training_hours"]) == ("whisper-large", 2.0)
    assert synced_run["training_cost"] == pytest.approx(a100(4, 2.0))
    assert synced_run["cer"] == pytest.approx(0.91 / (a100(4, 2.0) + 50))
    code, report, _ = imported(
        capsys, tmp_path, "wandb", str(runs), "--set", "inference_cost=50", "--save",
        "--db", str(tmp_path / "h.duckdb"),
    )  # fmt: skip
    assert report["saved"] == 0 and report["skipped"] == 2  # cron may run it again


def test_a_broken_or_half_written_wandb_log_is_a_row_error_or_skipped_never_a_crash(
    capsys, tmp_path
):
    runs = tmp_path / "wandb"
    real = next(next(WANDB.glob("offline-run-*nzx74uvy")).glob("run-*.wandb")).read_bytes()
    (runs / "offline-run-20261201_000000-garbage1").mkdir(parents=True)
    (runs / "offline-run-20261201_000000-garbage1" / "run-garbage1.wandb").write_bytes(
        b"not a log at all"
    )
    (runs / "offline-run-20261201_000000-halfdone").mkdir()
    (runs / "offline-run-20261201_000000-halfdone" / "run-halfdone.wandb").write_bytes(
        real[: len(real) // 2]  # cut mid-record, as a crash leaves it
    )
    code, report, rows = imported(capsys, tmp_path, "wandb", str(runs), *COSTS)
    assert code == 1 and report["errors"] == 2 and report["ok"] == 0
    errors = {r["run_id"]: r["error"] for r in rows.values()} | {
        r["run_id"]: r["error"] for r in report["first_errors"]
    }
    assert "no :W&B header" in errors["garbage1"]
    assert "cut short" in errors["nzx74uvy"] and "may have crashed" in errors["nzx74uvy"]


# -- TensorBoard ----------------------------------------------------------------------------------


def write_tensorboard(root: Path) -> None:
    """Two runs as tensorboardX writes them: scalars with their wall times, and hparams."""
    from tensorboardX import SummaryWriter

    t0 = time.time() - 3600  # the writer's own first event is now: the run took an hour
    for name, accuracy, gpus in (("vit-a", [0.61, 0.83, 0.79], 2), ("vit-b", [0.7, 0.72, 0.9], 1)):
        writer = SummaryWriter(str(root / name))
        for step, value in enumerate(accuracy):
            writer.add_scalar("eval/accuracy", value, step, walltime=t0 + step * 1800)
            writer.add_scalar("latency_ms", 12.5, step, walltime=t0 + step * 1800)
        writer.add_hparams({"gpu": "A100-80GB", "gpus": gpus, "lr": 0.1}, {"hparam/x": 1.0})
        writer.close()


def test_tensorboard_runs_read_scalars_wall_times_and_hparams(capsys, tmp_path):
    write_tensorboard(tmp_path / "tb")
    code, report, rows = imported(capsys, tmp_path, "tensorboard", str(tmp_path / "tb"),
                                  "--metric", "accuracy", "--set", "inference_cost=5")  # fmt: skip
    assert code == 0 and report["ok"] == 2 and set(rows) == {"vit-a", "vit-b"}
    a, b = rows["vit-a"], rows["vit-b"]
    assert (a["f1"], a["step"], b["f1"], b["step"]) == (0.83, 1, 0.9, 2)
    assert a["training_hours"] == pytest.approx(1.0, abs=0.01)  # first to last event: 1 h
    assert a["training_cost"] == pytest.approx(a100(2, a["training_hours"]))
    assert a["cer"] == pytest.approx(0.83 / (a["training_cost"] + 5))
    assert a["psr"] == pytest.approx(0.83 / 12.5)


def test_a_cut_tensorboard_event_file_does_not_crash_the_import(capsys, tmp_path):
    write_tensorboard(tmp_path / "tb")
    event = next((tmp_path / "tb" / "vit-a").glob("events.out.tfevents.*"))
    event.write_bytes(event.read_bytes()[:-7])  # a writer killed mid-record
    code, report, rows = imported(capsys, tmp_path, "tensorboard", str(tmp_path / "tb"),
                                  "--metric", "accuracy", "--set", "inference_cost=5")  # fmt: skip
    assert code in (0, 1) and report["rows"] == 2 and rows["vit-b"]["status"] == "ok"


# -- Trainer, Lightning, DVC --------------------------------------------------------------------


def test_trainer_state_best_evaluation_runtime_and_latency(capsys, tmp_path):
    state = json.loads((DATA / "trainer" / "tiny-bert" / "trainer_state.json").read_text())
    evals = [e for e in state["log_history"] if "eval_f1" in e]
    best = max(evals, key=lambda e: (e["eval_f1"], -e["step"]))
    runtime = next(e["train_runtime"] for e in state["log_history"] if "train_runtime" in e)
    code, _, rows = imported(capsys, tmp_path, "trainer", str(DATA / "trainer"), *COSTS)
    run = rows["tiny-bert"]
    assert code == 0 and (run["f1"], run["step"]) == (best["eval_f1"], best["step"])
    assert run["training_hours"] == pytest.approx(runtime / 3600)
    assert run["latency_ms"] == pytest.approx(1000 / evals[-1]["eval_samples_per_second"])
    assert run["ter"] == pytest.approx(best["eval_f1"] / (runtime / 3600))
    assert run["model_name"] == "BertForSequenceClassification"  # from the checkpoint's config


def test_lightning_versions_at_their_best_validation_step(capsys, tmp_path):
    code, _, rows = imported(capsys, tmp_path, "lightning", str(DATA / "lightning"), *COSTS,
                             "--set", "training_hours=2", "--set", "latency_ms=4")  # fmt: skip
    assert code == 0
    for version in ("version_0", "version_1"):
        logged = pd.read_csv(DATA / "lightning" / "mlp" / version / "metrics.csv")
        evaluated = logged.dropna(subset=["val_f1"])
        best = evaluated.sort_values(["val_f1", "step"], ascending=[False, True]).iloc[0]
        run = rows[f"mlp/{version}"]
        assert (run["f1"], run["step"]) == (pytest.approx(best["val_f1"]), best["step"])
        assert run["ter"] == pytest.approx(best["val_f1"] / 2)


def test_dvc_experiments_with_their_params_metrics_and_a_bad_value(capsys, tmp_path):
    shown = json.loads((DATA / "dvc" / "exp-show.json").read_text())
    code, report, rows = imported(capsys, tmp_path, "dvc", str(DATA / "dvc" / "exp-show.json"),
                                  "--metric", "accuracy", "--set", "inference_cost=0")  # fmt: skip
    assert report["rows"] == 3  # the baseline commit and two experiments; not the workspace
    assert code == 1 and "Accuracy must be between 0 and 1" in rows["lr-02"]["error"]  # 1.02
    master = next(e for e in shown if e["name"] == "master")["data"]
    metrics = master["metrics"]["metrics.json"]["data"]
    run = rows["master"]
    assert run["f1"] == metrics["val"]["accuracy"] and run["training_hours"] == 1.5
    assert run["training_cost"] == pytest.approx(a100(1, 1.5))  # train.gpu, train.gpus
    assert run["cer"] == pytest.approx(metrics["val"]["accuracy"] / a100(1, 1.5))


# -- an MLflow file store -----------------------------------------------------------------------


@pytest.mark.slow  # MLflow's own environment writes the store
def test_an_mlflow_file_store_without_a_server(capsys, tmp_path):
    """Runs MLflow itself wrote to ./mlruns (its file store, in MLflow's own environment)."""
    script = textwrap.dedent(
        """
        import sys, mlflow
        from mlflow.tracking import MlflowClient
        mlflow.set_tracking_uri("file://" + sys.argv[1])
        mlflow.set_experiment("vision")
        with mlflow.start_run(run_name="resnet-a"):
            mlflow.log_params({"model": "resnet50", "gpu": "NVIDIA A100-SXM4-80GB", "gpus": 2})
            for step, f1 in enumerate((0.7, 0.9, 0.8)):
                mlflow.log_metric("val_f1", f1, step=step)
            mlflow.log_metric("latency_ms", 12.5)
        client = MlflowClient()
        run = client.create_run(mlflow.get_experiment_by_name("vision").experiment_id,
                                run_name="resnet-failed")
        client.log_metric(run.info.run_id, "val_f1", 0.5)
        client.set_terminated(run.info.run_id, "FAILED")
        """
    )
    store = tmp_path / "mlruns"
    done = subprocess.run(
        [str(SERVER_PYTHON), "-c", script, str(store)],
        capture_output=True, text=True, timeout=120,
        env={"MLFLOW_ALLOW_FILE_STORE": "true", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    code, report, rows = imported(capsys, tmp_path, "mlruns", str(store), *COSTS)
    assert code == 0 and report["skipped_states"] == {"FAILED": 1}
    run = rows["resnet-a"]
    assert (run["f1"], run["step"], run["project"]) == (0.9, 1, "vision")
    assert run["psr"] == pytest.approx(0.9 / 12.5)
    _, _, rows = imported(capsys, tmp_path, "mlruns", str(store), *COSTS, "--step", "last")
    assert rows["resnet-a"]["f1"] == 0.8


# -- energy ------------------------------------------------------------------------------------


def test_codecarbon_energy_joins_wandb_runs_and_is_saved_with_them(capsys, tmp_path):
    emissions = pd.read_csv(DATA / "codecarbon" / "emissions.csv")
    measured = dict(zip(emissions["experiment_id"], emissions["energy_consumed"], strict=True))
    carbon = dict(zip(emissions["experiment_id"], emissions["emissions"], strict=True))
    db = tmp_path / "h.duckdb"
    code, report, rows = imported(
        capsys, tmp_path, "wandb", str(WANDB), *COSTS, "--energy",
        str(DATA / "codecarbon" / "emissions.csv"), "--save", "--db", str(db),
    )  # fmt: skip
    assert code == 0 and "energy from emissions.csv for 2 of 3 runs" in " ".join(report["said"])
    for name in ("whisper-ft-1", "whisper-ft-2"):
        run = rows[name]
        assert run["energy_kwh"] == pytest.approx(measured[name])
        assert run["co2_kg"] == pytest.approx(carbon[name])
        assert run["quality_per_kwh"] == pytest.approx(run["f1"] / measured[name])
    with Store(db) as store:
        saved = store.history_page(HistoryFilter())
        assert sorted(saved["energy_kwh"]) == pytest.approx(sorted(measured.values()))


def test_codecarbon_tasks_as_runs_of_their_own_and_no_energy_is_never_estimated(capsys, tmp_path):
    emissions = pd.read_csv(DATA / "codecarbon" / "emissions.csv")
    code, report, rows = imported(
        capsys, tmp_path, "codecarbon", str(DATA / "codecarbon" / "emissions.csv"), *COSTS,
        "--set", "f1=0.8", "--set", "latency_ms=30",
    )  # fmt: skip
    assert code == 0 and report["ok"] == len(emissions)
    for task in emissions.itertuples():
        run = rows[task.experiment_id]
        assert run["training_hours"] == pytest.approx(task.duration / 3600)
        assert run["quality_per_kwh"] == pytest.approx(0.8 / task.energy_consumed)
    _, _, rows = imported(capsys, tmp_path, "wandb", str(WANDB), *COSTS)  # no --energy
    assert "energy_kwh" not in next(iter(rows.values()))  # absent, not 0, not a guess


class TestBatchPage:
    def test_wandb_logs_uploaded_on_the_batch_page_score_at_their_best_step(self, app, db_path):
        upload_tracker_files(app, "wandb", sorted(WANDB.glob("offline-run-*/run-*.wandb")))
        app.number_input(key="batch-scenario-training_cost").set_value(500.0)
        app.number_input(key="batch-scenario-inference_cost").set_value(50.0).run()
        app.button(key="batch-score").click().run()
        scored = next(d.value for d in app.dataframe if "cer" in d.value.columns)
        by_name = dict(zip(scored["run_name"], scored["f1"], strict=False))
        assert by_name["whisper-ft-1"] == 0.86 and by_name["whisper-ft-2"] == 0.83
        assert [m.value for m in app.metric if m.label == "Skipped"] == ["1"]  # the crash
        app.button(key="batch-save").click().run()
        with Store(db_path) as store:
            assert sorted(store.history_page(HistoryFilter())["f1"]) == [0.83, 0.86]

    def test_a_zip_that_climbs_out_of_its_folder_is_not_unpacked_there(self, tmp_path):
        import io
        import zipfile

        from mlprod.ui.tracker_source import _unzip

        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            archive.writestr("../../escaped.txt", "x")
            archive.writestr("/etc/absolute.txt", "x")
            archive.writestr("mlruns/0/meta.yaml", "name: Default\n")
        _unzip(data.getvalue(), tmp_path / "in", limit=10_000)
        assert (tmp_path / "in" / "mlruns" / "0" / "meta.yaml").is_file()
        assert not (tmp_path / "escaped.txt").exists() and not list(tmp_path.rglob("absolute.txt"))


class TestEnergyOnThePages:
    def runs(self, db_path):
        frame = pd.DataFrame({
            "model_name": ["whisper-small", "whisper-large", "whisper-tiny"],
            "f1": [0.86, 0.91, 0.7],
            "training_cost": [500.0, 4000.0, 50.0], "inference_cost": [50.0, 50.0, 50.0],
            "training_hours": [2.0, 16.0, 0.5], "latency_ms": [40.0, 90.0, 10.0],
            "energy_consumed": [2.0, 28.0, None], "emissions": [0.1, 1.4, None],
        })  # fmt: skip
        import mlprod

        history = mlprod.History(db_path)
        history.save(mlprod.score(frame), author="ann")
        return history

    def test_history_shows_quality_per_kwh_where_measured_and_no_guess_elsewhere(
        self, app, db_path
    ):
        self.runs(db_path)
        app.run()
        app.switch_page("pages/history.py").run()
        assert not app.exception
        table = app.dataframe[0].value.set_index("model_name")
        assert table.loc["whisper-small", "quality_per_kwh"] == pytest.approx(0.43)
        assert table.loc["whisper-large", "quality_per_kwh"] == pytest.approx(0.91 / 28)
        assert pd.isna(table.loc["whisper-tiny", "quality_per_kwh"])  # unknown, not 0
        spec = next(c.proto.spec for c in app.get("vega_lite_chart") if "per kWh" in c.proto.spec)
        assert "Best F1 per kWh of training energy" in spec

    def test_compare_and_its_card_weigh_the_energy_of_both(self, db_path):
        from mlprod.comparison.compare import compare, comparison_table, run_from_row

        history = self.runs(db_path)
        rows = {row["model_name"]: row for row in history.runs().to_dict("records")}
        small = run_from_row(rows["whisper-small"])
        large = run_from_row(rows["whisper-large"])
        tiny = run_from_row(rows["whisper-tiny"])
        both = compare(small, large)
        assert both.energy is not None and "whisper-small gives 13× the F1 per kWh" in both.energy
        table = comparison_table(both).set_index("measure")
        assert table.loc["F1 per kWh", "A"] == pytest.approx(0.43)
        assert table.loc["Energy (kWh)", "B"] == 28.0
        one = compare(small, tiny)
        assert "whisper-tiny's is unknown, so their energy is not compared" in (one.energy or "")


#: Each tracker's files and what its runs lack, for the tests every importer passes.
EVERY_TRACKER = {
    "wandb": (lambda tmp: WANDB, []),
    "tensorboard": (
        lambda tmp: (write_tensorboard(tmp / "tb"), tmp / "tb")[1],
        ["--metric", "accuracy"],
    ),
    "trainer": (lambda tmp: DATA / "trainer", []),
    "lightning": (
        lambda tmp: DATA / "lightning",
        ["--set", "training_hours=2", "--set", "latency_ms=4"],
    ),
    "dvc": (lambda tmp: DATA / "dvc" / "exp-show.json", []),
    "codecarbon": (
        lambda tmp: DATA / "codecarbon" / "emissions.csv",
        ["--set", "f1=0.8", "--set", "latency_ms=30"],
    ),
}


@pytest.mark.parametrize("tracker", sorted(EVERY_TRACKER))
def test_every_importer_saves_once_and_a_second_import_saves_nothing(tracker, capsys, tmp_path):
    where, extra = EVERY_TRACKER[tracker]
    path = where(tmp_path)
    db = tmp_path / "h.duckdb"
    args = [tracker, str(path), *COSTS, "--set", "latency_ms=20", *extra, "--save", "--db",
            str(db)]  # fmt: skip
    _, first, _ = imported(capsys, tmp_path, *args)
    assert first["saved"] > 0
    _, second, _ = imported(capsys, tmp_path, *args)
    assert second["saved"] == 0 and second["skipped"] == first["saved"]
    with Store(db) as store:
        assert len(store.history_page(HistoryFilter())) == first["saved"]


BROKEN = {  # a file of each tracker cut short or not what it claims
    "trainer": ("run/trainer_state.json", '{"log_history": [{"eval_f1": 0.8, "st'),
    "lightning": ("logs/version_0/metrics.csv", "epoch,step,val_f1\n0,1,0.8\x00\x01\n"),
    "dvc": ("exp.json", '[{"rev": "workspace", "data": {"metrics'),
    "codecarbon": ("emissions.csv", "timestamp,project_name\n2026-12-01T00:00:00,asr\n"),
    "mlruns": ("mlruns/1/abc/meta.yaml", "run_id: abc\nstatus: [unclosed\n"),
}


@pytest.mark.parametrize("tracker", sorted(BROKEN))
def test_a_broken_file_of_every_tracker_is_a_row_error_or_exit_2_never_a_traceback(
    tracker, tmp_path, capsys
):
    name, text = BROKEN[tracker]
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    if tracker == "mlruns":
        (path.parent / "metrics").mkdir()
    target = path if tracker in ("dvc", "codecarbon") else tmp_path / "in"
    code = main(["import", tracker, str(target), *COSTS, "--set", "latency_ms=20",
                 "--set", "training_hours=1", "-o", str(tmp_path / "o.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code in (1, 2) and "Traceback" not in err
    if code == 2:
        assert err.startswith("error:") or "error:" in err
    else:
        scored = pd.read_csv(tmp_path / "o.csv")
        assert scored["status"].tolist() == ["error"] and scored["error"].str.len().min() > 10
