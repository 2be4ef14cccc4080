"""The history on a real PostgreSQL server: many processes at once, a server that goes
away and comes back. (The store's other tests run on both backends: see ``store``.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from mlprod.errors import DatabaseError
from mlprod.saving import save_batch
from mlprod.store import SCHEMA_VERSION, HistoryFilter, Store
from tests.conftest import (
    count,
    scored_rows,
)
from tests.pg_server import PostgresServer


def _in_processes(
    script: str, uri: str, copies: int, args: list[list[str]] | None = None
) -> list[subprocess.CompletedProcess]:
    """Start ``copies`` Python processes running ``script`` (with ``URI`` set) at once."""
    code = f"URI = {uri!r}\n" + textwrap.dedent(script)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *(args[n] if args else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(copies)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def test_processes_starting_at_once_migrate_the_schema_exactly_once(pg_uri):
    done = _in_processes(
        """
        from mlprod.store import Store
        with Store(URI) as s:
            print(s.schema_version())
        """,
        pg_uri,
        copies=4,
    )
    assert [p.returncode for p in done] == [0] * 4, [p.stderr for p in done]
    assert {p.stdout.strip() for p in done} == {str(SCHEMA_VERSION)}
    with Store(pg_uri) as s, s.cursor() as cur:
        versions = cur.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_the_same_file_saved_by_two_processes_at_once_lands_once(pg_uri, tmp_path):
    path = tmp_path / "runs.parquet"
    import pyarrow.parquet as pq

    pq.write_table(scored_rows(20_000), path)
    Store(pg_uri).close()  # the schema first: this test is about the saves
    done = _in_processes(
        f"""
        import pyarrow.parquet as pq
        from mlprod.errors import AlreadySaved
        from mlprod.saving import save_batch
        from mlprod.store import Store
        with Store(URI) as s:
            try:
                print("saved", save_batch(s, pq.read_table({str(path)!r}), source="cli",
                                          file={str(path)!r}))
            except AlreadySaved as exc:
                print("refused", exc)
        """,
        pg_uri,
        copies=3,
    )
    assert [p.returncode for p in done] == [0] * 3, [p.stderr for p in done]
    outcomes = sorted(p.stdout.split()[0] for p in done)
    assert outcomes == ["refused", "refused", "saved"], [p.stdout for p in done]
    assert all("was saved before" in p.stdout for p in done if p.stdout.startswith("refused"))
    with Store(pg_uri) as s:
        assert count(s) == 20_000 and s.integrity()["broken_batches"] == 0


def test_a_run_imported_by_two_processes_at_once_is_stored_once(pg_uri):
    Store(pg_uri).close()
    done = _in_processes(
        """
        import pyarrow as pa
        from mlprod.errors import AlreadySaved
        from mlprod.saving import save_batch, unsaved_runs
        from mlprod.store import Store
        table = pa.table({"run_id": [f"r{i}" for i in range(500)], "f1": [0.9] * 500,
                          "training_cost": [10.0] * 500, "inference_cost": [1.0] * 500,
                          "training_hours": [1.0] * 500, "latency_ms": [5.0] * 500,
                          "cer": [0.08] * 500, "ter": [0.9] * 500, "psr": [0.18] * 500})
        with Store(URI) as s:
            fresh, _ = unsaved_runs(s, table, source="mlflow", origin="http://127.0.0.1:5000")
            try:
                save_batch(s, fresh, source="mlflow", file_name="http://127.0.0.1:5000",
                           again=True, imported_from="http://127.0.0.1:5000")
                print("saved", fresh.num_rows)
            except AlreadySaved as exc:
                print("refused", exc)
        """,
        pg_uri,
        copies=3,
    )
    assert [p.returncode for p in done] == [0] * 3, [p.stderr for p in done]
    with Store(pg_uri) as s:
        assert count(s) == 500  # every run once, whoever won
        again, known = s.saved_run_ids("mlflow", "http://127.0.0.1:5000", ["r1", "r499"]), 2
        assert again == {"r1", "r499"} and known == 2
    assert any(p.stdout.startswith("saved 500") for p in done), [p.stdout for p in done]


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own (it is stopped and restarted)."""
    server = PostgresServer()
    yield server
    server.remove()


