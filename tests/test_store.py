"""The history store on a real DuckDB file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from mlprod.errors import DatabaseError, DatabaseLocked
from mlprod.store import SCHEMA_VERSION, HistoryFilter, Store
from tests.conftest import (
    CONSTRAINT_ERRORS,
    count,
    recent,
    record,
)


def test_new_file_gets_the_schema(duckdb_store, db_path):
    store = duckdb_store
    assert db_path.exists()
    assert store.schema_version() == SCHEMA_VERSION
    with store.cursor() as cur:
        tables = {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"calculations", "batches", "f1_inputs", "deletions", "schema_version"} <= tables


def test_folder_is_created(tmp_path):
    with Store(tmp_path / "new" / "deeper" / "h.duckdb") as s:
        assert count(s) == 0


def test_migrations_are_idempotent(db_path):
    with Store(db_path) as first:
        first.save_calculation(record(), calc_key="a")
    with Store(db_path) as again:
        assert again.migrate() == SCHEMA_VERSION
        assert count(again) == 1
        with again.cursor() as cur:
            rows = cur.execute("SELECT count(*) FROM schema_version").fetchone()
        assert rows == (SCHEMA_VERSION,)


def test_save_and_read_back(store):
    assert store.save_calculation(record(), calc_key="k", author="ada") is True
    row = recent(store).iloc[0]
    assert (row.cer, row.ter, row.psr) == (0.00075, 0.09, 0.018)
    assert (row.author, row.source, row.model_name, row.currency) == (
        "ada",
        "calculator",
        "resnet",
        "USD",
    )
    assert pd.notna(row.created_at) and pd.isna(row.deleted_at)


def test_the_same_calculation_is_stored_once(store):
    assert store.save_calculation(record(), calc_key="k") is True
    assert store.save_calculation(record(), calc_key="k") is False
    assert store.save_calculation(record(f1=0.8), calc_key="other") is True
    assert count(store) == 2


def test_two_threads_saving_at_once_store_both(store):
    barrier = threading.Barrier(8)

    def save(i):
        barrier.wait()
        for j in range(10):
            store.save_calculation(record(), calc_key=f"{i}-{j}")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(store) == 80


def test_batch_is_one_transaction(store):
    good = pd.DataFrame([record(), record(f1=0.5)])
    batch_no = store.append_calculations(
        good, source="batch", file_name="runs.csv", content_hash="abc", author="ann"
    )
    assert count(store) == 2
    assert store.find_batch("abc")["rows"] == 2
    assert set(recent(store)["author"]) == {"ann"}
    bad = pd.DataFrame([record(), {**record(), "f1": None}])  # NOT NULL violated on row 2
    with pytest.raises(CONSTRAINT_ERRORS):
        store.append_calculations(bad, source="batch")
    assert count(store) == 2  # neither row of the failed batch, nor its batch row
    with store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM batches").fetchone() == (1,)
    assert batch_no == 1


def test_streamed_chunks_are_one_batch_with_unique_ids(store):
    chunk = pd.DataFrame([record()] * 3)
    store.append_calculations((chunk for _ in range(4)), source="batch")
    ids = recent(store, 100)["id"]
    assert len(ids) == 12 and ids.is_unique
    with store.cursor() as cur:
        assert cur.execute("SELECT count(*), max(row_count) FROM batches").fetchone() == (1, 12)


def test_a_column_first_empty_then_filled_is_stored(store):
    # One INSERT streams the blocks; a later block with notes (the first had none) must
    # not lose them, and the ids stay in file order across the statements.
    def block(notes, n):  # same schema in every block, as scored files have
        table = pa.Table.from_pylist([record()] * n)
        return table.append_column("notes", pa.array([notes] * n, pa.string()))

    first, later = block(None, 3), block("tuned lr", 2)
    store.append_calculations(iter([first, later, first]), source="batch")
    rows = recent(store, 100).sort_values("id")
    assert rows["notes"].fillna("-").tolist() == ["-"] * 3 + ["tuned lr"] * 2 + ["-"] * 3
    assert rows["id"].diff().dropna().eq(1).all()


def test_a_failure_while_streaming_stores_nothing_and_names_itself(store):
    store.save_calculation(record(), calc_key="before")

    def chunks():
        yield pd.DataFrame([record()] * 5)
        raise ValueError("runs.csv stopped being readable as CSV")

    with pytest.raises(ValueError, match="stopped being readable"):
        store.append_calculations(chunks(), source="batch")
    assert count(store) == 1
    with store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM batches").fetchone() == (1,)


def test_a_hash_given_as_a_function_is_asked_once_the_rows_are_in(store):
    asked = []

    def digest():
        asked.append(count(store))  # what this connection sees: the batch is not committed
        return "c0ffee"

    store.append_calculations(pd.DataFrame([record()] * 3), source="cli", content_hash=digest)
    assert asked == [0]
    assert store.find_batch("c0ffee")["rows"] == 3


def test_f1_inputs_are_kept(store):
    store.save_calculation({**record(), "precision": 0.9, "recall": 0.9}, calc_key="pr")
    store.append_calculations(
        pd.DataFrame([{**record(), "tp": 90.0, "fp": 10.0, "fn": 10.0}, record()]),
        source="batch",
    )
    rows = recent(store, 10).sort_values("id")
    assert rows["precision"].tolist()[0] == 0.9
    assert rows["tp"].tolist()[1] == 90.0 and pd.isna(rows["tp"].tolist()[2])


def test_soft_delete_and_restore(store):
    store.save_calculation(record(), calc_key="a")
    store.save_calculation(record(), calc_key="b")
    ids = recent(store)["id"].tolist()
    assert store.soft_delete(ids[:1], by="bob") == ids[:1]
    assert count(store) == 1 and count(store, include_deleted=True) == 2
    deleted = recent(store, include_deleted=True).set_index("id").loc[ids[0]]
    assert pd.notna(deleted.deleted_at)
    assert store.soft_delete(ids[:1], by="eve") == []  # already deleted
    first = store.last_changes(ids[:1])[0]  # who got there first, and when
    assert (first["action"], first["done_by"]) == ("delete", "bob")
    assert first["happened_at"] == deleted.deleted_at
    assert store.restore(ids[:1], by="bob") == ids[:1]
    assert count(store) == 2
    log = store.deletion_log()
    assert log[["id", "action", "done_by"]].values.tolist() == [
        [ids[0], "restore", "bob"],
        [ids[0], "delete", "bob"],
    ]


def test_a_second_process_waits_then_gets_a_clear_lock_error(duckdb_store, db_path):
    script = textwrap.dedent(
        f"""
        from mlprod.store import Store
        from mlprod.errors import DatabaseLocked
        try:
            Store({str(db_path)!r}, wait=0.3)
        except DatabaseLocked as exc:
            print(exc)
        """
    )
    with duckdb_store.held():  # at work the whole time
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 0, out.stderr
    assert "is in use by" in out.stdout and "PID" in out.stdout
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("when", [0.98, 1.0, 1.02])
def test_a_process_that_ends_as_its_file_is_let_go_ends_cleanly(db_path, when):
    """The dashboard, a notebook or a test run stopping just as the file is let go after a
    query: the let-go timer fired while the interpreter ended, and DuckDB's close from that
    dying thread aborted the process ("FATAL: exception not rethrown", exit 134)."""
    Store(db_path).close()
    script = textwrap.dedent(
        f"""
        import time
        from mlprod.store import Store
        from mlprod.store.connection import LINGER_SECONDS
        store = Store({str(db_path)!r})
        with store.cursor() as cur:
            cur.execute("SELECT count(*) FROM calculations").fetchall()
        time.sleep(LINGER_SECONDS * {when})  # ends as the timer lets the file go
        """
    )
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert "exception not rethrown" not in out.stderr


def test_not_a_duckdb_file_is_left_alone(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("my precious notes")
    with pytest.raises(DatabaseError, match="is not a DuckDB database"):
        Store(path)
    assert path.read_text() == "my precious notes"


def test_newer_schema_is_refused(db_path):
    with Store(db_path) as s, s.cursor() as cur:
        cur.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    with pytest.raises(DatabaseError, match="newer mlprod"):
        Store(db_path)


def test_lock_error_is_a_database_error():
    assert issubclass(DatabaseLocked, DatabaseError) and issubclass(DatabaseError, ValueError)


def test_search_latest_per_model_and_by_id(store):
    from datetime import datetime

    rows = [
        {**record(), "model_name": "bert", "project": "nlp", "tags": "prod",
         "created_at": datetime(2026, 1, 1)},
        {**record(f1=0.8), "model_name": "bert", "run_id": "r-77",
         "created_at": datetime(2026, 2, 1)},
        {**record(f1=0.7), "model_name": "resnet", "tags": "vision, prod",
         "created_at": datetime(2026, 1, 15)},
    ]  # fmt: skip
    store.append_calculations(pd.DataFrame(rows), source="batch")
    assert store.search("BERT")["f1"].tolist() == [0.8, 0.9]  # newest first
    assert store.search("r-77")["f1"].tolist() == [0.8]
    assert store.search("prod")["model_name"].tolist() == ["resnet", "bert"]
    assert len(store.search("")) == 3 and store.search("nothing").empty
    latest = store.latest_per_model(2)
    assert latest[["model_name", "f1"]].values.tolist() == [["bert", 0.8], ["resnet", 0.7]]
    ids = latest["id"].tolist()
    assert store.calculations_by_id(ids[::-1])["model_name"].tolist() == ["resnet", "bert"]
    store.soft_delete([ids[0]])
    assert store.latest_per_model(2)["f1"].tolist() == [0.7, 0.9]


def test_cost_assumptions_travel_with_the_calculation(store):
    from mlprod.costs.gpus import training_cost
    from mlprod.costs.inference import inference_from_requests

    train = training_cost("A100-80GB", 8, 10, provider="AWS")
    infer = inference_from_requests(2_000_000, 0.1, 1)
    calc = {**record(training_cost=train.total, inference_cost=infer.total),
            **train.assumptions(), **infer.assumptions()}  # fmt: skip
    store.save_calculation(calc, calc_key="gpu")
    row = recent(store, 1).iloc[0]
    assert (row.gpu_model, row.gpu_count, row.price_per_gpu_hour) == ("A100-80GB", 8, 5.12)
    assert (row.price_provider, str(row.price_as_of)[:10]) == ("AWS", "2026-10-01")
    assert (row.inference_mode, row.requests_per_month) == ("requests", 2_000_000)
    by_id = store.calculations_by_id([int(row.id)]).iloc[0]
    assert by_id.gpu_model == "A100-80GB"
    from mlprod.store import HistoryFilter

    exported = store.export_filtered(HistoryFilter()).to_pylist()[0]
    assert exported["gpu_model"] == "A100-80GB" and exported["cost_per_1k_requests"] == 0.1


def test_migration_from_version_1_adds_cost_assumptions_rollup_and_frontier_runs(db_path):
    import duckdb as ddb

    from mlprod.store import MIGRATIONS

    con = ddb.connect(str(db_path))  # a database written by the first release
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    for statement in MIGRATIONS[1]:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.execute(
        "INSERT INTO batches VALUES "
        "(nextval('batch_no'), now(), 'ann', 'cli', NULL, NULL, 'USD', 3)"
    )
    con.execute(  # three runs of the first release, the last one deleted
        "INSERT INTO calculations (id, created_at, model_name, f1, training_cost, "
        "inference_cost, training_hours, latency_ms, cer, ter, psr, deleted_at) VALUES "
        "(1000000000, '2026-01-05', 'bert', 0.9, 1000, 200, 10, 50, 0.00075, 0.09, 0.018, NULL),"
        "(1000000001, '2026-01-06', 'bert', 0.8, 800, 200, 8, 40, 0.0008, 0.1, 0.02, NULL),"
        "(1000000002, '2026-01-06', 'bert', 0.99, 10, 0, 1, 1, 0.099, 0.99, 0.99, now())"
    )
    con.close()
    with Store(db_path) as s:
        assert s.schema_version() == SCHEMA_VERSION == 12
        # The rollup (migration 3) starts with the live runs already in the file.
        summary = s.summary(HistoryFilter())
        assert summary["runs"] == 2 and summary["best_f1"] == 0.9
        assert summary["best_cer"] == 0.0008
        # And so do the frontier runs (migration 7): the deleted run is on neither frontier.
        fronts = s.frontiers(HistoryFilter(), details=False)
        for x in ("total_cost", "latency_ms"):
            assert fronts[x]["id"].tolist() == [1000000001, 1000000000]
        s.save_calculation(record(), calc_key="after")
        assert count(s) == 3 and s.summary(HistoryFilter())["runs"] == 3
        # No team pricing was set (migration 8): runs are priced at the cheapest provider.
        assert s.team_pricing().provider is None and s.pricing_changes().empty
        # Nothing is marked in production yet (migration 9).
        assert s.production_marks().empty and s.production(model="bert") is None
        # Runs saved before metrics (migration 10) are F1 runs, and so is a new save.
        assert s.metrics() == {"f1": 3}
        assert set(s.history_page(HistoryFilter(metrics=("f1",)))["metric"]) == {"f1"}
        assert s.history_page(HistoryFilter(metrics=("accuracy",))).empty


def test_connection_settings_are_locked_and_no_extension_loads_itself(duckdb_store):
    store = duckdb_store
    with store.cursor() as cur:
        with pytest.raises(duckdb.Error, match="Cannot change configuration"):
            cur.execute("SET memory_limit = '64GB'")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            cur.execute("SELECT * FROM read_csv('https://example.invalid/runs.csv')")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            cur.execute("SELECT * FROM read_text('/etc/passwd')")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            cur.execute("COPY (SELECT 1) TO '/tmp/mlprod-outside.csv'")
        with pytest.raises(duckdb.Error, match=r"disabled by configuration|Cannot change"):
            cur.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            cur.execute("INSTALL httpfs")
        with pytest.raises(duckdb.Error):
            cur.execute("SELECT 1 FROM pd")  # no Python object is reachable from SQL
