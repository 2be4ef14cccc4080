"""Every page through Streamlit's AppTest, on a temp DuckDB file."""

from __future__ import annotations

import json
from typing import ClassVar

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from mlprod.config import PROJECT_DIR
from mlprod.formatting import format_ratio
from mlprod.store import HistoryFilter, Store
from tests.conftest import (
    count,
    recent,
    text,
)

PAGES = ["pages/calculator.py", "pages/batch.py", "pages/compare.py", "pages/history.py"]


def saved_rows(db_path):
    with Store(db_path) as s:
        return recent(s, 100)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(app, page):
    app.run()
    app.switch_page(page).run()
    assert not app.exception


class TestCalculator:
    def test_first_visit_shows_the_reference_example(self, app):
        app.run()
        metrics = {m.label.split()[0]: m.value for m in app.metric}
        assert metrics == {"CER": "0.00075", "TER": "0.09", "PSR": "0.018"}
        assert "**Cost efficiency**: 0.75 F1 per $1,000" in [c.value for c in app.caption]

    def test_labels_are_the_documented_ones(self, app):
        app.run()
        labels = {w.label for w in app.number_input}
        assert {"F1 score", "Training cost", "Inference cost", "Training time (hours)",
                "Latency (ms)"} <= labels  # fmt: skip
        assert app.button(key="calc-submit").label == "Calculate"
        assert "Costs below are in USD ($)." in [c.value for c in app.caption]

    def test_new_values_recalculate(self, app):
        app.run()
        app.number_input(key="calc-latency-ms").set_value(100)
        app.button(key="calc-submit").click().run()
        assert app.metric[2].value == "0.009"

    def test_advice_targets_the_weakest_ratio(self, app):
        app.run()
        app.number_input(key="calc-latency-ms").set_value(900)
        app.button(key="calc-submit").click().run()
        text = " ".join(m.value for m in app.markdown)
        assert "Speed (PSR) is your weakest ratio" in text and "Quantize" in text

    @pytest.mark.parametrize(
        ("key", "value", "words"),
        [("calc-f1", 90.0, "did you mean 0.90?"), ("calc-f1", -0.5, "between 0 and 1"),
         ("calc-training-cost", -10.0, "Training cost cannot be negative"),
         ("calc-inference-cost", -1.0, "Inference cost cannot be negative"),
         ("calc-training-hours", 0.0, "Training time (hours) must be above 0"),
         ("calc-latency-ms", 0.0, "Latency (ms) must be above 0")],
    )  # fmt: skip
    def test_bad_input_shows_message_and_saves_nothing(self, app, db_path, key, value, words):
        app.run()
        app.number_input(key=key).set_value(value)
        app.button(key="calc-submit").click().run()
        assert not app.exception
        assert [e.value for e in app.error] and words in text(app.error[0].value)
        assert not app.metric  # no stale result next to the error
        assert not [b for b in app.button if b.key == "calc-save"]
        assert saved_rows(db_path).empty

    def test_zero_total_cost(self, app):
        app.run()
        app.number_input(key="calc-training-cost").set_value(0.0)
        app.number_input(key="calc-inference-cost").set_value(0.0)
        app.button(key="calc-submit").click().run()
        assert "Total cost" in text(app.error[0].value)

    def test_f1_from_precision_and_recall(self, app):
        app.run()
        app.radio(key="calc-f1-mode").set_value("Precision & recall").run()
        app.number_input(key="calc-precision").set_value(0.8)
        app.number_input(key="calc-recall").set_value(1.0)
        app.button(key="calc-submit").click().run()
        assert app.metric[1].value == "0.0889"  # F1 0.8889 / 10 h, to 3 significant digits

    def test_f1_from_counts(self, app):
        app.run()
        app.radio(key="calc-f1-mode").set_value("TP / FP / FN counts").run()
        app.number_input(key="calc-tp").set_value(0)
        app.number_input(key="calc-fp").set_value(0)
        app.number_input(key="calc-fn").set_value(0)
        app.button(key="calc-submit").click().run()
        assert "undefined" in text(app.error[0].value)

    def test_measured_energy_adds_quality_per_kwh_and_is_saved_with_the_run(self, app, db_path):
        app.run()
        assert not [c for c in app.caption if "Energy efficiency" in c.value]  # none guessed
        app.number_input(key="calc-energy").set_value(2.0)
        app.number_input(key="calc-co2").set_value(0.1)
        app.button(key="calc-submit").click().run()
        assert "**Energy efficiency**: 0.45 F1 per kWh (2 kWh, 0.1 kg CO2e)." in [
            c.value for c in app.caption
        ]
        app.button(key="calc-save").click().run()
        with Store(db_path) as store:
            runs = store.history_page(HistoryFilter())
        assert runs[["energy_kwh", "co2_kg"]].iloc[0].tolist() == [2.0, 0.1]
        assert runs["quality_per_kwh"].iloc[0] == pytest.approx(0.45)
        app.number_input(key="calc-energy").set_value(0.0)
        app.button(key="calc-submit").click().run()
        assert "Energy (kWh) must be above 0, or empty." in text(app.error[0].value)

    def test_save_writes_exactly_one_row_with_author(self, app, db_path):
        app.run()
        app.sidebar.text_input(key="sidebar-author").input("Ada")
        app.text_input(key="calc-model-name").input("resnet-50")
        app.text_input(key="calc-tags").input("vision, , baseline ")
        app.button(key="calc-submit").click().run()
        app.button(key="calc-save").click().run()
        assert "Saved" in text(app.success[0].value)
        app.button(key="calc-save").click().run()  # a second click on the same result
        app.run()  # and a rerun
        rows = saved_rows(db_path)
        assert len(rows) == 1
        row = rows.iloc[0]
        assert (row.author, row.model_name, row.tags, row.cer) == (
            "Ada",
            "resnet-50",
            "vision, baseline",
            0.00075,
        )

    def test_recalculating_then_saving_stores_a_new_row(self, app, db_path):
        app.run()
        app.button(key="calc-save").click().run()
        app.button(key="calc-submit").click().run()
        app.button(key="calc-save").click().run()
        assert len(saved_rows(db_path)) == 2

    def test_sidebar_names_the_database(self, app, db_path):
        app.run()
        caption = app.sidebar.caption[0].value
        assert db_path.name in caption and str(db_path.parent) not in caption  # no server path

    def test_unusable_database_is_explained_not_a_traceback(self, app, db_path):
        db_path.write_text("not a database")
        app.run()
        app.button(key="calc-save").click().run()
        assert not app.exception
        assert "is not a DuckDB database" in text(app.error[0].value)
        assert db_path.read_text() == "not a database"


