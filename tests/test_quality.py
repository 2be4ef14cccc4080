"""Quality beyond F1 (issue #35): a metric per run with its direction, through the
calculator's command, files, the notebook API, the history and Compare, and evaluation
files of lm-evaluation-harness and promptfoo as the tools wrote them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import mlprod
from mlprod import saving
from mlprod.cli import main
from mlprod.comparison.compare import Run, compare
from mlprod.costs.llm import default_llm_prices
from mlprod.errors import InvalidInput
from mlprod.quality import F1, KNOWN_METRICS, metric_named
from mlprod.store import HistoryFilter, Store
from tests.conftest import text, upload_tracker_files

EVALS = Path(__file__).parent / "data" / "evals"
LM_EVAL = EVALS / "lm-eval"
PROMPTFOO = EVALS / "promptfoo-output.json"
COSTS = ["--set", "training_cost=900", "--set", "training_hours=12"]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the metric and its direction -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "label", "score_of_0_2"),
    [
        ("F1", "f1", "F1", 0.2),
        ("val/accuracy", "accuracy", "Accuracy", 0.2),
        ("eval_acc", "accuracy", "Accuracy", 0.2),
        ("roc_auc", "auc", "AUC", 0.2),
        ("pass@1", "pass@1", "pass@1", 0.2),
        ("pass@10", "pass@10", "pass@10", 0.2),
        ("rougeL", "rouge_l", "ROUGE-L", 0.2),
        ("helpfulness", "helpfulness", "helpfulness", 0.2),  # a team's own, higher is better
        ("WER", "wer", "1 − WER", 0.8),
        ("test/error_rate", "error_rate", "1 − Error rate", 0.8),
        ("cer", "character_error_rate", "1 − Character error rate", 0.8),
    ],
)
def test_every_kind_of_metric_is_named_and_scored_in_its_direction(name, key, label, score_of_0_2):
    metric = metric_named(name)
    assert (metric.key, metric.score_label) == (key, label)
    assert metric.score_of(0.2) == pytest.approx(score_of_0_2)


@pytest.mark.parametrize("name", ["rmse", "val_loss", "perplexity", "MAE", "log_loss", "r2"])
def test_an_unbounded_metric_is_refused_saying_why_and_what_to_give(name):
    with pytest.raises(InvalidInput) as refused:
        metric_named(name)
    message = str(refused.value)
    assert "no upper bound" in message and "rank runs backwards" in message
    assert "F1, accuracy, AUC" in message  # what to give instead


def test_a_lower_is_better_value_out_of_range_is_named_as_logged():
    wer = metric_named("wer")
    with pytest.raises(InvalidInput, match=r"WER is 12, above 1: .* as a fraction"):
        wer.score_of(12)
    with pytest.raises(InvalidInput, match=r"WER must be between 0 and 1 — got -0.1"):
        wer.score_of(-0.1)
    assert F1.score_of(0.9) == 0.9 and KNOWN_METRICS[0] is F1


# -- the calculator's command ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "value", "quality", "label"),
    [("accuracy", 0.93, 0.93, "Accuracy"), ("pass@1", 0.41, 0.41, "pass@1"),
     ("wer", 0.12, 0.88, "1 − WER")],
)  # fmt: skip
def test_calc_scores_a_run_on_its_metric_and_labels_the_ratios(
    capsys, db_path, metric, value, quality, label
):
    args = ["calc", "--metric", metric, "--value", str(value), "--training-cost", "1000",
            "--inference-cost", "200", "--training-hours", "10", "--latency-ms", "50"]  # fmt: skip
    code, out, _ = cli(capsys, *args, "--json")
    assert code == 0
    assert json.loads(out) == pytest.approx(
        {"cer": quality / 1200, "ter": quality / 10, "psr": quality / 50}
    )
    code, out, _ = cli(capsys, *args, "--save", "--db", str(db_path))
    quantity = f"({label})" if metric == "wer" else label
    assert f"{quantity} per training hour" in out and f"TER = {quantity} /" in out
    with Store(db_path) as store:
        assert store.metrics() == {metric_named(metric).key: 1}
        row = store.history_page(HistoryFilter())
        assert (row["f1"][0], row["metric"][0]) == (
            pytest.approx(quality),
            metric_named(metric).key,
        )


def test_calc_refuses_an_unbounded_metric_and_a_missing_value(capsys):
    base = ["calc", "--training-cost", "1", "--inference-cost", "1", "--training-hours", "1",
            "--latency-ms", "1"]  # fmt: skip
    code, _, err = cli(capsys, *base, "--metric", "perplexity", "--value", "12")
    assert code == 2 and "no upper bound" in err
    code, _, err = cli(capsys, *base, "--metric", "accuracy")
    assert code == 2 and "Give the run's Accuracy with --value" in err


def test_the_reference_example_is_unchanged_with_f1(capsys):
    code, out, _ = cli(capsys, "calc", "--f1", "0.9", "--training-cost", "1000",
                       "--inference-cost", "200", "--training-hours", "10", "--latency-ms",
                       "50", "--json")  # fmt: skip
    assert code == 0 and json.loads(out) == {"cer": 0.00075, "ter": 0.09, "psr": 0.018}


# -- files, the notebook API and the history --------------------------------------------------


def runs_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "model_name": ["asr-small", "asr-large", "asr-tiny"],
        "metrics.val_wer": [0.18, 0.09, 1.4],  # 1.4: more errors than words
        "metrics.val_accuracy": [0.80, 0.90, 0.70],
        "training_cost": [100.0, 800.0, 50.0],
        "inference_cost": [20.0, 40.0, 10.0],
        "training_hours": [2.0, 16.0, 1.0],
        "latency_ms": [30.0, 90.0, 10.0],
    })  # fmt: skip


def test_the_notebook_api_scores_wer_as_one_minus_wer_and_accuracy_as_logged():
    frame = runs_frame()
    wer = mlprod.score(frame, metric="wer")
    assert wer["status"].tolist() == ["ok", "ok", "error"]
    assert wer["error"][2].startswith("WER is 1.4, above 1: 1 − WER would be below 0")
    assert wer["f1"][:2].tolist() == pytest.approx([0.82, 0.91])
    assert wer["metric_value"][:2].tolist() == [0.18, 0.09] and set(wer["metric"]) == {"wer"}
    assert wer["cer"][:2].tolist() == pytest.approx([0.82 / 120, 0.91 / 840])
    accuracy = mlprod.score(frame, metric="accuracy")
    assert accuracy["psr"].tolist() == pytest.approx([0.8 / 30, 0.9 / 90, 0.7 / 10])
    f1 = frame.assign(f1=[0.5, 0.6, 0.7])
    assert "metric" not in mlprod.score(f1).columns  # F1 runs score exactly as before
    with pytest.raises(InvalidInput, match="no upper bound"):
        mlprod.score(frame, metric="rmse")


def test_a_file_scored_with_metric_and_map_metric(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    runs_frame().rename(columns={"metrics.val_accuracy": "top1"}).to_csv(path, index=False)
    code, _, err = cli(
        capsys, "score", str(path), "--metric", "accuracy", "-o", str(tmp_path / "x.csv")
    )
    assert code == 2 and "No column found for Accuracy (metric)" in err and "--map metric=" in err
    code, out, _ = cli(capsys, "score", str(path), "--metric", "accuracy", "--map", "metric=top1",
                       "-o", str(tmp_path / "o.csv"), "--json")  # fmt: skip
    report = json.loads(out)
    assert (
        code == 0 and report["metric"] == "accuracy" and "Accuracy from 'top1'" in report["columns"]
    )
    scored = pd.read_csv(tmp_path / "o.csv")
    assert scored["ter"].tolist() == pytest.approx([0.8 / 2, 0.9 / 16, 0.7 / 1])


def test_one_file_saves_once_per_metric(tmp_path, backend_db, capsys):
    path = tmp_path / "runs.csv"
    runs_frame().assign(f1=[0.81, 0.88, 0.69]).to_csv(path, index=False)
    save = ["score", str(path), "--save", "--db", backend_db, "-o", str(tmp_path / "o.csv")]
    for metric, code_wanted in (("f1", 0), ("accuracy", 0), ("wer", 1)):  # 1: a WER of 1.4
        code, out, err = cli(capsys, *save, "--metric", metric)
        assert code == code_wanted and "Saved" in out and "Not saved again" not in err
    code, out, _ = cli(capsys, *save, "--metric", "accuracy")
    assert code == 0 and "Not saved again: runs.csv was saved before: 3 rows" in out
    with Store(backend_db) as store:
        assert store.metrics() == {"accuracy": 3, "f1": 3, "wer": 2}
        assert saving.previous_save(store, path, "accuracy")["rows"] == 3
        assert saving.previous_save(store, path, "auc") is None


def test_the_history_never_ranks_or_fronts_two_metrics_together(db_path):
    frame = runs_frame()
    history = mlprod.History(db_path)
    history.save(mlprod.score(frame, metric="accuracy"), author="ann")
    history.save(mlprod.score(frame.assign(f1=[0.99, 0.98, 0.97])), author="ann")
    with Store(db_path) as store:
        assert store.metrics() == {"accuracy": 3, "f1": 3}
        for key, best_psr in (("accuracy", 0.07), ("f1", 0.097)):
            f = HistoryFilter(metrics=(key,))
            assert store.summary(f)["runs"] == 3
            assert store.summary(f)["best_psr"] == pytest.approx(best_psr)
            fronts = store.frontiers(f, details=False)
            ids = set(fronts["total_cost"]["id"]) | set(fronts["latency_ms"]["id"])
            runs = store.history_page(f)
            assert ids <= set(runs["id"]) and set(runs["metric"]) == {key}
    with pytest.raises(InvalidInput, match="accuracy, f1"):
        history.best_per_model()
    best = history.best_per_model(metric="accuracy")
    psr = best[best["ratio"] == "PSR"].set_index("model_name")["value"]
    assert psr.to_dict() == pytest.approx(
        {"asr-small": 0.8 / 30, "asr-large": 0.01, "asr-tiny": 0.07}
    )
    assert set(history.runs(metric="Accuracy")["metric"]) == {"accuracy"}


def test_compare_refuses_two_metrics_naming_both(db_path, capsys):
    a = Run(0.9, 1000, 200, 10, 50, name="bert")
    b = Run(0.93, 1000, 200, 10, 50, name="gpt", metric=metric_named("accuracy"))
    with pytest.raises(InvalidInput) as refused:
        compare(a, b)
    assert "A (bert) is scored on F1 and B (gpt) on Accuracy" in str(refused.value)
    same = compare(Run(0.88, 10, 1, 1, 1, name="x", metric=metric_named("wer")),
                   Run(0.91, 10, 1, 1, 1, name="y", metric=metric_named("wer")))  # fmt: skip
    assert "1 − WER" in " ".join(same.key_numbers)
    history = mlprod.History(db_path)  # and the command, from the history
    history.save(mlprod.score(runs_frame().assign(f1=[0.9, 0.8, 0.7])), author="ann")
    history.save(mlprod.score(runs_frame(), metric="accuracy"), author="ann")
    ids = history.runs()["id"].tolist()
    code, _, err = cli(capsys, "compare", str(ids[0]), str(ids[-1]), "--db", str(db_path))
    assert code == 2 and "cannot be compared" in err


# -- evaluation files --------------------------------------------------------------------------


def test_lm_eval_results_score_per_task_on_the_chosen_metric(tmp_path, capsys):
    results = json.loads(next(LM_EVAL.rglob("results_*.json")).read_text())
    seconds = float(results["total_evaluation_time_seconds"])
    samples = sum(n["effective"] for n in results["n-samples"].values())
    latency = seconds * 1000 / samples
    out = tmp_path / "lm.parquet"
    code, stdout, _ = cli(capsys, "import", "lm-eval", str(LM_EVAL), *COSTS,
                          "--set", "inference_cost=100", "-o", str(out), "--json")  # fmt: skip
    report = json.loads(stdout)
    rows = {r["run_name"]: r for r in pq.read_table(out).to_pylist()}
    assert code == 1 and report["metric"] == "accuracy"  # the generation task has no acc
    qa = rows["mlprod_qa"]
    acc = results["results"]["mlprod_qa"]["acc,none"]
    assert (qa["status"], qa["f1"], qa["model_name"]) == ("ok", acc, "dummy")
    assert qa["latency_ms"] == pytest.approx(latency)
    assert qa["cer"] == pytest.approx(acc / 1000) and qa["ter"] == pytest.approx(acc / 12)
    assert rows["mlprod_gen"]["error"] == "Accuracy is empty."
    out = tmp_path / "em.parquet"
    code, _, _ = cli(capsys, "import", "lm-eval", str(LM_EVAL), "--metric", "exact_match",
                     *COSTS, "--set", "inference_cost=100", "-o", str(out))  # fmt: skip
    gen = {r["run_name"]: r for r in pq.read_table(out).to_pylist()}["mlprod_gen"]
    assert gen["f1"] == results["results"]["mlprod_gen"]["exact_match,none"]
    code, _, err = cli(capsys, "import", "lm-eval", str(LM_EVAL), "--metric", "word_perplexity",
                       *COSTS, "--set", "inference_cost=1")  # fmt: skip
    assert code == 2 and "no upper bound" in err


def test_promptfoo_prices_tokens_by_the_book_and_never_an_unknown_model_at_zero(tmp_path, capsys):
    output = json.loads(PROMPTFOO.read_text())
    book = default_llm_prices().price("gpt-4o-mini")
    out = tmp_path / "pf.parquet"
    code, stdout, _ = cli(capsys, "import", "promptfoo", str(PROMPTFOO), *COSTS, "-o", str(out),
                          "--json")  # fmt: skip
    report = json.loads(stdout)
    rows = pq.read_table(out).to_pylist()
    assert code == 1 and (report["rows"], report["ok"], report["errors"]) == (4, 2, 2)
    for prompt in output["results"]["prompts"]:
        m = prompt["metrics"]
        row = next(
            r for r in rows if r["run_id"].endswith(f"{prompt['id'][:12]}/{prompt['provider']}")
        )
        pass_rate = m["testPassCount"] / (
            m["testPassCount"] + m["testFailCount"] + m["testErrorCount"]
        )
        assert row["f1"] == pytest.approx(pass_rate)
        assert row["latency_ms"] == pytest.approx(
            m["totalLatencyMs"] / m["tokenUsage"]["numRequests"]
        )
        if prompt["provider"] == "gpt-4o-mini":
            usage = m["tokenUsage"]
            cost = (
                usage["prompt"] * book.input_per_1m + usage["completion"] * book.output_per_1m
            ) / 1e6
            assert row["status"] == "ok" and row["inference_cost"] == pytest.approx(cost)
            assert row["cer"] == pytest.approx(pass_rate / (900 + cost))
            assert (row["llm_model"], str(row["llm_prices_as_of"])) == (
                "gpt-4o-mini",
                str(book.as_of),
            )
        else:  # not in the book: a row error that says how to price it, never $0
            assert row["status"] == "error" and math.isnan(row["inference_cost"])
            assert row["error"].startswith("no price for model my-local-llama")
            assert "--set its prices" in row["error"]
    per_1k = tmp_path / "per-1k.parquet"
    cli(capsys, "import", "promptfoo", str(PROMPTFOO), *COSTS, "--per-1k-evals", "-o", str(per_1k))
    priced = [r for r in pq.read_table(per_1k).to_pylist() if r["status"] == "ok"]
    assert len(priced) == 2
    for row in priced:  # three tests per prompt and provider
        total = next(r for r in rows if r["run_id"] == row["run_id"])["inference_cost"]
        assert row["inference_cost"] == pytest.approx(total / 3 * 1000)
    code, stdout, _ = cli(capsys, "import", "promptfoo", str(PROMPTFOO), *COSTS,
                          "--set", "price_in_per_1m=0.05", "--set", "price_out_per_1m=0.1",
                          "-o", str(tmp_path / "typed.parquet"), "--json")  # fmt: skip
    assert code == 0 and json.loads(stdout)["ok"] == 4


def test_an_eval_import_saves_once_and_a_broken_file_is_a_row_error(tmp_path, db_path, capsys):
    folder = tmp_path / "evals"
    folder.mkdir()
    (folder / "good.json").write_bytes(PROMPTFOO.read_bytes())
    (folder / "cut.json").write_bytes(PROMPTFOO.read_bytes()[:500])  # half-written
    args = ["import", "promptfoo", str(folder), *COSTS, "--set", "price_in_per_1m=1",
            "--set", "price_out_per_1m=2", "--save", "--db", str(db_path), "--json",
            "-o", str(tmp_path / "o.csv")]  # fmt: skip
    code, stdout, _ = cli(capsys, *args)
    report = json.loads(stdout)
    assert code == 1 and (report["ok"], report["errors"], report["saved"]) == (4, 1, 4)
    assert "cut.json cannot be read as JSON" in report["first_errors"][0]["error"]
    code, stdout, _ = cli(capsys, *args)
    again = json.loads(stdout)
    assert again["saved"] == 0 and again["skipped"] == 4  # cron may run it again
    with Store(db_path) as store:
        assert store.metrics() == {"pass_rate": 4}
        assumed = store.calculations_by_id(store.history_page(HistoryFilter())["id"].tolist())
        assert set(assumed["inference_mode"]) == {"eval tokens"}


# -- the pages -------------------------------------------------------------------------------


class TestPages:
    def test_the_calculator_scores_and_saves_a_run_on_wer(self, app, db_path):
        app.run()
        app.selectbox(key="calc-metric").set_value("WER").run()
        assert app.number_input(key="calc-metric-value").label.startswith("WER (lower is better")
        app.number_input(key="calc-metric-value").set_value(0.2)
        app.button(key="calc-submit").click().run()
        assert not app.exception and not app.error
        shown = " ".join(c.value for c in app.caption)
        assert "0.08 (1 − WER) per training hour" in shown  # (1 − 0.2) / 10 hours
        assert app.metric[1].value == "0.08"
        app.button(key="calc-save").click().run()
        with Store(db_path) as store:
            assert store.metrics() == {"wer": 1}
            assert store.history_page(HistoryFilter())["f1"].tolist() == [0.8]

    def test_the_calculator_refuses_an_unbounded_name_of_ones_own(self, app):
        app.run()
        app.selectbox(key="calc-metric").set_value("Other (name it)").run()
        app.text_input(key="calc-metric-name").input("val_loss").run()
        app.button(key="calc-submit").click().run()
        assert "no upper bound" in app.error[0].value

    def test_history_shows_one_metric_at_a_time(self, app, db_path):
        history = mlprod.History(db_path)
        history.save(mlprod.score(runs_frame(), metric="accuracy"), author="ann")
        history.save(mlprod.score(runs_frame().assign(f1=[0.9, 0.8, 0.7]).head(2)), author="ann")
        app.run()
        app.switch_page("pages/history.py").run()
        picker = app.selectbox(key="history-metric")
        assert picker.options == ["Accuracy", "F1"]  # most runs first
        assert len(app.dataframe[0].value) == 3
        assert "within this much Accuracy" in app.number_input(key="history-gap").label
        charts = " ".join(c.proto.spec for c in app.get("vega_lite_chart"))
        assert "Accuracy vs total cost" in charts and "F1 vs" not in charts
        picker.set_value("f1").run()
        assert not app.exception and len(app.dataframe[0].value) == 2
        assert "within this much F1" in app.number_input(key="history-gap").label

    def test_batch_scores_and_saves_a_file_on_the_metric_picked(self, app, db_path):
        app.run()
        app.switch_page("pages/batch.py").run()
        data = runs_frame().to_csv(index=False).encode()
        app.file_uploader(key="batch-upload").upload("asr.csv", data, "text/csv").run()
        app.selectbox(key="batch-metric").set_value("WER").run()
        app.button(key="batch-score").click().run()
        assert not app.exception
        scored = next(d.value for d in app.dataframe if "cer" in d.value.columns)
        assert scored["f1"].tolist()[:2] == pytest.approx([0.82, 0.91])
        assert "WER is 1.4, above 1" in scored["error"].tolist()[2]
        app.button(key="batch-save").click().run()
        with Store(db_path) as store:
            assert store.metrics() == {"wer": 2}

    def upload_eval(
        self, app, tool: str, files: list[Path], metric: str, *given: tuple[str, float]
    ) -> pd.DataFrame:
        upload_tracker_files(app, tool, files, metric)
        app.number_input(key="batch-scenario-training_cost").set_value(900.0)
        app.number_input(key="batch-scenario-training_hours").set_value(12.0).run()
        for name, value in given:
            app.number_input(key=f"batch-scenario-{name}").set_value(value).run()
        app.button(key="batch-score").click().run()
        assert not app.exception
        return next(d.value for d in app.dataframe if "cer" in d.value.columns)

    def test_lm_eval_results_uploaded_on_the_batch_page_score_per_task(
        self, app, db_path, tmp_path
    ):
        path = next(LM_EVAL.rglob("results_*.json"))
        results = json.loads(path.read_text())
        cut = tmp_path / "results_cut.json"  # a file copied while the harness wrote it
        cut.write_bytes(path.read_bytes()[:300])
        scored = self.upload_eval(
            app, "lm-eval", [path, cut], "Accuracy", ("inference_cost", 100.0)
        ).set_index("run_name")
        assert scored.loc["results_cut.json", "error"].startswith("results_cut.json cannot be read")
        acc = results["results"]["mlprod_qa"]["acc,none"]
        assert scored.loc["mlprod_qa", "f1"] == acc
        assert scored.loc["mlprod_qa", "ter"] == pytest.approx(acc / 12)
        assert scored.loc["mlprod_qa", "cer"] == pytest.approx(acc / 1000)
        assert scored.loc["mlprod_gen", "error"] == "Accuracy is empty."  # no acc: said
        app.button(key="batch-save").click().run()
        with Store(db_path) as store:
            assert store.metrics() == {"accuracy": 1}

    def test_runs_without_f1_that_log_another_quality_say_which_to_score_on(self, app, capsys):
        """Mapping an accuracy column as F1 would label accuracy F1: the page and the
        command name the metrics the runs log instead."""
        path = next(LM_EVAL.rglob("results_*.json"))
        upload_tracker_files(app, "lm-eval", [path])  # the picker left on F1
        said = text(app.warning[0].value)
        assert "These runs log Accuracy (metrics.acc), Exact match (metrics.exact_match)" in said
        assert "pick that as the quality metric above" in said
        code, _, err = cli(capsys, "import", "lm-eval", str(LM_EVAL), "--metric", "f1", *COSTS,
                           "--set", "inference_cost=1")  # fmt: skip
        assert code == 2 and "score them on that metric (--metric accuracy)" in err

    def test_promptfoo_output_uploaded_on_the_batch_page_is_priced_by_the_book(self, app):
        book = default_llm_prices().price("gpt-4o-mini")
        scored = self.upload_eval(app, "promptfoo", [PROMPTFOO], "Pass rate")
        output = json.loads(PROMPTFOO.read_text())
        for prompt in output["results"]["prompts"]:
            row = scored[scored["run_id"].str.endswith(f"{prompt['id'][:12]}/{prompt['provider']}")]
            usage = prompt["metrics"]["tokenUsage"]
            if prompt["provider"] == "gpt-4o-mini":
                cost = (usage["prompt"] * book.input_per_1m
                        + usage["completion"] * book.output_per_1m) / 1e6  # fmt: skip
                assert row["inference_cost"].iloc[0] == pytest.approx(cost)
            else:  # a model the book does not list: never $0
                assert row["error"].iloc[0].startswith("no price for model my-local-llama")
                assert pd.isna(row["inference_cost"].iloc[0])

    def test_the_guide_explains_the_metric_choice_and_the_direction_rule(self, app):
        app.run()
        app.switch_page("pages/guide.py").run()
        shown = " ".join(m.value for m in app.markdown)
        assert "Lower is better, 0 to 1 | **1 − x**" in shown
        for metric in KNOWN_METRICS:  # every metric the pickers offer is in the table
            assert metric.label in shown
        assert "Why a loss is refused" in shown and "imbalanced classes" in shown
