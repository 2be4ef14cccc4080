"""Failures around the transactions: a full disk, a bug, every edge answers in words with
the documented exit code (docs/RELIABILITY.md lists each case and its test)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import pytest

from mlprod import cli
from mlprod.config import PROJECT_DIR
from mlprod.errors import DatabaseError, InvalidInput
from mlprod.ingest import inspect, score_file
from mlprod.metrics import RunInputs, calculate
from mlprod.saving import save_batch
from mlprod.store import HistoryFilter, Store
from tests.conftest import REFERENCE, count


def _runs(folder: Path, n: int = 200_000) -> Path:
    path = folder / "runs.csv"
    with path.open("w") as fh:
        fh.write("run_id,model_name,f1,training_cost,inference_cost,training_hours,latency_ms\n")
        fh.writelines(f"r{i},bert,0.9,1000,200,10,50\n" for i in range(n))
    return path


def _disk_full_at(limit: int):
    """A process whose files cannot grow past ``limit`` bytes: writes fail as on a full
    disk (EFBIG), without mounting anything (works as root, where permissions do not)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_during_score_save_is_exit_3_in_words_and_stores_nothing(tmp_path):
    runs = _runs(tmp_path)
    db = tmp_path / "history.duckdb"
    with Store(db) as store:
        save_batch(store, score_file(inspect(runs)).table.slice(0, 10), source="cli")
    done = subprocess.run(
        # The limit holds for every file the process writes (pyarrow's stdout too): the
        # scored output is a small Parquet file, so the database is what hits it.
        [sys.executable, "-m", "mlprod", "score", str(runs), "-o", str(tmp_path / "out.parquet"),
         "--save", "--db", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=PROJECT_DIR,
        preexec_fn=_disk_full_at(db.stat().st_size + 100_000), timeout=120,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "could not be written" in done.stderr and "nothing of this change" in done.stderr
    assert "Traceback" not in done.stderr
    with Store(db) as store:
        found = store.integrity()
        assert count(store) == 10  # the earlier batch, whole; nothing of the refused one
    assert (found["broken_batches"], found["rollup_mismatches"]) == (0, 0)


def test_the_same_store_saves_again_once_there_is_room(tmp_path):
    """What the dashboard's process sees: one refused save, then the next one works."""
    runs = _runs(tmp_path, 50_000)
    table = score_file(inspect(runs)).table
    db = tmp_path / "history.duckdb"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    with Store(db) as store:
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (db.stat().st_size + 50_000, hard))
            with pytest.raises(DatabaseError, match="could not be written"):
                save_batch(store, table, source="batch")
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)
        save_batch(store, table.slice(0, 5), source="batch")
        assert count(store) == 5 and store.integrity()["broken_batches"] == 0


def test_an_unexpected_failure_is_exit_4_with_its_traceback_in_a_file(
    tmp_path, monkeypatch, capsys
):
    """A bug is never read by a pipeline as "some rows had errors" (exit 1)."""
    import mlprod.cli.batch as commands

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(commands, "score", broken)
    code = cli.main(["score", str(_runs(tmp_path, 3))])
    err = capsys.readouterr().err
    assert code == 4 and "internal error (KeyError" in err and "Saved" in err
    log = Path(err.rsplit("Details: ", 1)[1].strip())
    assert "Traceback" in log.read_text() and "a bug" in log.read_text()
    os.unlink(log)


def test_minus_zero_is_stored_and_written_as_zero(tmp_path):
    runs = tmp_path / "runs.csv"
    runs.write_text("model_name,f1,training_cost,inference_cost,training_hours,latency_ms\n"
                    "bert,0.9,1000,-0,10,50\nbert,0.9,1000,-0.0,10,50\n")  # fmt: skip
    db, out = tmp_path / "h.duckdb", tmp_path / "out.csv"
    assert cli.main(["score", str(runs), "-o", str(out), "--save", "--db", str(db)]) == 0
    assert "-0" not in out.read_text()
    with Store(db) as store, store.cursor() as cur:
        signs = cur.execute("SELECT signbit(inference_cost) FROM calculations").fetchall()
    assert signs == [(False,), (False,)]