SHARED_DATA = PROJECT_DIR / "tests" / "data"


class TestBatch:
    def open(self, app):
        app.run()
        app.switch_page("pages/batch.py").run()
        return app

    def upload(self, app, name, data):
        app.file_uploader(key="batch-upload").upload(name, data, "text/csv").run()
        assert not app.exception
        return app

    def test_upload_score_save_and_detect_a_second_upload(self, app, db_path):
        data = (SHARED_DATA / "mlflow_search_runs.csv").read_bytes()
        self.upload(self.open(app), "mlflow_search_runs.csv", data)
        assert "MLflow search_runs" in app.subheader[0].value
        app.button(key="batch-score").click().run()
        metrics = {m.label: m.value for m in app.metric}
        assert (metrics["Rows"], metrics["Scored"], metrics["With errors"]) == ("300", "292", "8")
        assert {"Best CER", "Best TER", "Best PSR"} <= metrics.keys()
        errors = app.dataframe[-1].value
        assert errors["line"].tolist()[:2] == [5, 27]
        assert "Latency (ms) must be above 0" in errors["error"].iloc[0]

        app.button(key="batch-save").click().run()
        assert "Saved 292 rows" in text(app.success[0].value)
        rows = saved_rows(db_path)
        with Store(db_path) as s:
            assert count(s) == 292
        assert set(rows["source"]) == {"batch"}
        assert set(rows["file_name"]) == {"mlflow_search_runs.csv"}  # the upload's own name

        # The same file again, in a new session: the page asks before storing it twice.
        st.cache_resource.clear()
        second = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=30)
        second.session_state["sidebar-author"] = "bob"
        self.upload(self.open(second), "again.csv", data)
        second.button(key="batch-score").click().run()
        assert "saved before: 292 rows" in text(second.warning[0].value)
        assert not [b for b in second.button if b.key == "batch-save"]
        second.button(key="batch-save-again").click().run()
        second.button(key="batch-save").click().run()
        with Store(db_path) as s:
            assert count(s) == 584

    def test_bad_file_shows_one_message(self, app):
        self.upload(self.open(app), "junk.csv", b"\x00\x01\x02binary\x00")
        assert "not a text CSV file" in text(app.error[0].value)
        assert not [b for b in app.button if b.key == "batch-score"]

    def test_a_file_of_bad_rows_says_there_is_nothing_to_save(self, app, db_path):
        data = b"model_name,f1,training_cost,inference_cost,training_hours,latency_ms\n"
        data += b"m,90,1000,200,10,50\nn,0.9,0,0,10,50\n"
        self.upload(self.open(app), "bad.csv", data)
        app.button(key="batch-score").click().run()
        assert {m.label: m.value for m in app.metric}["With errors"] == "2"
        assert not [b for b in app.button if b.key == "batch-save"]
        assert any("Nothing to save" in c.value for c in app.caption)
        with Store(db_path) as s:
            assert count(s) == 0

    def test_decimal_commas_are_read_and_said(self, app):
        data = "model_name;f1;training_cost;inference_cost;training_hours;latency_ms\n"
        data += "résnet;0,9;1.000;200;10;50\n"
        self.upload(self.open(app), "eu.csv", data.encode("cp1252"))
        assert any("decimal comma" in c.value for c in app.caption)
        app.button(key="batch-score").click().run()
        assert {m.label: m.value for m in app.metric}["Best CER"] == "0.00075"

    def test_missing_column_is_chosen_by_hand(self, app):
        header = b"name,quality,training_cost,inference_cost,training_hours,latency_ms\n"
        data = header + b"m,0.9,1000,200,10,50\n"
        self.upload(self.open(app), "runs.csv", data)
        assert "F1 score" in text(app.warning[0].value)
        app.selectbox(key="batch-map-f1").set_value("quality").run()
        app.button(key="batch-score").click().run()
        assert {m.label: m.value for m in app.metric}["Best CER"] == "0.00075"