def test_a_restarted_server_is_reconnected_to_without_reopening(own_server):
    uri = own_server.database()
    with Store(uri) as s:
        s.append_calculations(scored_rows(100), source="cli")
        own_server.restart()  # every connection the store holds is closed by the server
        assert s.summary(HistoryFilter())["runs"] == 100
        s.append_calculations(scored_rows(50, seed=1), source="cli")
        assert count(s) == 150


def test_a_server_that_is_down_says_so_and_nothing_is_half_saved(own_server):
    uri = own_server.database()
    with Store(uri) as s:
        s.append_calculations(scored_rows(10), source="cli")
        own_server.stop()
        with pytest.raises(DatabaseError, match=r"history database .* (lost|Cannot reach)"):
            s.append_calculations(scored_rows(10, seed=1), source="cli")
        own_server.start()
        assert count(s) == 10
        assert s.integrity()["broken_batches"] == 0


def test_a_connection_dropped_mid_save_stores_nothing_and_says_to_retry(pg_uri, postgres):
    with Store(pg_uri) as s:
        s.append_calculations(scored_rows(100), source="cli")
        halfway = threading.Event()
        dropped = threading.Event()

        def blocks():
            yield scored_rows(300_000, seed=1)  # more than one COPY block
            halfway.set()
            dropped.wait(30)
            yield scored_rows(1000, seed=2)

        def drop():
            halfway.wait(30)
            name = pg_uri.rsplit("/", 1)[1]
            postgres.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            dropped.set()

        killer = threading.Thread(target=drop)
        killer.start()
        with pytest.raises(
            DatabaseError, match=r"lost.*nothing of this change was stored.*Try again"
        ):
            s.append_calculations(blocks(), source="cli")
        killer.join()
        assert count(s) == 100  # the old batch whole, nothing of the new one
        assert s.integrity() | {"schema_version": 0} == {
            "batches": 1, "calculations": 100, "broken_batches": 0, "rollup_mismatches": 0,
            "schema_version": 0,
        }  # fmt: skip


def test_the_password_never_shows_and_a_wrong_address_is_said_in_words(postgres):
    port = postgres.port
    with pytest.raises(DatabaseError) as caught:
        Store(f"postgresql://ml:s3cret@127.0.0.1:{port}/no_such_database")
    text = str(caught.value)
    assert "s3cret" not in text and "ml:***@" in text
    assert "no_such_database" in text and "Check that the PostgreSQL server is running" in text


def test_saves_from_threads_of_one_process_all_land(pg_uri):
    with Store(pg_uri) as s:
        errors: list[BaseException] = []

        def save(seed: int) -> None:
            try:
                for k in range(5):
                    save_batch(s, scored_rows(200, seed=seed * 10 + k), source="batch", again=True)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert count(s) == 8 * 5 * 200
        frame = s.history_page(HistoryFilter(), page_size=5)
        assert isinstance(frame, pd.DataFrame) and len(frame) == 5
        assert s.integrity()["rollup_mismatches"] == 0


def test_mlprod_backup_copies_a_server_history_to_a_duckdb_file(pg_uri, tmp_path):
    with Store(pg_uri) as s:
        s.append_calculations(scored_rows(3000), source="cli", file_name="runs.csv")
        s.save_calculation(
            {"f1": 0.9, "training_cost": 1000.0, "inference_cost": 200.0, "training_hours": 10.0,
             "latency_ms": 50.0, "cer": 0.00075, "ter": 0.09, "psr": 0.018,
             "model_name": "bert", "gpu_model": "A100", "gpu_count": 8.0},
            calc_key="press-1",
        )  # fmt: skip
        s.soft_delete([1_000_000_000, 1_000_000_001], by="ann")
        expected = s.history_page(HistoryFilter(), page_size=100)
        versions = s.integrity()
    dest = tmp_path / "backups" / "team.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "mlprod", "backup", str(dest), "--db", pg_uri],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Backed up 3,001 calculations in 2 batches" in done.stdout
    assert "consistent snapshot" in done.stdout
    with Store(dest) as copy:
        assert copy.integrity() == versions
        pd.testing.assert_frame_equal(
            copy.history_page(HistoryFilter(), page_size=100), expected, check_dtype=False
        )
        assert len(copy.deletion_log()) == 2
        # the copy carries on: its next batch comes after the server's last one
        assert copy.append_calculations(scored_rows(5, seed=9), source="cli") == 3


