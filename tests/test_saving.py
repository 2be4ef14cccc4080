"""The one save path: every entry point stores the same record for the same run, one
duplicate policy for files, one tag normaliser."""

from __future__ import annotations

import math

import duckdb
import pytest

from mlprod.cli import main
from mlprod.config import PROJECT_DIR
from mlprod.errors import AlreadySaved
from mlprod.ingest import inspect, resolve_mapping, scored_batches
from mlprod.saving import normalize_tags, previous_save, save_batch
from mlprod.store import MIGRATIONS, SCHEMA_VERSION, HistoryFilter, Store
from tests.conftest import count, recent

# One run as a person gives it: untidy text (spaces, an empty tag) on purpose.
RUN = {"model_name": "bert-base", "project": "nlp", "tags": " prod ,baseline,,",
       "notes": " first try ", "f1": "0.9", "training_cost": "1000", "inference_cost": "200",
       "training_hours": "10", "latency_ms": "50"}  # fmt: skip
STORED = ("model_name", "project", "tags", "notes", "run_id", "run_name", "f1",
          "training_cost", "inference_cost", "training_hours", "latency_ms", "cer", "ter",
          "psr", "currency", "precision", "recall", "tp", "fp", "fn", "gpu_model",
          "gpu_count", "price_per_gpu_hour", "price_kind", "price_provider", "months",
          "requests_per_month", "cost_per_1k_requests")  # fmt: skip


def stored(db) -> dict[str, object]:
    """The one stored run, as the store keeps it (missing values as None)."""
    with Store(db) as s:
        rows = recent(s, 5)
    assert len(rows) == 1
    row = rows.iloc[0]
    return {
        k: None if row.get(k) is None or (isinstance(row[k], float) and math.isnan(row[k]))
        else row[k]
        for k in STORED
    }  # fmt: skip


def runs_file(tmp_path, name="runs.csv"):
    path = tmp_path / name
    header = ",".join(RUN)
    values = ",".join(f'"{v}"' for v in RUN.values())
    path.write_text(f"{header}\n{values}\n")
    return path


def via_calculator_page(app, tmp_path):
    app.run()
    for key in ("model-name", "project", "tags"):
        app.text_input(key=f"calc-{key}").input(RUN[key.replace("-", "_")])
    app.text_area(key="calc-notes").input(RUN["notes"])
    app.button(key="calc-submit").click().run()
    app.button(key="calc-save").click().run()
    assert not app.exception and "Saved" in app.success[0].value


def via_batch_page(app, tmp_path):
    app.run()
    app.switch_page("pages/batch.py").run()
    app.file_uploader(key="batch-upload").upload(
        "runs.csv", runs_file(tmp_path).read_bytes(), "text/csv"
    ).run()
    app.button(key="batch-score").click().run()
    app.button(key="batch-save").click().run()
    assert not app.exception and "Saved 1 rows" in app.success[0].value


def via_cli_calc(app, tmp_path):
    args = [f"--{k.replace('_', '-')}={v}" for k, v in RUN.items()]
    assert main(["calc", *args, "--save", "--db", str(tmp_path / "history.duckdb")]) == 0


def via_cli_score(app, tmp_path):
    db = str(tmp_path / "history.duckdb")
    assert main(["score", str(runs_file(tmp_path)), "--save", "--db", db, "-o", "-"]) == 0


def via_python(app, tmp_path):
    inspection = inspect(runs_file(tmp_path))
    with Store(tmp_path / "history.duckdb") as s:
        save_batch(s, scored_batches(inspection, resolve_mapping(inspection)), source="api",
                   file=inspection.path)  # fmt: skip


ENTRY_POINTS = [via_calculator_page, via_batch_page, via_cli_calc, via_cli_score, via_python]