class TestUploadCopies:
    """Upload copies on the server's disk never pile up (each can be ~200 MB)."""

    def test_a_long_name_and_a_replaced_upload(self, app):
        sample = (PROJECT_DIR / "data" / "sample_runs.csv").read_bytes()
        app.run()
        app.switch_page("pages/batch.py").run()
        folders = []
        for name in ("r" * 250 + ".csv", "x." + "r" * 250 + ".csv"):  # 254 characters
            app.file_uploader(key="batch-upload").upload(name, sample, "text/csv").run()
            app.button(key="batch-score").click().run()
            assert not app.exception
            assert app.metric[0].value == "420"  # rows scored
            folders.append(app.session_state["_upload"].folder)
        assert not folders[0].exists() and folders[1].exists()  # replaced: removed

    def test_a_session_that_ends_takes_its_copy_along(self):
        import gc

        from mlprod.ui.uploads import SessionFolder, _Spilled

        spilled = _Spilled("id", "runs.csv.gz", memoryview(b"x"))
        folder = spilled.folder
        assert spilled.path.name == "upload.csv.gz" and folder.exists()
        runs_read = SessionFolder()  # runs read from an MLflow server, and their scoring
        (runs_read.path / "mlflow-runs.parquet").write_bytes(b"x")
        other = runs_read.path
        del spilled, runs_read
        gc.collect()
        assert not folder.exists() and not other.exists()

    def test_copies_of_a_killed_server_go_at_the_next_start(self, tmp_path):
        from mlprod.ui.uploads import remove_stale_uploads

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / f"mlprod-upload-{dead.pid}-abc").mkdir()
        (tmp_path / f"mlprod-upload-{dead.pid}-abc" / "upload.csv").write_text("x")
        (tmp_path / f"mlprod-upload-{os.getpid()}-def").mkdir()  # a running server's
        assert remove_stale_uploads(tmp_path) == 1
        assert [p.name for p in tmp_path.iterdir()] == [f"mlprod-upload-{os.getpid()}-def"]


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_a_run_that_stops_half_way_leaves_no_partial_output(tmp_path, monkeypatch, name):
    import mlprod.cli.batch as commands

    real = commands.scored_batches

    def stops_after_one_block(*args, **kwargs):
        blocks = real(*args, **kwargs)
        yield next(blocks)
        raise OSError("the file went away")  # e.g. a network share dropped mid-read

    runs = _runs(tmp_path, 1000)
    assert cli.main(["score", str(runs), "-o", str(tmp_path / name)]) == 0
    head = (tmp_path / name).read_bytes()[:4]  # the format follows the name, not the temp one
    assert head == {"out.csv": b"\"lin", "out.csv.gz": b"\x1f\x8b\x08\x00",
                    "out.parquet": b"PAR1"}[name]  # fmt: skip
    finished = sorted(p.name for p in tmp_path.iterdir())
    (tmp_path / name).unlink()
    monkeypatch.setattr(commands, "scored_batches", stops_after_one_block)
    assert cli.main(["score", str(runs), "-o", str(tmp_path / name)]) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [n for n in finished if n != name]


