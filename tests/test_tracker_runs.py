"""Runs as trackers log them: no cost columns, GPU names as NVML writes them, typed Parquet,
and scored files written in the format their name says."""

from __future__ import annotations

import gzip
import io
import json
from datetime import datetime

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlprod.cli import main
from mlprod.costs.gpus import PriceTable, default_prices
from mlprod.errors import BadFile, CostTableError
from mlprod.ingest import inspect, resolve_mapping, score_file
from mlprod.ingest.defaults import parse_set
from mlprod.store import Store
from tests.conftest import batch_page_with_runs, expected_cer, recent, search_runs_frame


class TestScenario:
    def test_runs_without_costs_score_with_a_scenario(self, tmp_path):
        frame = search_runs_frame()
        path = tmp_path / "runs.csv"
        frame.to_csv(path, index=False)
        inspection = inspect(path)
        with pytest.raises(BadFile, match=r"--set inference_cost=250"):
            resolve_mapping(inspection)
        scored = score_file(inspection, scenario=parse_set(["inference_cost=250"]))
        rows = scored.table.to_pylist()
        assert [r["status"] for r in rows] == ["ok"] * 4, [r["error"] for r in rows]
        assert [r["cer"] for r in rows] == pytest.approx(expected_cer(frame, 250), rel=1e-9)
        assert rows[0]["gpu_model"] == "A100-80GB" and rows[1]["gpu_model"] == "T4"

    def test_a_cell_of_its_own_wins_and_empty_cells_are_filled(self, tmp_path):
        path = tmp_path / "mixed.csv"
        path.write_text(
            "model,f1,training_cost,inference_cost,training_hours,latency_ms,gpu,gpus\n"
            "a,0.9,1000,200,10,50,,\n"  # logs its costs: kept as they are
            "b,0.9,,,10,50,T4,2\n"  # no costs: priced from its GPUs, inference from --set
        )
        scored = score_file(inspect(path), scenario={"inference_cost": 100.0})
        a, b = scored.table.to_pylist()
        assert (a["status"], a["training_cost"], a["inference_cost"]) == ("ok", 1000, 200)
        assert a["gpu_model"] is None  # no GPU assumptions for a typed cost
        price = default_prices().price("T4").on_demand
        assert (b["status"], b["inference_cost"]) == ("ok", 100.0)
        assert b["training_cost"] == pytest.approx(2 * 10 * price)
        assert (b["gpu_model"], b["price_kind"]) == ("T4", "on-demand")

    def test_assumptions_only_where_the_scenario_gave_the_cost(self, tmp_path):
        path = tmp_path / "mixed.csv"
        path.write_text("model,f1,training_cost,inference_cost,training_hours,latency_ms\n"
                        "a,0.9,1000,200,10,50\nb,0.9,1000,,10,50\n")  # fmt: skip
        typed = score_file(inspect(path), scenario={"inference_cost": 70.0}).table.to_pylist()
        assert [(r["inference_cost"], r["inference_mode"]) for r in typed] == [
            (200.0, None), (70.0, "batch value")]  # fmt: skip
        built = score_file(inspect(path), scenario=parse_set(
            ["requests_per_month=1000", "cost_per_1k_requests=2"])).table.to_pylist()  # fmt: skip
        assert [(r["inference_cost"], r["inference_mode"], r["requests_per_month"])
                for r in built] == [(200.0, None, None), (2.0, "requests", 1000.0)]  # fmt: skip

    def test_inference_from_requests_and_own_gpu_price(self, tmp_path):
        path = tmp_path / "runs.csv"
        path.write_text("model,f1,training_hours,latency_ms,gpu,gpus\nm,0.9,10,50,A100,8\n")
        given = parse_set(["requests_per_month=2000000", "cost_per_1k_requests=0.1",
                           "months=3", "price_per_gpu_hour=2.5", "extra_costs=50"])  # fmt: skip
        (row,) = score_file(inspect(path), scenario=given).table.to_pylist()
        assert row["status"] == "ok", row["error"]
        assert row["inference_cost"] == pytest.approx(600.0)
        assert row["training_cost"] == pytest.approx(8 * 10 * 2.5 + 50)
        assert (row["price_kind"], row["inference_mode"], row["months"]) == (
            "override",
            "requests",
            3.0,
        )

    def test_the_scenario_is_stored_as_each_runs_cost_assumptions(self, tmp_path, capsys):
        path = tmp_path / "runs.csv"
        search_runs_frame().to_csv(path, index=False)
        db = tmp_path / "h.duckdb"
        code = main(
            [
                "score",
                str(path),
                "--save",
                "--db",
                str(db),
                "-o",
                "-",
                "--set",
                "requests_per_month=1000000",
                "--set",
                "cost_per_1k_requests=0.2",
            ]
        )
        assert code == 0
        err = capsys.readouterr().err  # the CSV went to stdout, the summary to stderr
        with Store(db) as s:
            rows = recent(s)
        assert len(rows) == 4
        assert set(rows["inference_mode"]) == {"requests"}
        assert set(rows["requests_per_month"]) == {1_000_000.0}
        assert set(rows["inference_cost"]) == {200.0}
        assert set(rows["gpu_model"]) == {"A100-80GB", "T4", "H100-80GB"}
        assert "Inference cost from --set" in err

    @pytest.mark.parametrize(
        ("pair", "words"),
        [("inference_cost", "FIELD=VALUE"), ("color=red", "cannot set 'color'"),
         ("inference_cost=lots", "not a number")],
    )  # fmt: skip
    def test_bad_set_is_a_clear_error(self, pair, words):
        with pytest.raises(BadFile, match=words):
            parse_set([pair])

    def test_a_half_given_builder_is_named(self, tmp_path, capsys):
        path = tmp_path / "runs.csv"
        path.write_text("model,f1,training_cost,training_hours,latency_ms\nm,0.9,10,1,5\n")
        assert main(["score", str(path), "--set", "requests_per_month=100", "-o", "-"]) == 2
        assert "Cost per 1,000 requests" in capsys.readouterr().err