class TestCompare:
    def seed(self, db_path):
        with Store(db_path) as s:
            s.append_calculations(
                pd.DataFrame([
                    {"model_name": "bert", "f1": 0.9, "training_cost": 1000.0,
                     "inference_cost": 200.0, "training_hours": 10.0, "latency_ms": 50.0,
                     "cer": 0.00075, "ter": 0.09, "psr": 0.018,
                     "created_at": pd.Timestamp("2026-01-01")},
                    {"model_name": "distilbert", "f1": 0.85, "training_cost": 200.0,
                     "inference_cost": 100.0, "training_hours": 2.0, "latency_ms": 10.0,
                     "cer": 0.85 / 300, "ter": 0.425, "psr": 0.085,
                     "created_at": pd.Timestamp("2026-02-01")},
                ]),
                source="batch",
            )  # fmt: skip
            return s.latest_per_model(2)["id"].tolist()

    def open(self, app, **params):
        app.run()
        for key, value in params.items():
            app.query_params[key] = value
        app.switch_page("pages/compare.py").run()
        assert not app.exception
        return app

    def test_empty_history_shows_the_classic_trade_off(self, app):
        self.open(app)
        assert text(app.success[0].value).startswith("Choose A, light-distilled")
        assert app.query_params["a"] == "light-distilled~0.97~400~100~6~20"
        assert any("$24,750 per 0.01 F1" in text(m.value) for m in app.markdown)

    def test_from_history_defaults_to_the_two_newest_models(self, app, db_path):
        newest, older = self.seed(db_path)
        self.open(app)
        assert app.query_params["a"] == str(newest) and app.query_params["b"] == str(older)
        assert text(app.success[0].value).startswith("Choose A, distilbert")
        table = app.dataframe[0].value.set_index("measure")
        assert table.loc["CER", "winner"] == "A · distilbert"

    def test_by_hand(self, app):
        self.open(app)
        app.number_input(key="compare-b-latency_ms").set_value(10.0)
        app.number_input(key="compare-b-training_cost").set_value(300.0)
        app.number_input(key="compare-b-inference_cost").set_value(100.0)
        app.number_input(key="compare-b-training_hours").set_value(5.0)
        app.run()
        assert text(app.success[0].value).startswith("Choose B, heavy-ensemble")
        assert app.query_params["b"] == "heavy-ensemble~0.99~300~100~5~10"

    def test_a_run_typed_in_is_scored_on_the_metric_picked_beside_its_name(self, app, db_path):
        import mlprod

        runs = pd.DataFrame({"model_name": ["asr"], "wer": [0.10], "training_cost": [500.0],
                             "inference_cost": [100.0], "training_hours": [4.0],
                             "latency_ms": [30.0]})  # fmt: skip
        mlprod.History(db_path).save(mlprod.score(runs, metric="wer"), author="ann")
        saved = int(mlprod.History(db_path).runs()["id"].iloc[0])
        self.open(app, a=str(saved), b="small~0.9~200~100~2~20")
        refused = text(app.error[0].value)
        assert "A (asr) is scored on 1 − WER and B (small) on F1" in refused
        assert "pick its quality metric beside its name" in refused
        app.selectbox(key="compare-b-metric").set_value("wer").run()
        assert app.number_input(key="compare-b-f1").label == "WER"
        app.number_input(key="compare-b-f1").set_value(0.2).run()  # a WER as typed
        assert not app.error and app.query_params["b"] == "small~0.8~200~100~2~20~wer"
        table = app.dataframe[0].value.set_index("measure")
        assert table.loc["1 − WER", "B"] == pytest.approx(0.8)
        assert table.loc["CER", "B"] == pytest.approx(0.8 / 300)
        self.open(app, a=str(saved), b="small~0.8~200~100~2~20~wer")  # the link, opened
        assert app.selectbox(key="compare-b-metric").value == "wer"
        assert app.number_input(key="compare-b-f1").value == pytest.approx(0.2)

    def test_a_link_with_a_quality_above_one_falls_back_with_a_warning(self, app):
        self.open(app, a="fast~1.5~100~0~1~5", b="7")
        assert "has a quality of 1.5: it is between 0 and 1" in text(app.warning[0].value)
        assert text(app.success[0].value).startswith("Choose A, light-distilled")

    def test_permalink_reproduces_the_comparison(self, app, db_path):
        newest, _ = self.seed(db_path)
        self.open(app, a="fast~0.8~100~0~1~5", b=str(newest), w="0,0,1", tie="5")
        assert app.radio(key="compare-a-source").value == "By hand"
        assert app.text_input(key="compare-a-name").value == "fast"
        assert app.selectbox(key="compare-b-pick").value == newest
        assert app.slider(key="compare-w-psr").value == 1.0
        assert app.slider(key="compare-tie").value == 5.0
        assert text(app.success[0].value).startswith("Choose A, fast")
        assert "(weights: cost 0, time 0, speed 1)" in text(app.success[0].value)
        link = app.code[-1].value
        assert "a=fast~0.8~100~0~1~5" in link and f"b={newest}" in link

    def test_broken_link_falls_back_with_a_warning(self, app):
        self.open(app, a="nonsense~1", b="7")
        assert "Cannot read the run" in text(app.warning[0].value)
        assert text(app.success[0].value).startswith("Choose A, light-distilled")

    @pytest.mark.parametrize(
        ("params", "words"),
        [
            ({"x": "1,2,3,4,5"}, "asks for 5 more runs"),
            ({"x": ",".join(str(i) for i in range(10_000))}, "asks for 10,000 more runs"),
            ({"tie": "-5"}, "tie band '-5'"),
            ({"tie": "1e9"}, "tie band '1e9'"),
            ({"w": "9,1,1"}, "weights '9,1,1'"),
            ({"a": str(2**80), "b": "1"}, "There is no run 1208925819614629174706176 in"),
            ({"a": "999999", "b": "1"}, "not in the history"),
        ],
    )  # fmt: skip
    def test_a_link_edited_by_hand_is_read_part_by_part(self, app, db_path, params, words):
        newest, older = self.seed(db_path)
        self.open(app, **({"a": str(newest), "b": str(older)} | params))
        warnings = " ".join(text(w.value) for w in app.warning)
        assert words in warnings, warnings
        assert app.slider(key="compare-tie").value in (2.0,)  # a bad part: its default
        assert len(app.multiselect(key="compare-extra").value) <= 4
        assert app.success  # a verdict is shown either way

    def test_invalid_hand_entry_is_an_error_not_a_traceback(self, app):
        self.open(app)
        app.number_input(key="compare-a-latency_ms").set_value(0.0).run()
        assert "Latency (ms) must be above 0" in text(app.error[0].value)

    def test_extra_runs_join_the_charts(self, app, db_path):
        newest, older = self.seed(db_path)
        self.open(app, a="fast~0.8~100~0~1~5", b=str(newest), x=str(older))
        spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
        domain = spec["encoding"]["color"]["scale"]["domain"]
        assert domain == ["A · fast", "B · distilbert", "C · bert"]
        assert app.query_params["x"] == str(older)

    def test_a_run_from_the_last_scored_batch(self, app):
        app.run()
        app.switch_page("pages/batch.py").run()
        data = (SHARED_DATA / "wandb_runs_export.csv").read_bytes()
        app.file_uploader(key="batch-upload").upload("w.csv", data, "text/csv").run()
        app.button(key="batch-score").click().run()
        app.switch_page("pages/compare.py").run()
        app.radio(key="compare-b-source").set_value("Last scored batch").run()
        assert not app.exception
        assert app.query_params["b"].startswith("bert-large~0.9404~67.67~2.38~1.162~13.12")
        assert "bert-large" in text(app.success[0].value)