def test_a_header_of_100000_columns_is_refused_at_once(tmp_path):
    """0.9 MB of header kept an uploader's session busy for minutes (~35 s CPU) before."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.errors import BadFile

    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n" + "1," * 99_999 + "1\n")
    with pytest.raises(
        BadFile, match=r"more than [\d,]+ columns; mlprod reads files of up to 5,000"
    ):
        inspect(wide)
    table = pa.table({f"metrics.m{i}": [1.0] for i in range(6_000)})
    pq.write_table(table, tmp_path / "wide.parquet")
    with pytest.raises(BadFile, match="has 6,000 columns"):
        inspect(tmp_path / "wide.parquet")


def test_whatever_score_reads_save_reads_a_10_mb_cell(tmp_path):
    """pyarrow's streamed read refused a row longer than its block ("straddling object
    straddles two block boundaries"); --save streams, so it refused the whole file. Now the
    row is read, and refused for its length alone (round 3: stored text is bounded)."""
    runs = tmp_path / "runs.csv"
    with runs.open("w") as fh:
        fh.write("run_id,model_name,f1,training_cost,inference_cost,training_hours,latency_ms,"
                 "notes\n")  # fmt: skip
        fh.writelines(f"r{i},bert,0.9,1000,200,10,50,ok\n" for i in range(50_000))
        fh.write(f"long,bert,0.8,1000,200,10,50,{'x' * 10_000_000}\n")
        fh.writelines(f"s{i},bert,0.9,1000,200,10,50,ok\n" for i in range(50_000))
    db, out = tmp_path / "h.duckdb", tmp_path / "out.csv"
    assert cli.main(["score", str(runs), "-o", str(out)]) == 1  # that one row's error
    assert cli.main(["score", str(runs), "-o", str(out), "--save", "--db", str(db)]) == 1
    with Store(db) as store, store.cursor() as cur:
        stored = cur.execute("SELECT count(*), max(length(notes)) FROM calculations").fetchone()
    assert stored == (100_000, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.duckdb", "out.csv", "runs.csv"]


def test_typed_parquet_edges_are_row_errors_or_a_bad_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlprod.errors import BadFile

    base = {"model_name": ["a", "b"], "training_cost": [1000.0, 1.0],
            "inference_cost": [200.0, 1.0], "latency_ms": [50.0, 5.0],
            "f1": [0.9, 0.8]}  # fmt: skip
    hours = pa.array([2**63 + 1, 10], pa.uint64())
    pq.write_table(pa.table({**base, "training_hours": hours}), tmp_path / "u64.parquet")
    rows = score_file(inspect(tmp_path / "u64.parquet")).table.select(["status", "error"])
    assert rows.to_pylist() == [
        {"status": "error", "error": "Training time (hours) is too large to be read exactly "
                                     "(above 2**53)."},
        {"status": "ok", "error": None},
    ]  # fmt: skip
    path = tmp_path / "damaged.parquet"
    pq.write_table(pa.table({**base, "training_hours": [10.0, 1.0]}), path, compression="none")
    data = bytearray(path.read_bytes())
    data[60:200] = bytes(b ^ 0x5A for b in data[60:200])  # a damaged data page
    path.write_bytes(bytes(data))
    with pytest.raises(BadFile, match="is a damaged Parquet file"):
        score_file(inspect(path))
    assert cli.main(["score", str(path), "-o", str(tmp_path / "out.csv")]) == 2


class TestMemoryBudget:
    """What the shared server holds of a batch does not grow with the file; the figures
    (peak RSS in the browser) are in tests/benchmarks/memory.py."""

    def _bomb(self, folder: Path, rows: int) -> Path:
        import gzip

        path = folder / "small.csv.gz"
        with gzip.open(path, "wb") as fh:
            fh.write(b"run_id,model_name,f1,training_cost,inference_cost,training_hours,"
                     b"latency_ms\n" + b"r,bert,0.9,1000,200,10,50\n" * rows)  # fmt: skip
        return path

    def test_a_small_gz_that_expands_past_the_row_cap_is_refused_naming_it(self, tmp_path):
        from mlprod.errors import BadFile
        from mlprod.ingest.on_disk import score_to_disk

        bomb = self._bomb(tmp_path, 300_000)
        assert bomb.stat().st_size < 100_000  # 300,000 rows in a few KB
        with pytest.raises(BadFile, match=r"holds more than 200,000 rows \(MLPROD_MAX_BATCH"):
            score_to_disk(inspect(bomb), folder=tmp_path, max_rows=200_000, name="x.csv.gz")
        assert not (tmp_path / "scored.parquet").exists()

    def test_the_scored_file_lives_on_disk_and_the_session_keeps_a_preview(self, tmp_path):
        from mlprod.export import csv_bytes
        from mlprod.ingest.on_disk import PREVIEW_ROWS, score_to_disk

        runs = _runs(tmp_path, 30_000)
        scored = score_to_disk(inspect(runs), folder=tmp_path)
        assert scored.preview.num_rows == PREVIEW_ROWS and scored.summary.rows == 30_000
        assert scored.preview.nbytes < 5_000_000  # what a session holds, whatever the file
        # ... and only that: no buffer of the whole scored block kept alive behind it
        assert scored.preview.get_total_buffer_size() < 1.5 * scored.preview.nbytes
        whole = score_file(inspect(runs)).table
        assert scored.write_csv(tmp_path).read_bytes() == csv_bytes(whole)
        assert scored.good(limit=500).num_rows == 500  # from the preview in memory
        assert scored.good().num_rows == 30_000  # past the preview: from the file
        db = tmp_path / "h.duckdb"
        with Store(db) as store:
            save_batch(store, scored.tables(), source="batch")
            assert count(store) == 30_000

    def test_one_turn_at_a_time_when_the_budget_holds_one(self, monkeypatch):
        import threading
        import time as clock

        from mlprod.ui import uploads

        monkeypatch.setenv("MLPROD_MEMORY_BUDGET", "1GB")
        uploads._turns.clear()
        inside, most = [], [0]

        def job() -> None:
            with uploads.scoring_turn():
                inside.append(1)
                most[0] = max(most[0], len(inside))
                clock.sleep(0.2)
                inside.pop()

        threads = [threading.Thread(target=job) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert most[0] == 1
        monkeypatch.setenv("MLPROD_MEMORY_BUDGET", "4GB")
        uploads._turns.clear()
        assert uploads._turns()._initial_value == 6  # (4 GB - 0.9 GB) // 0.45 GB
        uploads._turns.clear()


def test_the_cli_reports_progress_for_a_small_file_that_takes_long(tmp_path, monkeypatch, capsys):
    import gzip

    import mlprod.cli.batch as commands

    path = tmp_path / "small.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"run_id,model_name,f1,training_cost,inference_cost,training_hours,"
                 b"latency_ms\n" + b"r,bert,0.9,1000,200,10,50\n" * 300_000)  # fmt: skip
    monkeypatch.setattr(commands._Progress, "QUIET_SECONDS", 0.0)  # "a while", at once
    assert cli.main(["score", str(path), "-o", str(tmp_path / "out.csv")]) == 0
    err = capsys.readouterr().err
    assert "scoring… " in err and "rows" in err and "scored 300,000 rows in" in err


class TestAnOutputThatIsTheHistory:
    """A mistyped ``--db`` as ``-o`` (or a backup's destination) once replaced the history
    with a CSV and said "Saved": every write of ours to the history, its log, or any DuckDB
    database is refused (exit 2), whatever the spelling, and nothing is replaced."""

    @pytest.fixture
    def history(self, tmp_path):
        db = tmp_path / "history.duckdb"
        runs = tmp_path / "runs.csv"
        runs.write_text("run_id,model_name,f1,training_cost,inference_cost,training_hours,"
                        "latency_ms\nr1,bert,0.9,1000,200,10,50\n")  # fmt: skip
        done = _mlprod("score", str(runs), "--save", "--db", str(db), "-o", os.devnull)
        assert done.returncode == 0, done.stderr
        (tmp_path / "link.duckdb").symlink_to(db)
        os.link(db, tmp_path / "hard.duckdb")
        return db, runs

    @pytest.mark.parametrize("spelling", [
        "history.duckdb", "./sub/../history.duckdb", "link.duckdb", "hard.duckdb",
        "history.duckdb.wal", "other.duckdb",
    ])  # fmt: skip
    @pytest.mark.parametrize("command", ["score", "score --save", "backup"])
    def test_refused_with_exit_2_and_nothing_replaced(self, history, tmp_path, spelling, command):
        db, runs = history
        (tmp_path / "sub").mkdir(exist_ok=True)
        if spelling == "other.duckdb":  # another history, not the one --db names
            with Store(tmp_path / "other.duckdb"):
                pass
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        target = str(tmp_path / spelling)
        if command == "backup":
            done = _mlprod("backup", target, "--db", str(db), cwd=tmp_path)
        else:
            done = _mlprod(*command.split(), str(runs), "--db", str(db), "-o", target,
                           cwd=tmp_path)  # fmt: skip
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "nothing was written" in done.stderr and "Saved" not in done.stdout
        after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        assert after == before
        with Store(db) as s:
            assert s.integrity()["batches"] == 1

    @pytest.mark.parametrize("spelling", ["history.duckdb", "./sub/../history.duckdb",
                                          "link.duckdb", "hard.duckdb"])  # fmt: skip
    def test_restore_of_the_history_onto_itself_is_refused(self, history, tmp_path, spelling):
        db, _ = history
        (tmp_path / "sub").mkdir(exist_ok=True)
        before = sorted(p.name for p in tmp_path.iterdir())
        done = _mlprod("restore", str(tmp_path / spelling), "--db", str(db), cwd=tmp_path)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "is the history database itself" in done.stderr
        assert "nothing was replaced" in done.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # no before-restore copy


def _mlprod(*args: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlprod", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)}, timeout=120,
    )  # fmt: skip


class TestStoredTextIsBounded:
    """A run with a 10 MB model name made every History visit send ~120 MB for everyone:
    text past its field's limit is refused at every entry point, with the limit named."""

    def test_a_file_row_with_a_long_field_is_a_row_error_the_rest_are_saved(self, tmp_path):
        from mlprod.ingest.fields import TEXT_LIMITS

        runs = tmp_path / "runs.csv"
        long_name = "m" * (TEXT_LIMITS["model_name"] + 1)
        runs.write_text(
            "run_id,model_name,f1,training_cost,inference_cost,training_hours,latency_ms,notes\n"
            f"r1,{long_name},0.9,1000,200,10,50,\n"
            "r2,bert,0.9,1000,200,10,50," + "n" * 10_000_000 + "\n"
            "r3,bert,0.9,1000,200,10,50,fine\n"
        )
        db = tmp_path / "h.duckdb"
        done = _mlprod("score", str(runs), "--save", "--db", str(db), "-o", os.devnull, "--json")
        assert done.returncode == 1, done.stderr  # row errors, the rest saved
        import json

        report = json.loads(done.stdout)
        errors = {e["run_id"]: e["error"] for e in report["first_errors"]}
        assert errors["r1"] == "Model name is 201 characters long; the limit is 200. Shorten it."
        assert "Notes is 10,000,000 characters long; the limit is 5,000" in errors["r2"]
        with Store(db) as s:
            assert s.history_page(HistoryFilter(), page_size=10).run_id.tolist() == ["r3"]

    def test_the_calculator_and_calc_refuse_a_long_name(self, tmp_path):
        from mlprod.saving import calculation_record

        with pytest.raises(InvalidInput, match="Tags is 1,001 characters long; the limit is 1,000"):
            calculation_record(RunInputs(0.9, 1000, 200, 10, 50), tags="t" * 1001)
        done = _mlprod("calc", "--f1", "0.9", "--training-cost", "1000", "--inference-cost",
                       "200", "--training-hours", "10", "--latency-ms", "50", "--save",
                       "--db", str(tmp_path / "h.duckdb"), "--model-name", "x" * 300)  # fmt: skip
        assert done.returncode == 2 and "Model name is 300 characters long" in done.stderr


class TestSearchIsLiteral:
    """``_`` and ``%`` typed in a search were LIKE wildcards (``v1_0`` found ``v1x0``, ``%``
    found every run): the text matches as typed, the same on DuckDB and PostgreSQL."""

    NAMES = ("v1_0", "v1x0", "100% data", "1000 data", "C:\\runs\\a", "C:runsa", "V1_0-big")

    @pytest.fixture
    def named(self, store):
        from datetime import datetime, timedelta

        import pandas as pd

        rows = [
            {**REFERENCE, **calculate(**REFERENCE).as_dict(), "model_name": name,
             "run_id": f"r{i}", "created_at": datetime(2026, 1, 1) + timedelta(days=i)}
            for i, name in enumerate(self.NAMES)
        ]  # fmt: skip
        store.append_calculations(pd.DataFrame(rows), source="batch")
        return store

    @pytest.mark.parametrize(
        ("typed", "found"),
        [
            ("v1_0", {"v1_0", "V1_0-big"}),  # case-insensitive, but _ is only _
            ("%", {"100% data"}),
            ("0% d", {"100% data"}),
            ("\\runs\\", {"C:\\runs\\a"}),
            ("_", {"v1_0", "V1_0-big"}),
        ],
    )
    def test_every_search_matches_the_text_as_typed(self, named, typed, found):
        page = named.history_page(HistoryFilter(text=typed), page_size=50)
        exported = named.export_filtered(HistoryFilter(text=typed)).to_pandas()
        picker = named.search(typed)
        summary = named.overview(HistoryFilter(text=typed)).summary
        assert set(page.model_name) == found
        assert set(exported.model_name) == found
        assert set(picker.model_name) == found
        assert summary["runs"] == len(found)

    def test_the_notebook_search_is_literal(self, named):
        from mlprod.dataframes import History

        assert set(History(named.database).runs(search="v1_0").model_name) == {"v1_0", "V1_0-big"}


@contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """``path`` (a folder or a file) made immutable with ``chattr +i``: even root cannot
    create, remove or write there, as on a read-only remount (root ignores ``chmod``)."""
    subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)