class TestGpuNames:
    @pytest.mark.parametrize(
        ("logged", "model"),
        [("NVIDIA A100-SXM4-80GB", "A100-80GB"), ("NVIDIA A100 80GB PCIe", "A100-80GB"),
         ("A100", "A100-80GB"), ("NVIDIA H100 80GB HBM3", "H100-80GB"),
         ("H100 SXM", "H100-80GB"), ("Tesla T4", "T4"), ("NVIDIA L4", "L4"),
         ("NVIDIA A10G", "A10G"), ("Tesla V100-SXM2-16GB", "V100"), ("a100-40gb", "A100-40GB")],
    )  # fmt: skip
    def test_names_as_nvml_and_clouds_write_them(self, logged, model):
        assert default_prices().canonical(logged) == model

    def test_an_unknown_gpu_names_the_closest(self, tmp_path):
        path = tmp_path / "runs.csv"
        path.write_text("f1,inference_cost,training_hours,latency_ms,gpu,gpus\n"
                        "0.9,1,1,1,NVIDIA A100-SXM4-8GB,1\n")  # fmt: skip
        (row,) = score_file(inspect(path)).table.to_pylist()
        assert row["status"] == "error"
        assert "closest: A100-80GB" in row["error"]
        # how to price it, in the command's words (not a server file the user cannot edit)
        assert '--set "price_per_gpu_hour[NVIDIA A100-SXM4-8GB]=PRICE"' in row["error"]

    def test_aliases_are_data_the_team_edits(self, tmp_path):
        aliases = tmp_path / "aliases.csv"
        aliases.write_text("alias,gpu_model\nOur Big Card,H100-80GB\n")
        table = PriceTable.load(aliases=aliases)
        assert table.canonical("our-big-card") == "H100-80GB"
        aliases.write_text("alias,gpu_model\nX,X9000\n")
        with pytest.raises(CostTableError, match="does not list"):
            PriceTable.load(aliases=aliases)

    def test_a_price_table_of_our_own_keeps_the_shipped_aliases_it_can_use(self, tmp_path):
        own = tmp_path / "prices.csv"
        own.write_text(
            "provider,gpu_model,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour,as_of,source\n"
            "OnPrem,A100-80GB,0.5,,2026-11-01,our cluster\n"
        )
        table = PriceTable.load(own)  # the shipped aliases also name H100s, T4s, ...
        assert table.canonical("NVIDIA A100-SXM4-80GB") == "A100-80GB"
        assert table.canonical("NVIDIA H100 80GB HBM3") is None
        ours = tmp_path / "aliases.csv"
        ours.write_text("alias,gpu_model\nOur Big Card,H100-80GB\n")
        with pytest.raises(CostTableError, match="does not list"):  # our own aliases: checked
            PriceTable.load(own, aliases=ours)