class TestHistory:
    def open(self, app):
        app.run()
        app.switch_page("pages/history.py").run()
        assert not app.exception
        return app

    def metrics(self, app):
        return {m.label: m.value for m in app.metric}

    def test_empty_state_then_load_sample(self, app, db_path):
        self.open(app)
        assert "Nothing saved yet" in app.info[0].value
        app.button(key="history-load-sample").click().run()
        assert not app.exception
        assert self.metrics(app)["Runs"] == "420"
        with Store(db_path) as s:
            assert count(s) == 420 and recent(s, 1)["source"].iloc[0] == "sample"
        charts = app.get("vega_lite_chart")
        assert len(charts) == 4  # trend, two frontiers, best per model

    def test_a_download_larger_than_a_memory_turn_is_not_offered_but_explained(
        self, app, monkeypatch
    ):
        import mlprod.ui.history_files as files

        self.open(app)
        app.button(key="history-load-sample").click().run()
        assert {b.label for b in app.get("download_button")} >= {"Download CSV", "Download Parquet"}
        monkeypatch.setattr(files, "JOB_BYTES", 50_000)  # the sample: ~100 kB CSV, ~30 kB Parquet
        app.run()
        assert "Download CSV" not in {b.label for b in app.get("download_button")}
        assert "Download Parquet" in {b.label for b in app.get("download_button")}
        note = next(c.value for c in app.caption if c.value.startswith("Download CSV: the 420"))
        assert "would make a file of about 0.1 MB" in note and "mlprod.History()" in note

    def test_the_trend_says_which_models_it_leaves_out(self, app):
        self.open(app)
        app.button(key="history-load-sample").click().run()  # nine models
        note = next(c.value for c in app.caption if "The trend shows the 8 models" in c.value)
        # the sample's model with the fewest runs (25) is the one left out
        assert "not shown: llama-7b-lora." in note.replace("\\", "")
        app.multiselect(key="history-models").set_value(["llama-7b-lora", "tabnet"]).run()
        assert not [c for c in app.caption if "The trend shows" in c.value]

    def test_filters_drive_figures_and_table(self, app):
        self.open(app)
        app.button(key="history-load-sample").click().run()
        app.multiselect(key="history-models").set_value(["xgboost"]).run()
        runs = int(self.metrics(app)["Runs"])
        assert 0 < runs < 420 and self.metrics(app)["Models"] == "1"
        table = app.dataframe[0].value
        assert set(table["model_name"]) == {"xgboost"}
        app.text_input(key="history-text").input("no such thing anywhere").run()
        assert "No saved run matches" in text(app.warning[0].value)

    def test_questions_are_answered_and_starred(self, app):
        self.open(app)
        app.button(key="history-load-sample").click().run()
        app.number_input(key="history-budget").set_value(50.0)
        app.number_input(key="history-latency").set_value(5.0).run()
        answer = [text(m.value) for m in app.markdown if m.value.startswith("★")]
        assert any("xgboost" in a for a in answer)
        app.number_input(key="history-budget").set_value(1.0).run()
        assert any(text(m.value).startswith("No run costs at most $1") for m in app.markdown)

    def test_an_unnamed_calculator_run_is_named_by_its_date(self, app):
        app.run()
        app.button(key="calc-save").click().run()  # the prefilled run: no model, no run id
        self.open(app)
        answers = [text(m.value) for m in app.markdown if m.value.startswith("★")]
        assert answers and all("run of 20" in a and "UTC" in a for a in answers), answers
        assert not any("#1000000000" in a for a in answers)

    def test_a_tick_sent_from_a_table_the_page_has_since_redrawn_deletes_nothing(
        self, app, db_path
    ):
        """Ann ticks the newest run; Bob deletes it; Ann's page reruns by itself (its table
        now starts with the next run); then her Delete arrives from the table she still
        sees, with its tick on row 1. Under load this deleted the run that had moved up."""
        self.open(app)
        app.button(key="history-load-sample").click().run()
        with Store(db_path) as s:
            newest, second = recent(s, 2)["id"].tolist()
        app.session_state["history-table"] = {
            "selection": {"rows": [0], "columns": [], "cells": []}}  # fmt: skip
        app.run()
        assert app.button(key="history-delete").label == "Delete 1 selected"
        with Store(db_path) as s:
            s.soft_delete([newest], by="bob")
        st.cache_data.clear()
        app.run()  # the rerun that follow_writes starts
        assert "deleted by bob" in " ".join(text(w.value) for w in app.warning)
        # The click from the table drawn before that rerun: its tick on row 1.
        app.session_state["history-table"] = {
            "selection": {"rows": [0], "columns": [], "cells": []}}  # fmt: skip
        app.button(key="history-delete").click().run()
        assert not app.exception
        with Store(db_path) as s:
            gone = s.history_page(HistoryFilter(), deleted=True, page_size=10)["id"].tolist()
        assert gone == [newest]  # the run that moved up into row 1 is untouched
        assert second not in gone
        assert "deleted by bob" in " ".join(text(w.value) for w in app.warning)

    def test_the_deletion_log_says_who_deleted_and_restored_what(self, app, db_path):
        self.open(app)
        app.button(key="history-load-sample").click().run()
        with Store(db_path) as s:
            ids = recent(s, 2)["id"].tolist()
            s.soft_delete(ids, by="bob")
            s.restore(ids[:1], by="eve")
        st.cache_data.clear()  # as ui.written() does after a save on the page
        app.run()
        assert not [d for d in app.dataframe if "action" in d.value.columns]  # closed
        app.session_state["history-log-open"] = True  # the person opens the expander
        app.run()
        assert not app.exception
        logs = [d.value for d in app.dataframe if "action" in d.value.columns]
        assert len(logs) == 1
        log = logs[0]
        assert log[["action", "done_by"]].values.tolist() == [
            ["restore", "eve"], ["delete", "bob"], ["delete", "bob"]]  # fmt: skip
        assert log["model_name"].notna().all()

    def test_a_save_on_another_page_shows_up_at_once(self, app):
        self.open(app)
        app.button(key="history-load-sample").click().run()
        assert self.metrics(app)["Runs"] == "420"  # now cached
        app.switch_page("pages/calculator.py").run()
        app.button(key="calc-save").click().run()
        app.switch_page("pages/history.py").run()
        assert self.metrics(app)["Runs"] == "421"


