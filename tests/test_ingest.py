"""The importer against real exports, awkward values and broken files."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlprod.errors import BadFile
from mlprod.ingest import cells as cells_module
from mlprod.ingest import inspect, readers, resolve_mapping, score_file, scored_batches
from mlprod.saving import save_batch
from tests.conftest import recent

# Real exports made by MLflow and W&B (copied from the team's shared/data; see README there).
SHARED = Path(__file__).resolve().parent / "data"

CANONICAL = "model_name,f1,training_cost,inference_cost,training_hours,latency_ms\n"


def write(tmp_path: Path, text: str | bytes, name: str = "runs.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def score_text(tmp_path, text, **kwargs):
    return score_file(inspect(write(tmp_path, text, **kwargs)))


def expected_rows(path: Path, columns: dict[str, str], hours=None):
    """Ratios computed independently with the csv module and plain Python floats."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            f1, tc, ic, lat = (float(row[columns[k]]) for k in ("f1", "tc", "ic", "lat"))
            h = hours(row) if hours else float(row[columns["h"]])
        except ValueError:
            out.append((line, None))
            continue
        if lat <= 0 or h <= 0 or tc + ic <= 0:
            out.append((line, None))
        else:
            out.append((line, (f1 / (tc + ic), f1 / h, f1 / lat)))
    return out


def assert_scored_like(scored, expected):
    table = scored.table.to_pylist()
    assert len(table) == len(expected)
    for row, (line, ratios) in zip(table, expected, strict=True):
        assert row["line"] == line
        if ratios is None:
            assert row["status"] == "error" and row["error"]
        else:
            assert row["status"] == "ok", row
            assert (row["cer"], row["ter"], row["psr"]) == pytest.approx(ratios, rel=1e-11)


class TestRealExports:
    def test_mlflow_search_runs(self):
        path = SHARED / "mlflow_search_runs.csv"
        inspection = inspect(path)
        assert inspection.format == "mlflow"
        scored = score_file(inspection)
        cols = {"f1": "metrics.f1", "tc": "metrics.training_cost", "ic": "metrics.inference_cost",
                "h": "metrics.training_hours", "lat": "metrics.latency_ms"}  # fmt: skip
        assert_scored_like(scored, expected_rows(path, cols))
        first = scored.table.slice(0, 1).to_pylist()[0]
        assert first["run_name"] == "bert-large-299" and first["model_name"] == "bert-large"
        assert first["run_id"] == "2bfe61c92d93403891055f06750ebdae"
        assert str(first["created_at"]) == "2026-10-04 01:27:31.120000"
        assert scored.summary.errors == 8

    def test_mlflow_ui_download(self):
        path = SHARED / "mlflow_ui_download.csv"
        inspection = inspect(path)
        assert inspection.format == "mlflow-ui"
        cols = {"f1": "f1", "tc": "training_cost", "ic": "inference_cost", "h": "training_hours",
                "lat": "latency_ms"}  # fmt: skip
        assert_scored_like(score_file(inspection), expected_rows(path, cols))

    def test_wandb_export(self):
        path = SHARED / "wandb_runs_export.csv"
        inspection = inspect(path)
        assert inspection.format == "wandb"
        scored = score_file(inspection)
        cols = {"f1": "f1", "tc": "training_cost", "ic": "inference_cost", "h": "training_hours",
                "lat": "latency_ms"}  # fmt: skip
        assert_scored_like(scored, expected_rows(path, cols))
        first = scored.table.slice(0, 1).to_pylist()[0]
        assert first["tags"] == "prod" and first["notes"] is None  # "-" is W&B's empty note

    def test_three_exports_agree(self):
        names = ("mlflow_search_runs.csv", "mlflow_ui_download.csv", "wandb_runs_export.csv")
        scored = [score_file(inspect(SHARED / name)).table for name in names]
        for other in scored[1:]:
            assert other["cer"].to_pylist()[:50] == pytest.approx(
                scored[0]["cer"].to_pylist()[:50], nan_ok=True
            )