@pytest.mark.slow  # three rounds of 200k-run batches
def test_two_replicas_deleting_runs_of_one_batch_at_once_keep_the_history_whole(pg_uri, tmp_path):
    """Each recount of a batch deletes its rollup groups and inserts them again: two at
    once under READ COMMITTED left both recounts (History showed ~2x the runs, backup
    refused the server). They take turns now; every round the counts must hold."""
    with Store(pg_uri) as s:
        s.append_calculations(scored_rows(200_000), source="cli", file_name="big.csv")
    first = 1_000_000_000  # batch 1's ids
    done = _in_processes(
        f"""
        import os, sys, time
        from mlprod.store import Store
        me = int(sys.argv[1]) if len(sys.argv) > 1 else os.getpid() % 2
        with Store(URI) as s:
            for round_ in range(3):
                start = {time.time() + 3.0!r} + round_ * 2.0
                time.sleep(max(0.0, start - time.time()))
                mine = [{first} + round_ * 20_000 + me * 10_000 + i for i in range(0, 10_000, 5)]
                began = time.perf_counter()
                changed = s.soft_delete(mine, by=f"replica-{{me}}")
                print(len(changed), round(time.perf_counter() - began, 3), flush=True)
        """,
        pg_uri,
        copies=2,
        args=[["0"], ["1"]],
    )
    assert [p.returncode for p in done] == [0, 0], [p.stderr for p in done]
    for p in done:  # every round deleted that replica's own 2,000 runs
        assert [int(line.split()[0]) for line in p.stdout.split("\n") if line] == [2000] * 3
    with Store(pg_uri) as s:
        found = s.integrity()
        assert found["rollup_mismatches"] == 0 and found["broken_batches"] == 0
        assert s.summary(HistoryFilter())["runs"] == 200_000 - 2 * 3 * 2000 == count(s)
    backed = subprocess.run(
        [sys.executable, "-m", "mlprod", "backup", str(tmp_path / "b.duckdb"), "--db", pg_uri],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert backed.returncode == 0, backed.stderr
    seconds = sorted(float(line.split()[1]) for p in done for line in p.stdout.split("\n") if line)
    print(f"delete of 2,000 runs of a 200k-run batch beside another: {seconds} s")


def test_a_long_save_committing_after_a_short_one_moves_the_history_version(pg_uri):
    """Replicas key their cached answers by the version: it must move with every commit,
    whatever order batches commit in (the newest batch number did not: a long save of
    batch N committing after a short one of N+1 was hidden for up to 15 minutes)."""
    with Store(pg_uri) as s:
        started, release = threading.Event(), threading.Event()

        def long_blocks():
            yield scored_rows(100, seed=1)
            started.set()
            release.wait(30)
            yield scored_rows(100, seed=2)

        long_save = threading.Thread(
            target=lambda: s.append_calculations(long_blocks(), source="cli")
        )
        long_save.start()
        started.wait(30)
        assert s.append_calculations(scored_rows(10, seed=3), source="cli") == 2  # the short one
        seen = s.version()  # a replica's cache key, after the short save
        release.set()
        long_save.join(30)
        assert count(s) == 210
        assert s.version() != seen  # the long save's commit is news


def test_another_applications_calculations_table_is_not_an_mlprod_history(pg_uri):
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(pg_uri) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE calculations (invoice INTEGER, amount NUMERIC(10, 2))")
        cur.execute("CREATE TABLE customers (id INTEGER)")  # beside ours would be fine
        cur.execute("INSERT INTO calculations VALUES (1, 9.99)")
        con.commit()
    with pytest.raises(DatabaseError, match=r"is not an mlprod history: .*\(calculations\)"):
        Store(pg_uri)
    with pg.connect(pg_uri) as con, con.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' ORDER BY 1")  # fmt: skip
        assert [r[0] for r in cur.fetchall()] == ["calculations", "customers"]  # untouched


def test_a_server_database_with_other_applications_tables_beside_ours_is_used(pg_uri):
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(pg_uri) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INTEGER)")
        con.commit()
    with Store(pg_uri) as store:
        assert store.schema_version() == SCHEMA_VERSION