class TestCostBuilders:
    def test_training_cost_from_gpu_hours(self, app, db_path):
        app.run()
        app.radio(key="calc-train-mode").set_value("From GPU hours").run()
        app.selectbox(key="calc-gpu").set_value("A100-80GB")
        app.number_input(key="calc-gpus").set_value(8.0)
        app.selectbox(key="calc-provider").set_value("AWS")
        app.button(key="calc-submit").click().run()
        assert not app.exception
        code = app.code[0].value
        assert "Training cost = 8 GPUs × 10 h × $5.12/GPU-h (AWS on-demand, 2026-10-01)" in code
        assert app.metric[0].value == format_ratio(0.9 / (8 * 10 * 5.12 + 200), 3)
        app.button(key="calc-save").click().run()
        row = saved_rows(db_path).iloc[0]
        assert (row.gpu_model, row.gpu_count, row.price_provider) == ("A100-80GB", 8, "AWS")
        assert row.training_cost == 8 * 10 * 5.12

    def test_spot_override_and_extra(self, app):
        app.run()
        app.radio(key="calc-train-mode").set_value("From GPU hours").run()
        app.selectbox(key="calc-gpu").set_value("T4")
        app.number_input(key="calc-gpus").set_value(2.0)
        app.number_input(key="calc-gpu-hours").set_value(5.0)
        app.number_input(key="calc-price-override").set_value(1.0)
        app.number_input(key="calc-extra-costs").set_value(10.0)
        app.button(key="calc-submit").click().run()
        assert "2 GPUs × 5 h × $1/GPU-h (your price) + $10 extra = $20" in app.code[0].value

    def test_inference_from_requests_and_tokens_in_euros(self, app):
        app.run()
        app.radio(key="calc-infer-mode").set_value("From tokens").run()
        app.selectbox(key="calc-currency").set_value("EUR")
        app.button(key="calc-submit").click().run()
        code = app.code[0].value
        assert "Inference cost = (50,000,000 tokens in × €0.5" in code and "= €40" in code
        assert "F1 per €1,000" in " ".join(c.value for c in app.caption)
        app.radio(key="calc-infer-mode").set_value("From requests").run()
        app.button(key="calc-submit").click().run()
        assert "2,000,000 requests/month × €0.1 per 1,000 × 1 month = €200" in app.code[0].value

    def test_zero_gpus_is_refused(self, app, db_path):
        app.run()
        app.radio(key="calc-train-mode").set_value("From GPU hours").run()
        app.number_input(key="calc-gpus").set_value(0.0)
        app.button(key="calc-submit").click().run()
        assert "GPU count must be above 0" in text(app.error[0].value)
        assert saved_rows(db_path).empty