class TestTrainingHoursFromTrackerFields:
    def drop_column(self, src: Path, dst: Path, column: str) -> Path:
        with src.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        with dst.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, [c for c in rows[0] if c != column], quoting=csv.QUOTE_ALL)
            writer.writeheader()
            writer.writerows({k: v for k, v in r.items() if k != column} for r in rows)
        return dst

    def test_mlflow_ui_duration(self, tmp_path):
        path = self.drop_column(SHARED / "mlflow_ui_download.csv", tmp_path / "ui.csv",
                                "training_hours")  # fmt: skip
        units = {"ms": 1 / 3_600_000, "s": 1 / 3600, "min": 1 / 60, "h": 1, "d": 24}

        def hours(row):
            value = row["Duration"]
            unit = next(u for u in ("ms", "min", "s", "h", "d") if value.endswith(u))
            return float(value[: -len(unit)]) * units[unit]

        cols = {"f1": "f1", "tc": "training_cost", "ic": "inference_cost", "lat": "latency_ms"}
        assert_scored_like(score_file(inspect(path)), expected_rows(path, cols, hours))

    def test_wandb_runtime_seconds(self, tmp_path):
        path = self.drop_column(SHARED / "wandb_runs_export.csv", tmp_path / "w.csv",
                                "training_hours")  # fmt: skip
        cols = {"f1": "f1", "tc": "training_cost", "ic": "inference_cost", "lat": "latency_ms"}
        expected = expected_rows(path, cols, lambda r: float(r["Runtime"]) / 3600)
        assert_scored_like(score_file(inspect(path)), expected)

    def test_mlflow_end_minus_start(self, tmp_path):
        path = self.drop_column(SHARED / "mlflow_search_runs.csv", tmp_path / "m.csv",
                                "metrics.training_hours")  # fmt: skip
        from datetime import datetime

        def hours(row):
            start, end = (datetime.fromisoformat(row[c]) for c in ("start_time", "end_time"))
            return (end - start).total_seconds() / 3600

        cols = {"f1": "metrics.f1", "tc": "metrics.training_cost",
                "ic": "metrics.inference_cost", "lat": "metrics.latency_ms"}  # fmt: skip
        assert_scored_like(score_file(inspect(path)), expected_rows(path, cols, hours))


class TestHeaders:
    def test_synonyms_case_units_and_dashes(self, tmp_path):
        text = "Model,F1 Score,Training-Cost [USD],inference cost,train_hours,Latency (ms)\n"
        scored = score_text(tmp_path, text + "bert,0.9,1000,200,10,50\n")
        assert scored.table["cer"].to_pylist() == [0.00075]
        assert scored.table["model_name"].to_pylist() == ["bert"]

    def test_f1_from_precision_and_recall(self, tmp_path):
        text = "precision,recall,training_cost,inference_cost,training_hours,latency\n"
        scored = score_text(tmp_path, text + "0.9,0.9,1000,200,10,50\n1.5,0.9,1,1,1,1\n")
        assert scored.table["ter"].to_pylist()[0] == 0.09
        assert "Precision must be between 0 and 1" in scored.table["error"][1].as_py()

    def test_f1_from_counts(self, tmp_path):
        text = "tp,fp,fn,training_cost,inference_cost,training_hours,latency_ms\n"
        scored = score_text(tmp_path, text + "90,10,10,1000,200,10,50\n")
        assert scored.table["psr"].to_pylist() == [0.018]

    def test_map_overrides_detection(self, tmp_path):
        text = "f1,val_f1_best,training_cost,inference_cost,training_hours,latency_ms\n"
        inspection = inspect(write(tmp_path, text + "0.5,0.9,1000,200,10,50\n"))
        scored = score_file(inspection, {"f1": "val_f1_best"})
        assert scored.table["f1"].to_pylist() == [0.9]

    def test_map_to_unknown_column_names_columns(self, tmp_path):
        inspection = inspect(write(tmp_path, CANONICAL + "m,0.9,1000,200,10,50\n"))
        with pytest.raises(BadFile, match=r"no column 'nope'.*Columns: model_name, f1"):
            resolve_mapping(inspection, {"f1": "nope"})

    def test_missing_required_field_names_it_and_the_columns(self, tmp_path):
        text = "model,f1,training_cost,training_hours,latency_ms\nm,0.9,1,1,1\n"
        with pytest.raises(BadFile) as caught:
            score_text(tmp_path, text)
        message = str(caught.value)
        assert "Inference cost (inference_cost)" in message
        assert "Columns seen: model, f1, training_cost, training_hours, latency_ms" in message


