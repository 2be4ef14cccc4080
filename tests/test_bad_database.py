"""A bad file at MLPROD_DB: a clear message on the page and in the CLI, the file untouched.

Each case is made for real (a text file, a SQLite file made by sqlite3, a DuckDB file of a
newer schema, another application's DuckDB file with a ``calculations`` table, a file made
read-only with chmod, a directory, a FIFO, a character device) and driven through the real
CLI process and the real pages (AppTest).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from mlprod.config import PROJECT_DIR
from mlprod.metrics import calculate
from mlprod.store import Store
from tests.conftest import REFERENCE


def make_text(path: Path) -> None:
    path.write_text("model_name,f1\nbert,0.9\n")


def make_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE calculations (id INTEGER, f1 REAL)")
    con.commit()
    con.close()


def make_newer(path: Path) -> None:
    with Store(path) as s, s.cursor() as cur:
        cur.execute("INSERT INTO schema_version VALUES (99, now())")


def make_read_only(path: Path) -> None:
    with Store(path) as s:
        run = {**REFERENCE, **calculate(**REFERENCE).as_dict(), "model_name": "bert"}
        s.save_calculation(run, calc_key="k", source="calculator", author="ann")
    path.chmod(0o444)


def make_foreign(path: Path) -> None:
    """Another application's DuckDB file that happens to have a ``calculations`` table."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE calculations (invoice INTEGER, amount DECIMAL(10, 2))")
    con.execute("INSERT INTO calculations VALUES (1, 9.99)")
    con.close()


def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_device(path: Path) -> None:
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero: never ends


def make_directory(path: Path) -> None:
    path.mkdir()
    (path / "keep.txt").write_text("not ours")


CASES = {
    "text": (make_text, "is not a DuckDB database"),
    "sqlite": (make_sqlite, "is a SQLite database"),
    "newer": (make_newer, "written by a newer mlprod (schema version 99"),
    "read_only": (make_read_only, "is read-only"),
    "directory": (make_directory, "is a folder, not a database file"),
    "foreign": (make_foreign, "is not an mlprod history: it holds another application's "
                "tables (calculations)"),
    "fifo": (make_fifo, "is a named pipe (FIFO), not a database file"),
    "device": (make_device, "is a character device, not a database file"),
}  # fmt: skip


def fingerprint(path: Path) -> tuple:
    """Content and modification time of the file, or of every file in the folder (of a
    pipe or a device, which cannot be read to an end: its kind and times)."""
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    content = [
        (f.name, hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else
         stat.S_IFMT(f.stat().st_mode), f.stat().st_mtime_ns)
        for f in files
    ]  # fmt: skip
    return (*content, sorted(p.name for p in path.parent.iterdir()))


@pytest.fixture(params=list(CASES))
def bad_db(request, tmp_path):
    make, message = CASES[request.param]
    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "history.duckdb"  # alone in its folder: a stray WAL would show
    make(path)
    before = fingerprint(path)
    yield path, message
    assert fingerprint(path) == before, "the bad database file was changed"
    if path.is_file():
        path.chmod(0o644)


def test_the_tables_a_foreign_database_is_told_by_are_the_ones_the_migrations_make():
    from mlprod.store import schema

    made = set(re.findall(r"CREATE (?:TABLE|VIEW) (\w+)", Path(schema.__file__).read_text()))
    assert made == schema.OUR_TABLES


def rendered(markdown: Iterable[str]) -> str:
    """Messages as the browser shows them: markdown escapes removed."""
    return re.sub(r"\\(.)", r"\1", " ".join(markdown))


def cli(*args: str, db: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLPROD_DB": str(db), "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "mlprod", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def test_cli_calc_save_says_what_is_wrong(bad_db, tmp_path):
    path, message = bad_db
    done = cli(
        "calc", "--f1", "0.9", "--training-cost", "1000", "--inference-cost", "200",
        "--training-hours", "10", "--latency-ms", "50", "--save", db=path, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "CER" in done.stdout  # the calculation itself is still shown


def test_cli_score_save_still_writes_the_scored_file(bad_db, tmp_path):
    path, message = bad_db
    out = tmp_path / "scored.csv"
    sample = PROJECT_DIR / "data" / "sample_runs.csv"
    done = cli("score", str(sample), "-o", str(out), "--save", db=path, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(out.read_text().splitlines()) == 421  # header + every run, scored


def test_calculator_save_shows_the_message(bad_db, app, monkeypatch):
    path, message = bad_db
    monkeypatch.setenv("MLPROD_DB", str(path))
    app.run()
    assert app.metric[0].value == "0.00075"  # the calculator works without a database
    app.button(key="calc-save").click().run()
    assert not app.exception
    assert message in rendered(e.value for e in app.error)
    assert not [s for s in app.success if "Saved" in s.value]


@pytest.mark.parametrize("page", ["pages/history.py", "pages/compare.py"])
def test_history_pages_show_the_message(bad_db, app, page, monkeypatch):
    path, message = bad_db
    monkeypatch.setenv("MLPROD_DB", str(path))
    app.run()
    app.switch_page(page).run()
    assert not app.exception
    assert message in rendered(e.value for e in [*app.error, *app.warning])


def test_read_only_history_can_still_be_viewed(tmp_path, app, monkeypatch):
    path = tmp_path / "history.duckdb"
    make_read_only(path)
    monkeypatch.setenv("MLPROD_DB", str(path))
    before = fingerprint(path)
    app.run()
    app.switch_page("pages/history.py").run()
    assert not app.exception
    assert {m.label: m.value for m in app.metric}["Runs"] == "1"  # the saved run is shown
    assert any("read-only" in w.value for w in app.warning)
    assert fingerprint(path) == before
    path.chmod(0o644)