def test_compare_shows_the_cost_assumptions_of_saved_runs(app, db_path):
    from mlprod.costs.gpus import training_cost

    built = training_cost("A100-80GB", 8, 10, provider="AWS")
    with Store(db_path) as s:
        for key, model in (("a", "gpu-model"), ("b", "typed-model")):
            extra = built.assumptions() if key == "a" else {}
            s.save_calculation(
                {"model_name": model, "f1": 0.9, "training_cost": 409.6, "inference_cost": 100.0,
                 "training_hours": 10.0, "latency_ms": 50.0, "cer": 0.9 / 509.6, "ter": 0.09,
                 "psr": 0.018, **extra},
                calc_key=key,
            )  # fmt: skip
    app.run()
    app.switch_page("pages/compare.py").run()
    assert not app.exception
    table = next(d.value for d in app.dataframe if "assumption" in d.value.columns)
    table = table.set_index("assumption")
    newest_first = table["A"]  # A is the newest model: the typed one, with no assumptions
    assert newest_first.eq("—").all()
    assert (table.loc["GPU", "B"], table.loc["Provider", "B"]) == ("A100-80GB", "AWS")
    assert table.loc["Price per GPU-hour", "B"] == "5.12"
    # The assumptions can be taken into a review deck too, as their own CSV.
    download = app.get("download_button")
    labels = [d.proto.label for d in download]
    assert "Download cost assumptions (CSV)" in labels


def test_a_bad_price_table_is_named_on_the_page(app, tmp_path, monkeypatch):
    bad = tmp_path / "prices.csv"
    bad.write_text(
        "provider,gpu_model,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour,as_of,source\n"
        "AWS,T4,cheap,,2026-10-01,x\n"
    )
    monkeypatch.setenv("MLPROD_GPU_PRICES", str(bad))
    app.run()
    assert not app.exception
    assert "prices.csv line 2: on-demand price 'cheap' is not a number" in text(app.error[0].value)
    assert app.metric[0].value == "0.00075"  # typed costs still work