class TestValues:
    @pytest.mark.parametrize(
        ("cells", "words"),
        [
            ("90,1000,200,10,50", "did you mean 0.90?"),
            ("0.9,NA,200,10,50", "Training cost is 'NA': give a number."),
            ("0.9,,200,10,50", "Training cost is empty."),
            ("0.9,1000,200,10,inf", "Latency (ms) is infinite"),
            ("nan,1000,200,10,50", "F1 score is missing or not a number"),
            ("0.9,1000,200,ten,50", "Training time (hours) 'ten' is not a number."),
            ("0.9,1000,-5,10,50", "Inference cost cannot be negative"),
            ("0.9,0,0,10,50", "Total cost (training + inference) is 0"),
            ("0.9,1000,200,0,50", "Training time (hours) must be above 0"),
        ],
    )
    def test_bad_value_gives_row_error_and_good_rows_still_score(self, tmp_path, cells, words):
        text = CANONICAL + f"good,0.9,1000,200,10,50\nbad,{cells}\nalso-good,0.9,1000,200,10,50\n"
        scored = score_text(tmp_path, text)
        rows = scored.table.to_pylist()
        assert [r["status"] for r in rows] == ["ok", "error", "ok"]
        assert words in rows[1]["error"]
        assert rows[1]["line"] == 3
        assert math.isnan(rows[1]["cer"])
        assert rows[0]["cer"] == rows[2]["cer"] == 0.00075

    def test_thousands_separators(self, tmp_path):
        scored = score_text(tmp_path, CANONICAL + 'm,0.9,"1,000.00",200,10,50\n')
        assert scored.table["cer"].to_pylist() == [0.00075]
        assert scored.table["training_cost"].to_pylist() == [1000.0]

    def test_decimal_commas_from_a_european_spreadsheet(self, tmp_path):
        # Excel in much of Europe: semicolons, decimal commas, dots between thousands.
        text = CANONICAL.replace(",", ";") + (
            "résnet;0,9;1.000;200;10;50\nbert;0,85;1.234,5;10,5;0,5;12,25\nvit;NA;1;1;1;1\n"
        )
        inspection = inspect(write(tmp_path, text.encode("cp1252")))
        assert inspection.facts.decimal == ","
        assert any("decimal comma" in note for note in inspection.notes)
        rows = score_file(inspection).table.to_pylist()
        assert rows[0]["training_cost"] == 1000.0 and rows[0]["cer"] == 0.00075
        assert (rows[1]["f1"], rows[1]["training_cost"], rows[1]["inference_cost"]) == (
            0.85,
            1234.5,
            10.5,
        )
        assert rows[1]["ter"] == pytest.approx(0.85 / 0.5) and rows[1]["psr"] == pytest.approx(
            0.85 / 12.25
        )
        assert rows[1]["cer"] == pytest.approx(0.85 / 1245.0)
        assert rows[2]["status"] == "error" and "F1 score is 'NA'" in rows[2]["error"]

    @pytest.mark.parametrize("stream", [False, True])
    def test_a_thousands_dot_alone_in_a_decimal_comma_file_is_a_thousand(self, tmp_path, stream):
        # "1.000" parses as a number (1.0) by itself: the file's decimal comma decides.
        text = CANONICAL.replace(",", ";") + "m;0,9;1.000;200;10;50\n"
        inspection = inspect(write(tmp_path, text))
        rows = pa.concat_tables(
            scored_batches(inspection, resolve_mapping(inspection), stream=stream)
        ).to_pylist()
        assert rows[0]["training_cost"] == 1000.0 and rows[0]["cer"] == 0.00075

    def test_a_decimal_comma_among_decimal_points_is_an_error_that_says_so(self, tmp_path):
        text = CANONICAL + 'a,"0,9",1.000,200,10,50\nb,0.8,1000,200,10,50\n'
        inspection = inspect(write(tmp_path, text))
        assert inspection.facts.decimal == "."
        rows = score_file(inspection).table.to_pylist()
        assert rows[0]["status"] == "error"
        assert "'0,9' has a decimal comma" in rows[0]["error"] and "write 0.9" in rows[0]["error"]
        assert rows[1]["cer"] == pytest.approx(0.8 / 1200)

    @pytest.mark.parametrize(
        ("cells", "mark"),
        [
            (["1,234", "5,000"], "."),  # thousands groups prove nothing: points stay
            (["0,900", "12,5"], ","),  # "0,900" cannot be a thousands group
            (["1.000", "2.500,75"], ","),
            (["0,9", "0.85"], "."),  # mixed: points win, the commas become row errors
            (["0,9", "NA", "", "nan"], ","),  # missing cells do not make a column text
        ],
    )
    def test_decimal_mark_detection(self, cells, mark):
        batch = pa.record_batch({"f1": cells, "tags": ["1,5", "a"] * (len(cells) // 2)})
        assert cells_module.decimal_mark(batch) == mark

    def test_mlflow_ui_escapes_are_undone(self, tmp_path):
        text = '"Name","f1","training_cost","inference_cost","training_hours","latency_ms"\n'
        text += '"\'=cmd","0.9","\'-5","200","10","50"\n'
        row = score_text(tmp_path, text).table.to_pylist()[0]
        assert row["run_name"] == "=cmd"
        assert "Training cost cannot be negative — got -5" in row["error"]

    def test_no_silent_nan_ratio(self, tmp_path):
        rng = np.random.default_rng(3)
        cells = ["", "NA", "nan", "inf", "-inf", "x", "0", "-1", "1e400", "90", "0.5"]
        lines = [",".join(rng.choice(cells, 5)) for _ in range(300)]
        scored = score_text(tmp_path, CANONICAL + "".join(f"m,{line}\n" for line in lines))
        for row in scored.table.to_pylist():
            if row["status"] == "ok":
                assert all(math.isfinite(row[r]) for r in ("cer", "ter", "psr"))
            else:
                assert row["error"] and math.isnan(row["cer"])


class TestFiles:
    def test_empty(self, tmp_path):
        with pytest.raises(BadFile, match="is empty"):
            inspect(write(tmp_path, ""))
        with pytest.raises(BadFile, match="is empty"):
            inspect(write(tmp_path, "\n\n  \n"))

    def test_header_only(self, tmp_path):
        with pytest.raises(BadFile, match="header but no rows"):
            inspect(write(tmp_path, CANONICAL))

    def test_binary_junk(self, tmp_path):
        junk = bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8))
        with pytest.raises(BadFile, match="not a text CSV"):
            inspect(write(tmp_path, junk))

    @pytest.mark.parametrize("delimiter", [";", "\t"])
    def test_semicolon_and_tab(self, tmp_path, delimiter):
        text = (CANONICAL + "m,0.9,1000,200,10,50\n").replace(",", delimiter)
        inspection = inspect(write(tmp_path, text))
        assert inspection.facts.delimiter == delimiter
        assert score_file(inspection).table["cer"].to_pylist() == [0.00075]

    def test_utf8_bom(self, tmp_path):
        scored = score_text(tmp_path, ("\ufeff" + CANONICAL + "m,0.9,1000,200,10,50\n").encode())
        assert scored.mapping["model_name"] == "model_name"
        assert scored.table["cer"].to_pylist() == [0.00075]

    def test_latin1(self, tmp_path):
        data = (CANONICAL + "modèle-é,0.9,1000,200,10,50\n").encode("latin-1")
        inspection = inspect(write(tmp_path, data))
        assert inspection.facts.encoding == "latin-1" and "Latin-1" in inspection.notes[0]
        assert score_file(inspection).table["model_name"].to_pylist() == ["modèle-é"]

    def test_quoted_newlines(self, tmp_path):
        text = "model_name,notes,f1,training_cost,inference_cost,training_hours,latency_ms\n"
        text += 'm,"line one\nline two",0.9,1000,200,10,50\nn,,0.8,1,1,1,1\n'
        rows = score_text(tmp_path, text).table.to_pylist()
        assert rows[0]["notes"] == "line one\nline two" and rows[0]["cer"] == 0.00075
        assert rows[1]["model_name"] == "n"

    def test_duplicate_headers(self, tmp_path):
        with pytest.raises(BadFile, match="column 'f1' twice"):
            inspect(write(tmp_path, "f1,f1,training_cost\n1,2,3\n"))

    def test_over_the_size_limit(self, tmp_path):
        path = write(tmp_path, CANONICAL + "m,0.9,1000,200,10,50\n" * 100)
        with pytest.raises(BadFile, match="the limit is"):
            inspect(path, max_bytes=1000)

    def test_ragged_rows_are_row_errors_with_line_numbers(self, tmp_path):
        text = CANONICAL + "a,0.9,1000,200,10,50\nb,0.9\nc,0.9,1000,200,10,50\n"
        scored = score_text(tmp_path, text)
        by_line = {r["line"]: r for r in scored.table.to_pylist()}
        assert by_line[2]["status"] == by_line[4]["status"] == "ok"
        assert "Expected 6 fields, found 2" in by_line[3]["error"]

    def test_gzip(self, tmp_path):
        data = gzip.compress((CANONICAL + "m,0.9,1000,200,10,50\n").encode())
        scored = score_text(tmp_path, data, name="runs.csv.gz")
        assert scored.table["cer"].to_pylist() == [0.00075]

    def test_parquet(self, tmp_path):
        path = tmp_path / "runs.parquet"
        pq.write_table(pa.table({"model_name": ["m"], "f1": [0.9], "training_cost": [1000],
                                 "inference_cost": [200.0], "training_hours": [10.0],
                                 "latency_ms": [50.0]}), path)  # fmt: skip
        assert score_file(inspect(path)).table["psr"].to_pylist() == [0.018]

    @pytest.mark.parametrize("streamed", [False, True], ids=["whole-file", "streamed"])
    def test_many_blocks_keep_order_and_lines(self, tmp_path, monkeypatch, streamed):
        if streamed:  # large files are read block by block; force that path on a small one
            monkeypatch.setattr(readers, "WHOLE_FILE_BYTES", 0)
            monkeypatch.setattr(readers, "BATCH_ROWS", 700)
        body = [f"m{i},0.9,{1000 + i},200,10,50\n" for i in range(5000)]
        body[2500] = "broken,row\n"  # line 2502 cannot be split into fields
        inspection = inspect(write(tmp_path, CANONICAL + "".join(body)))
        scored = score_file(inspection, block_bytes=4096)
        rows = scored.table.to_pylist()
        assert [r["line"] for r in rows] == list(range(2, 5002))
        assert rows[2500]["status"] == "error" and "found 2" in rows[2500]["error"]
        assert rows[2501]["model_name"] == "m2501" and rows[-1]["model_name"] == "m4999"
        assert scored.summary.ok == 4999


class TestGpuPricedRows:
    HEADER = "model_name,f1,gpu,num_gpus,inference_cost,training_hours,latency_ms\n"

    def test_training_cost_comes_from_the_price_table(self, tmp_path):
        text = self.HEADER + "m,0.9,A100-80GB,8,200,10,50\nn,0.9,t4,2,0,5,10\n"
        scored = score_text(tmp_path, text)
        rows = scored.table.to_pylist()
        assert rows[0]["training_cost"] == pytest.approx(8 * 10 * 1.79)  # Lambda, cheapest
        assert rows[0]["price_provider"] == "Lambda" and rows[0]["price_kind"] == "on-demand"
        assert rows[1]["training_cost"] == pytest.approx(2 * 5 * 0.53)
        assert rows[0]["cer"] == pytest.approx(0.9 / (8 * 10 * 1.79 + 200), rel=1e-11)

    def test_unknown_gpu_is_a_row_error_naming_known_models(self, tmp_path):
        text = self.HEADER + "m,0.9,X9000,8,200,10,50\nn,0.9,T4,1,0,1,1\n"
        rows = score_text(tmp_path, text).table.to_pylist()
        assert rows[0]["status"] == "error"
        assert "GPU 'X9000' is not in the price table; closest: " in rows[0]["error"]
        assert "known: A100-40GB, A100-80GB" in rows[0]["error"]
        assert rows[1]["status"] == "ok"

    def test_assumptions_are_stored_with_the_batch(self, tmp_path):
        from mlprod.store import Store

        text = self.HEADER + "m,0.9,A100-80GB,8,200,10,50\nx,0.9,X9000,1,1,1,1\n"
        inspection = inspect(write(tmp_path, text))
        with Store(tmp_path / "h.duckdb") as s:
            save_batch(s, scored_batches(inspection, resolve_mapping(inspection)), source="batch")
            rows = recent(s)
        assert len(rows) == 1
        row = rows.iloc[0]
        assert (row.gpu_model, row.gpu_count, row.price_per_gpu_hour) == ("A100-80GB", 8, 1.79)


def test_gpu_prices_are_converted_to_the_batch_currency(tmp_path):
    from mlprod.costs.fx import default_fx

    text = TestGpuPricedRows.HEADER + "m,0.9,T4,2,0,5,10\n"
    inspection = inspect(write(tmp_path, text))
    row = score_file(inspection, currency="EUR").table.to_pylist()[0]
    assert row["training_cost"] == pytest.approx(2 * 5 * 0.53 * default_fx().rate("EUR"))
    assert row["fx_rate"] == 0.92


def test_dates_outside_1900_2199_are_not_kept(tmp_path):
    # Found by atheris: a mangled year ("0014") made a timestamp Python cannot hold, and
    # the scored table could not be shown or exported.
    scored = score_text(
        tmp_path,
        "model_name,f1,training_cost,inference_cost,training_hours,latency_ms,created_at\n"
        "a,0.9,1000,200,10,50,0014-06-03 15:21:00\n"
        "b,0.9,1000,200,10,50,2026-06-03 15:21:00\n",
    )
    rows = scored.table.to_pylist()  # raised OverflowError before the fix
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert rows[0]["created_at"] is None and str(rows[1]["created_at"]) == "2026-06-03 15:21:00"


def test_a_row_longer_than_the_preview_block_is_still_read(tmp_path):
    # The preview parses 256 KB; a W&B export's config can make one row longer than that.
    path = tmp_path / "long.csv"
    path.write_text(
        "model_name,f1,training_cost,inference_cost,training_hours,latency_ms,notes\n"
        f"m,0.9,1000,200,10,50,{'x' * 400_000}\nm,0.8,1000,200,10,50,short\n"
    )
    inspection = inspect(path)
    assert inspection.preview["notes"].tolist()[1] == "short"
    scored = pa.concat_tables(scored_batches(inspection, resolve_mapping(inspection)))
    # read whole, then refused for its length (the limit keeps History visits small)
    assert scored["status"].to_pylist() == ["error", "ok"]
    assert "Notes is 400,000 characters long; the limit is 5,000" in scored["error"][0].as_py()
    assert scored["cer"].to_pylist()[1] == pytest.approx(0.8 / 1200)