def _whole(store: Store) -> bool:
    found = store.integrity()
    return found["broken_batches"] == 0 and found["rollup_mismatches"] == 0


class TestAFolderThatTurnsReadOnlyDuringASave:
    """An immutable flag, a read-only remount, a quota: the save ended in a raw
    ``TransactionException`` ("Failed to commit: Cannot open file …wal") and the dashboard
    showed its generic error page. Now: the typed database error, in words, nothing half
    stored, and the same process saves again once the folder is writable."""

    RUN: ClassVar[dict] = {**REFERENCE, **calculate(**REFERENCE).as_dict(), "model_name": "bert"}

    def test_the_folder_refuses_the_log_the_save_is_refused_in_words(self, tmp_path):
        import pandas as pd

        (tmp_path / "db").mkdir()
        db = tmp_path / "db" / "h.duckdb"
        with Store(db) as s, s.held():  # the file open all along, as in the dashboard
            s.save_calculation(self.RUN, calc_key="k1", source="calculator", author="ann")
            with _immutable(db.parent), pytest.raises(DatabaseError, match="could not be written"):
                s.append_calculations(pd.DataFrame([self.RUN] * 1000), source="batch")
            assert count(s) == 1  # nothing of the refused batch
            s.append_calculations(pd.DataFrame([self.RUN] * 10), source="batch")
            assert count(s) == 11 and _whole(s)

    def test_a_file_that_refuses_its_checkpoint_keeps_the_commit_and_opens_afresh(self, tmp_path):
        import pandas as pd

        db = tmp_path / "h.duckdb"
        with Store(db) as s, s.held():
            s.save_calculation(self.RUN, calc_key="k1", source="calculator", author="ann")
            with _immutable(db):
                s.append_calculations(pd.DataFrame([self.RUN] * 1000), source="batch")  # logged
                with pytest.raises(DatabaseError, match="Cannot open the history database"):
                    s.append_calculations(pd.DataFrame([self.RUN] * 10), source="batch")
            s.append_calculations(pd.DataFrame([self.RUN] * 10), source="batch")
            assert count(s) == 1011 and _whole(s)

    def test_the_cli_save_is_exit_3_in_words_and_stores_nothing(self, tmp_path):
        (tmp_path / "db").mkdir()
        db = tmp_path / "db" / "h.duckdb"
        with Store(db) as s:
            s.save_calculation(self.RUN, calc_key="k1", source="calculator", author="ann")
        runs = _runs(tmp_path, 300_000)
        saving = subprocess.Popen(
            [sys.executable, "-m", "mlprod", "score", str(runs), "--save", "--db", str(db),
             "-o", str(tmp_path / "scored.csv")],
            cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # The folder turns read-only while the rows are read and scored (before the
        # commit writes the log).
        deadline = time.monotonic() + 30
        while not (tmp_path / "scored.csv").exists() and not list(tmp_path.glob("*.part*")):
            assert saving.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        with _immutable(db.parent):
            _, err = saving.communicate(timeout=120)
        assert saving.returncode == 3, err
        assert "could not be written" in err and "nothing of this change was stored" in err
        assert "Traceback" not in err and "TransactionException" not in err
        with Store(db) as s:
            assert count(s) == 1 and _whole(s)

    def test_the_dashboard_says_so_and_saves_again_afterwards(self, app, db_path):
        db_path.parent.mkdir(parents=True, exist_ok=True)
        app.run()
        app.button(key="calc-save").click().run()  # the history exists, the page works
        with _immutable(db_path.parent):
            app.number_input(key="calc-f1").set_value(0.8)
            app.button(key="calc-submit").click().run()
            app.button(key="calc-save").click().run()
            assert not app.exception
            shown = " ".join(e.value for e in app.error)
            assert "Nothing was saved" in shown and "could not be written" in shown
        app.button(key="calc-save").click().run()
        assert not app.exception and any("Saved" in s.value for s in app.success)
        with Store(db_path) as s:
            assert sorted(s.history_page(HistoryFilter(), page_size=10).f1) == [0.8, 0.9]
