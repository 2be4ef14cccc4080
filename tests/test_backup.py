"""``python -m mlprod backup`` / ``restore``: a real round trip through real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mlprod.config import PROJECT_DIR
from mlprod.ingest import inspect, resolve_mapping, scored_batches
from mlprod.saving import save_batch
from mlprod.store import Store
from tests.conftest import count, recent

SAMPLE = PROJECT_DIR / "data" / "sample_runs.csv"
TABLES = ("batches", "calculations", "f1_inputs", "deletions", "cost_assumptions")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlprod", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        timeout=120,
    )


def contents(db: Path) -> dict[str, pd.DataFrame]:
    with Store(db) as s, s.cursor() as cur:
        return {t: cur.execute(f"SELECT * FROM {t} ORDER BY ALL").df() for t in TABLES}


def fill(db: Path) -> None:
    """Two batches, one calculator save with GPU-built costs, a delete and a restore."""
    inspection = inspect(SAMPLE)
    with Store(db) as s:
        for author in ("ann", "bob"):
            save_batch(
                s,
                scored_batches(inspection, resolve_mapping(inspection)),
                source="batch",
                author=author,
            )
        s.save_calculation(
            {"f1": 0.9, "training_cost": 143.2, "inference_cost": 200.0, "training_hours": 10.0,
             "latency_ms": 50.0, "cer": 0.9 / 343.2, "ter": 0.09, "psr": 0.018,
             "gpu_model": "A100-80GB", "gpu_count": 8.0, "price_per_gpu_hour": 1.79},
            calc_key="k1", source="calculator",
        )  # fmt: skip
        ids = recent(s, 3)["id"].tolist()
        s.soft_delete(ids, by="ann")
        s.restore(ids[:1], by="bob")


def test_backup_and_restore_round_trip(tmp_path):
    db = tmp_path / "live" / "history.duckdb"
    fill(db)
    before = contents(db)
    backup = tmp_path / "backups" / "monday.duckdb"
    done = cli("backup", str(backup), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "Backed up 841 calculations in 3 batches" in done.stdout

    with Store(db) as s:  # life goes on after the backup ...
        save_batch(
            s, scored_batches(inspect(SAMPLE), resolve_mapping(inspect(SAMPLE))), source="batch"
        )
    back = cli("restore", str(backup), "--db", str(db))  # ... and is rolled back
    assert back.returncode == 0, back.stderr
    after = contents(db)
    for table in TABLES:
        pd.testing.assert_frame_equal(after[table], before[table])
    kept = [p for p in db.parent.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1 and contents(kept[0])["batches"].shape[0] == 4  # nothing lost
    with Store(db) as s:  # the restored database takes new saves (sequence restored too)
        batch_no = save_batch(
            s, scored_batches(inspect(SAMPLE), resolve_mapping(inspect(SAMPLE))), source="batch"
        )
        assert batch_no == 4 and s.integrity()["broken_batches"] == 0


def test_backup_never_overwrites_and_restore_refuses_a_bad_source(tmp_path):
    db = tmp_path / "history.duckdb"
    fill(db)
    taken = tmp_path / "b.duckdb"
    taken.write_text("something precious")
    done = cli("backup", str(taken), "--db", str(db))
    assert done.returncode == 3 and "exists already" in done.stderr
    assert taken.read_text() == "something precious"

    before = db.read_bytes()
    bad = cli("restore", str(taken), "--db", str(db))
    assert bad.returncode == 3 and "is not a DuckDB database" in bad.stderr
    assert db.read_bytes() == before


def test_restore_refuses_while_the_database_is_in_use(tmp_path):
    db = tmp_path / "history.duckdb"
    fill(db)
    backup = tmp_path / "b.duckdb"
    assert cli("backup", str(backup), "--db", str(db)).returncode == 0
    with Store(db) as holder, holder.held():  # stands for a long save in the dashboard
        done = cli("restore", str(backup), "--db", str(db))
        assert holder.integrity()["calculations"] == 841
    assert done.returncode == 3
    assert "is in use by" in done.stderr and "Stop the dashboard, then restore" in done.stderr
    assert not [p for p in tmp_path.iterdir() if ".before-restore-" in p.name]


def test_backup_while_another_process_holds_the_file(tmp_path):
    db = tmp_path / "history.duckdb"
    fill(db)
    backup = tmp_path / "b.duckdb"
    with Store(db) as holder, holder.held():  # at work throughout: the copy is a snapshot
        done = cli("backup", str(backup), "--db", str(db))
        assert count(holder) == 839  # 841 minus the two still deleted
    assert done.returncode == 0, done.stderr
    assert "copied while another process held it" in done.stdout
    for table, frame in contents(backup).items():
        pd.testing.assert_frame_equal(frame, contents(db)[table])


def _foreign_log(folder: Path) -> Path:
    """The log of another database, left behind by a process that died before closing
    (6 runs it saved are only in the log)."""
    db = folder / "other.duckdb"
    script = (
        "import os, sys\nfrom mlprod.store import Store\nfrom mlprod.saving import save_batch\n"
        "from mlprod.ingest import inspect, resolve_mapping, score_file\n"
        f"path = {str(SAMPLE)!r}\nscored = score_file(inspect(path)).table.slice(0, 6)\n"
        f"store = Store({str(db)!r})\nstore.checkpoint()\n"
        "store.fold_log_after_writes = False\n"  # it died before folding its log in
        "save_batch(store, scored, source='batch')\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=PROJECT_DIR)
    log = db.with_name(db.name + ".wal")
    assert log.stat().st_size > 0
    return log


def test_restore_beside_a_stale_log_restores_exactly_the_backup(tmp_path):
    """A log without its database would be replayed into the restored file (426 runs
    after "Restored 420"): it is kept aside, and the result is opened and checked."""
    source = tmp_path / "live.duckdb"
    with Store(source) as s:
        save_batch(s, scored_batches(inspect(SAMPLE), resolve_mapping(inspect(SAMPLE))),
                   source="batch")  # fmt: skip
    backup = tmp_path / "monday.duckdb"
    assert cli("backup", str(backup), "--db", str(source)).returncode == 0
    target = tmp_path / "restored" / "history.duckdb"
    target.parent.mkdir()
    stale = _foreign_log(tmp_path)
    stale.rename(target.with_name(target.name + ".wal"))

    done = cli("restore", str(backup), "--db", str(target))

    assert done.returncode == 0, done.stderr
    assert "Restored 420 calculations" in done.stdout and "log file without its" in done.stdout
    with Store(target) as s:
        assert count(s) == 420 and s.integrity()["broken_batches"] == 0
    kept = [p for p in target.parent.iterdir() if ".wal.stale-" in p.name]
    assert len(kept) == 1 and kept[0].stat().st_size > 0  # kept, not deleted


def test_backup_refuses_a_destination_with_a_stale_log(tmp_path):
    source = tmp_path / "live.duckdb"
    with Store(source) as s:
        save_batch(s, scored_batches(inspect(SAMPLE), resolve_mapping(inspect(SAMPLE))),
                   source="batch")  # fmt: skip
    dest = tmp_path / "backups" / "monday.duckdb"
    dest.parent.mkdir()
    _foreign_log(tmp_path).rename(dest.with_name(dest.name + ".wal"))

    done = cli("backup", str(dest), "--db", str(source))

    assert done.returncode == 3 and "the log of another database" in done.stderr
    assert "checked" not in done.stdout and not dest.exists()