def test_history_table_shows_the_cost_assumptions(app, db_path):
    from mlprod.costs.gpus import training_cost

    built = training_cost("T4", 2, 5, provider="AWS")
    with Store(db_path) as s:
        s.save_calculation(
            {"model_name": "gpu-priced", "f1": 0.9, "training_cost": built.total,
             "inference_cost": 1.0, "training_hours": 5.0, "latency_ms": 5.0,
             "cer": 0.9 / (built.total + 1), "ter": 0.18, "psr": 0.18, **built.assumptions()},
            calc_key="k",
        )  # fmt: skip
    app.run()
    app.switch_page("pages/history.py").run()
    assert not app.exception
    table = app.dataframe[0].value
    assert table.loc[0, "gpu_model"] == "T4" and table.loc[0, "price_provider"] == "AWS"


def test_history_says_when_currencies_are_mixed(app, db_path):
    with Store(db_path) as s:
        for key, currency in (("usd", "USD"), ("eur", "EUR")):
            s.save_calculation(
                {"model_name": key, "f1": 0.9, "training_cost": 100.0, "inference_cost": 0.0,
                 "training_hours": 1.0, "latency_ms": 1.0, "cer": 0.009, "ter": 0.9,
                 "psr": 0.9, "currency": currency},
                calc_key=key,
            )  # fmt: skip
    app.run()
    app.switch_page("pages/history.py").run()
    assert not app.exception
    assert "holds costs in EUR, USD" in text(app.warning[0].value)
    assert app.number_input(key="history-budget").label == "Budget (mixed currencies)"


def test_history_paging_and_a_narrower_filter(app):
    app.run()
    app.switch_page("pages/history.py").run()
    app.button(key="history-load-sample").click().run()
    first = app.dataframe[0].value["run_id"].tolist()
    app.number_input(key="history-page").set_value(9).run()
    last = app.dataframe[0].value["run_id"].tolist()
    assert len(first) == 50 and len(last) == 20 and not set(first) & set(last)
    app.multiselect(key="history-models").set_value(["vit-b16"]).run()  # one page only
    assert not app.exception
    assert app.number_input(key="history-page").value == 1
    assert set(app.dataframe[0].value["model_name"]) == {"vit-b16"}


class TestSignIn:
    """Sign-in is off without an [auth] section in secrets.toml, and required with one."""

    AUTH: ClassVar[dict] = {
        "auth": {
            "redirect_uri": "http://localhost:8501/oauth2callback",
            "cookie_secret": "x" * 32,
            "okta": {
                "client_id": "id",
                "client_secret": "secret",
                "server_metadata_url": "https://example.invalid/.well-known/openid-configuration",
            },
        }
    }

    def test_without_auth_section_the_sidebar_name_is_the_author(self, app):
        app.run()
        assert app.sidebar.text_input(key="sidebar-author").label == "Your name"
        assert not [b for b in app.button if b.key == "sign-in"]

    def test_a_save_with_no_name_is_refused_and_says_where_to_type_it(self, app, db_path):
        app.session_state["sidebar-author"] = ""
        app.run()
        app.button(key="calc-save").click().run()
        assert "type it in “Your name” in the sidebar" in text(app.error[0].value)
        assert "--author" in text(app.error[0].value)
        assert saved_rows(db_path).empty
        app.sidebar.text_input(key="sidebar-author").input("Ada").run()
        app.button(key="calc-save").click().run()
        assert saved_rows(db_path).iloc[0].author == "Ada"

    def test_with_auth_section_nothing_shows_before_sign_in(self, app, db_path):
        app.secrets = dict(self.AUTH)
        app.user = {"is_logged_in": False}
        app.run()
        assert not app.exception
        assert app.button(key="sign-in").label == "Sign in"
        assert not app.metric and not app.number_input  # no calculator, no history
        app.switch_page("pages/history.py").run()
        assert not app.dataframe and app.button(key="sign-in")

    def test_signed_in_user_is_the_author(self, app, db_path):
        app.secrets = {**self.AUTH, "mlprod": {"access": {"editors": {"@example.com": ["*"]}}}}
        app.user = {"is_logged_in": True, "email": "ada@example.com", "name": "Ada L."}
        app.run()
        assert not app.exception
        assert not [t for t in app.sidebar.text_input if t.key == "sidebar-author"]
        assert "ada@example.com" in text(" ".join(c.value for c in app.sidebar.caption))
        app.button(key="calc-save").click().run()
        assert "Saved" in text(app.success[0].value)
        assert saved_rows(db_path).iloc[0].author == "ada@example.com"

    def test_with_no_rules_a_signed_in_person_is_a_viewer_and_told_how_to_grant(self, app, db_path):
        app.secrets = dict(self.AUTH)
        app.user = {"is_logged_in": True, "email": "eve@gmail.example", "name": "Eve"}
        app.run()
        assert not app.exception
        assert "(viewer)" in text(" ".join(c.value for c in app.sidebar.caption))
        assert "[mlprod.access]" in text(" ".join(c.value for c in app.sidebar.caption))
        assert not [b for b in app.button if b.key == "calc-save"]  # nothing to press
        assert "saving needs the editor role" in text(" ".join(c.value for c in app.caption))
        app.switch_page("pages/history.py").run()
        assert not [b for b in app.button if b.key in ("history-load-sample", "history-delete")]

    def test_someone_the_rules_do_not_name_gets_nothing(self, app, db_path):
        app.secrets = {**self.AUTH, "mlprod": {"access": {"viewers": ["@team.example"]}}}
        app.user = {"is_logged_in": True, "email": "mallory@gmail.example", "name": "M"}
        app.run()
        assert "has no access to this dashboard" in text(app.error[0].value)
        assert not app.metric and not app.number_input  # no calculator
        app.switch_page("pages/history.py").run()
        assert not app.dataframe and not app.metric