@pytest.mark.parametrize("save", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_every_entry_point_stores_the_same_record(app, tmp_path, db_path, save, capsys):
    save(app, tmp_path)
    assert stored(db_path) == {
        **dict.fromkeys(STORED), "model_name": "bert-base", "project": "nlp",
        "tags": "prod, baseline", "notes": "first try", "f1": 0.9, "training_cost": 1000.0,
        "inference_cost": 200.0, "training_hours": 10.0, "latency_ms": 50.0, "cer": 0.00075,
        "ter": 0.09, "psr": 0.018, "currency": "USD",
    }  # fmt: skip


def test_a_built_cost_is_stored_alike_from_the_page_and_the_cli(app, tmp_path, db_path):
    app.run()
    app.radio(key="calc-train-mode").set_value("From GPU hours").run()
    app.radio(key="calc-infer-mode").set_value("From requests").run()
    app.selectbox(key="calc-gpu").set_value("A100-80GB")
    app.button(key="calc-submit").click().run()
    app.button(key="calc-save").click().run()
    from_page = stored(db_path)
    cli_db = tmp_path / "cli.duckdb"
    assert main(["calc", "--f1", "0.9", "--gpu", "A100-80GB", "--gpus", "8",
                 "--training-hours", "10", "--requests-per-month", "2000000",
                 "--cost-per-1k-requests", "0.1", "--latency-ms", "50", "--save",
                 "--db", str(cli_db)]) == 0  # fmt: skip
    assert stored(cli_db) == from_page
    assert (from_page["gpu_model"], from_page["gpu_count"], from_page["requests_per_month"]) == (
        "A100-80GB", 8.0, 2_000_000.0)  # fmt: skip


def test_the_sample_loader_stores_what_score_save_stores(app, tmp_path, db_path, capsys):
    app.run()
    app.switch_page("pages/history.py").run()
    app.button(key="history-load-sample").click().run()
    assert not app.exception
    sample = PROJECT_DIR / "data" / "sample_runs.csv"
    cli_db = tmp_path / "cli.duckdb"
    assert main(["score", str(sample), "--save", "--db", str(cli_db), "-o", "-"]) in (0, 1)
    columns = list(STORED[:14])
    with Store(db_path) as page_store, Store(cli_db) as cli_store:
        loaded, scored = recent(page_store, 1000), recent(cli_store, 1000)
    assert len(loaded) == len(scored) > 400
    assert set(loaded["source"]) == {"sample"} and set(scored["source"]) == {"cli"}
    assert loaded[columns].equals(scored[columns])


class TestDuplicatePolicy:
    def test_cli_reports_a_file_saved_before_and_stores_it_again_only_with_again(
        self, tmp_path, capsys
    ):
        path, db = runs_file(tmp_path), str(tmp_path / "h.duckdb")
        assert main(["score", str(path), "--save", "--db", db, "-o", "-"]) == 0
        capsys.readouterr()
        assert main(["score", str(path), "--save", "--db", db, "-o", "-"]) == 0
        err = capsys.readouterr().err
        assert "Not saved again: runs.csv was saved before: 1 rows on" in err
        assert "--again" in err
        with Store(db) as s:
            assert count(s) == 1 and s.integrity()["batches"] == 1
        assert main(["score", str(path), "--save", "--again", "--db", db, "-o", "-"]) == 0
        with Store(db) as s:
            assert count(s) == 2

    def test_json_report_names_the_earlier_batch(self, tmp_path, capsys):
        import json

        path, db = runs_file(tmp_path), str(tmp_path / "h.duckdb")
        out = str(tmp_path / "o.csv")
        main(["score", str(path), "--save", "--db", db, "-o", out, "--json"])
        first = json.loads(capsys.readouterr().out)
        main(["score", str(path), "--save", "--db", db, "-o", out, "--json"])
        again = json.loads(capsys.readouterr().out)  # stdout stays one JSON object
        assert first["already_saved"] is None and first["saved_batch"] == 1
        assert again["saved_batch"] is None and again["already_saved"]["batch_no"] == 1

    def test_a_file_saved_by_someone_else_meanwhile_is_not_stored_twice(self, tmp_path):
        path = runs_file(tmp_path)
        inspection = inspect(path)
        with Store(tmp_path / "h.duckdb") as s:
            assert previous_save(s, path) is None  # what the page saw before the click
            save_batch(s, scored_batches(inspection, resolve_mapping(inspection)),
                       source="batch", file=path, author="ann")  # fmt: skip
            with pytest.raises(AlreadySaved, match=r"saved before: 1 rows .* by ann") as seen:
                save_batch(s, scored_batches(inspection, resolve_mapping(inspection)),
                           source="batch", file=path, author="bob")  # fmt: skip
            assert seen.value.previous["batch_no"] == 1
            assert count(s) == 1 and s.integrity() == {**s.integrity(), "batches": 1}


def test_tags_saved_by_older_versions_are_normalised_on_upgrade(db_path):
    con = duckdb.connect(str(db_path))  # a database of schema 3, tags as the CLI wrote them
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")

    def migrate(version: int) -> None:
        for statement in MIGRATIONS[version]:
            con.execute(statement)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [version])

    migrate(1)
    migrate(2)
    con.execute("INSERT INTO batches VALUES (1, now(), 'ann', 'cli', NULL, NULL, 'USD', 2)")
    con.execute(
        "INSERT INTO calculations (id, created_at, model_name, tags, f1, training_cost, "
        "inference_cost, training_hours, latency_ms, cer, ter, psr) VALUES "
        "(1000000000, '2026-01-05', 'bert', 'prod,baseline', 0.9, 1000, 200, 10, 50, "
        "0.00075, 0.09, 0.018), "
        "(1000000001, '2026-01-05', 'bert', ' prod , ,', 0.8, 1000, 200, 10, 50, "
        "0.000666666666667, 0.08, 0.016)"
    )
    migrate(3)  # the rollup, grouped by the tags as written
    con.close()
    with Store(db_path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert sorted(recent(s)["tags"]) == ["prod", "prod, baseline"]
        assert s.filter_options()["tags"] == ["baseline", "prod"]
        assert s.summary(HistoryFilter(tags=("prod",)))["runs"] == 2
        assert s.integrity()["rollup_mismatches"] == 0


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("a,b", "a, b"), ("  a ,  b  ", "a, b"), (",a,,b,", "a, b"), ("a b, c", "a b, c"),
     ("", None), (" , ", None), ("solo", "solo")],
)  # fmt: skip
def test_tags_are_kept_one_way(typed, kept):
    assert normalize_tags(typed) == kept