class TestTypedParquet:
    def test_a_search_runs_frame_scores_the_same_from_parquet_and_csv(self, tmp_path):
        frame = search_runs_frame()
        frame.to_csv(tmp_path / "runs.csv", index=False)
        frame.to_parquet(tmp_path / "runs.parquet")  # tz-aware timestamps
        given = {"inference_cost": 250.0}
        from_csv = score_file(inspect(tmp_path / "runs.csv"), scenario=given).table
        from_parquet = score_file(inspect(tmp_path / "runs.parquet"), scenario=given).table
        columns = ["line", "status", "run_id", "f1", "training_cost", "training_hours", "cer"]
        assert from_parquet.select(columns).to_pylist() == from_csv.select(columns).to_pylist()

    def test_typed_columns(self, tmp_path):
        path = tmp_path / "typed.parquet"
        n = 3
        table = pa.table({
            "model_name": pa.array(["a", "b", "a"]).dictionary_encode(),
            "f1": pa.array([True, False, True]),  # a boolean is no F1
            "precision": pa.array([0.9, 0.8, 0.7]),
            "training_cost": pa.array([1000, 2000, 3000], pa.int64()),
            "inference_cost": pa.array(["200.5", "100", "1"], pa.string()).cast(
                pa.decimal128(10, 2)),
            "training_hours": pa.array([10.0, 5.0, 1.0]),
            "latency_ms": pa.array([50, 20, 10], pa.int32()),
            "created_at": pa.array([datetime(2026, 1, 1, 12)] * n, pa.timestamp("ns")),
            "notes": pa.nulls(n),
        })  # fmt: skip
        pq.write_table(table, path)
        rows = score_file(inspect(path)).table.to_pylist()
        assert all(r["status"] == "error" for r in rows)
        assert rows[0]["error"] == "F1 score is true/false, not a number."
        typed = table.drop_columns(["f1"]).append_column("f1", pa.array([0.9, 0.8, 0.95]))
        pq.write_table(typed, path)
        rows = score_file(inspect(path)).table.to_pylist()
        assert [r["status"] for r in rows] == ["ok"] * 3, [r["error"] for r in rows]
        assert rows[0]["inference_cost"] == 200.5 and rows[2]["model_name"] == "a"
        assert rows[0]["created_at"] == datetime(2026, 1, 1, 12)
        assert rows[0]["cer"] == pytest.approx(0.9 / 1200.5)

    def test_a_date_column_and_a_typed_duration(self, tmp_path):
        path = tmp_path / "runs.parquet"
        pq.write_table(pa.table({
            "f1": [0.9], "training_cost": [1.0], "inference_cost": [1.0], "latency_ms": [5.0],
            "training_hours": pa.array([7200], pa.duration("s")),
            "created_at": pa.array([datetime(2026, 3, 1).date()], pa.date32()),
        }), path)  # fmt: skip
        (row,) = score_file(inspect(path)).table.to_pylist()
        assert (row["status"], row["training_hours"]) == ("ok", 2.0)
        assert row["created_at"] == datetime(2026, 3, 1)