class TestGuide:
    def test_the_guide_renders_the_formulas_and_answers_the_faq(self, app):
        app.run()
        app.switch_page("pages/guide.py").run()
        assert not app.exception
        latex = " ".join(m.value for m in app.latex)
        assert all(name in latex for name in (r"\mathrm{CER}", r"\mathrm{TER}", r"\mathrm{PSR}"))
        shown = " ".join(text(m.value) for m in app.markdown)
        assert "CER = 0.90 / $1,200 = **0.00075**" in shown  # computed by the calculator's code
        assert "**0.09**" in shown and "**0.018**" in shown
        faq = [e.label for e in app.expander]
        for question in (
            "Why F1 and not accuracy?",
            "What is a good PSR?",
            "How do we cut training cost?",
            "LLM token costs: API or our own GPUs?",
        ):
            assert question in faq  # fmt: skip

    def test_the_calculators_advice_links_to_the_guide(self, app):
        app.run()
        links = app.get("page_link")
        assert any(link.proto.page.endswith("pages/guide.py") or "guide" in link.proto.page
                   for link in links)  # fmt: skip


def test_history_charts_are_drawn_on_a_canvas(app):
    """Its four charts (~2,000 dots on each frontier) are drawn on a canvas, not as one SVG
    element per mark: the browser drew the page ~0.15 s faster."""
    app.run()
    app.switch_page("pages/history.py").run()
    app.button(key="history-load-sample").click().run()
    specs = [json.loads(c.proto.spec) for c in app.get("vega_lite_chart")]
    assert len(specs) == 4
    assert [s["usermeta"]["embedOptions"]["renderer"] for s in specs] == ["canvas"] * 4


def test_history_rebuilds_only_the_charts_that_change(app, monkeypatch):
    """Another page of the table, or a budget that names the same best run, builds no chart
    again and asks the store for that page only; a budget naming another run gives the two
    frontier charts new data (their highlight), never the trend or the best runs, and no
    chart is built by Altair again: its spec is kept, only its data changes."""
    import mlprod.ui.history_table as history_table
    from mlprod.store import Store

    built: list[str] = []  # a chart's data made again
    altair: list[str] = []  # a chart's spec built again by Altair
    for names, log in ((("trend_frame", "best_frame", "frontier_dots"), built),
                       (("trend_chart", "best_chart", "frontier_layers"), altair)):  # fmt: skip
        for name in names:
            real = getattr(history_table, name)
            monkeypatch.setattr(history_table, name,
                                lambda *a, _real=real, _name=name, _log=log, **k: _log.append(_name)
                                or _real(*a, **k))  # fmt: skip
    overviews: list[int] = []
    real_overview = Store.overview

    def overview(self, *args, **kwargs):
        overviews.append(1)
        return real_overview(self, *args, **kwargs)

    monkeypatch.setattr(Store, "overview", overview)
    app.run()
    app.switch_page("pages/history.py").run()
    app.button(key="history-load-sample").click().run()
    assert sorted(built) == ["best_frame", "frontier_dots", "frontier_dots", "trend_frame"]
    assert sorted(altair) == ["best_chart", "frontier_layers", "frontier_layers", "trend_chart"]
    built.clear()
    altair.clear()
    overviews.clear()
    before = app.dataframe[0].value["run_id"].tolist()
    app.number_input(key="history-page").set_value(2).run()
    assert app.dataframe[0].value["run_id"].tolist() != before and not app.exception
    assert built == [] and overviews == []  # the page's rows only
    answer = app.markdown  # the budget question's answer, as shown
    shown = [m.value for m in answer if m.value.startswith("★")]
    app.number_input(key="history-budget").set_value(1000.5).run()  # the same best run
    assert built == [] and [m.value for m in app.markdown if m.value.startswith("★")] == shown
    app.number_input(key="history-budget").set_value(50.0).run()  # another (or no) run
    assert sorted(built) == ["frontier_dots", "frontier_dots"] and altair == []
    assert not app.exception