class TestOutputFormats:
    @pytest.fixture
    def runs(self, tmp_path):
        path = tmp_path / "runs.csv"
        path.write_text("model_name,f1,training_cost,inference_cost,training_hours,latency_ms\n"
                        "bert,0.9,1000,200,10,50\nbad,90,1,1,1,1\n")  # fmt: skip
        return path

    def test_parquet_gzip_csv_and_csv_by_name(self, runs, tmp_path):
        for name in ("out.parquet", "out.csv.gz", "out.csv"):
            assert main(["score", str(runs), "-o", str(tmp_path / name)]) == 1
        parquet = pq.read_table(tmp_path / "out.parquet")
        assert parquet.column("cer").to_pylist()[0] == 0.00075
        assert pa.types.is_floating(parquet.schema.field("cer").type)
        with gzip.open(tmp_path / "out.csv.gz", "rb") as fh:
            from_gzip = pacsv.read_csv(io.BytesIO(fh.read()))
        plain = pacsv.read_csv(tmp_path / "out.csv")
        assert from_gzip.equals(plain) and plain.num_rows == 2
        assert from_gzip.column("status").to_pylist() == ["ok", "error"]

    def test_json_report_says_where_each_field_came_from(self, runs, tmp_path, capsys):
        main(["score", str(runs), "-o", str(tmp_path / "o.csv"), "--json"])
        report = json.loads(capsys.readouterr().out)
        assert "F1 score from 'f1'" in report["columns"]
        assert report["scenario"] == {}


class TestBatchPage:
    """The batch page offers the same scenario as ``--set``."""

    def open(self, app, tmp_path):
        return batch_page_with_runs(app, tmp_path)

    def test_a_missing_cost_is_given_once_for_every_run(self, app, tmp_path, db_path):
        self.open(app, tmp_path)
        warning = " ".join(w.value for w in app.warning)
        assert "give one value for every run to: Inference cost" in warning
        assert not [b for b in app.button if b.key == "batch-score"]
        assert app.radio(key="batch-scenario-inference-from").value == "One value"
        app.number_input(key="batch-scenario-inference_cost").set_value(120.0).run()
        captions = " ".join(c.value for c in app.caption).replace("\\", "")
        assert "Inference cost from the values for every run" in captions
        app.button(key="batch-score").click().run()
        metrics = {m.label: m.value for m in app.metric}
        assert (metrics["Rows"], metrics["Scored"], metrics["With errors"]) == ("4", "4", "0")
        app.button(key="batch-save").click().run()
        with Store(db_path) as s:
            rows = recent(s)
        assert set(rows["inference_cost"]) == {120.0}
        assert sorted(rows["cer"]) == pytest.approx(sorted(expected_cer(search_runs_frame(),
                                                                        120)))  # fmt: skip

    def test_requests_per_month_build_the_inference_cost(self, app, tmp_path, db_path):
        self.open(app, tmp_path)
        app.radio(key="batch-scenario-inference-from").set_value("From requests").run()
        assert "Requests per month is missing" in " ".join(w.value for w in app.warning)
        app.number_input(key="batch-scenario-requests_per_month").set_value(1e6)
        app.number_input(key="batch-scenario-cost_per_1k_requests").set_value(0.2).run()
        app.button(key="batch-score").click().run()
        app.button(key="batch-save").click().run()
        assert not app.exception
        with Store(db_path) as s:
            rows = recent(s)
        assert set(rows["inference_cost"]) == {200.0}
        assert set(rows["inference_mode"]) == {"requests"}
        # remembered for the session: back from another page with the next file, the
        # scenario is still there
        app.switch_page("pages/calculator.py").run()
        self.open(app, tmp_path)
        assert app.radio(key="batch-scenario-inference-from").value == "From requests"
        assert app.number_input(key="batch-scenario-cost_per_1k_requests").value == 0.2
        assert not [w for w in app.warning if "Choose a column" in w.value]
