"""Real processes against one DuckDB file: ``kill -9`` mid-save, and savers that queue.

A 1,000,000-row batch is saved by ``python -m mlprod score --save`` and the process is
killed at several points (before writing, as writing begins, during it, after it); the
database must then open and hold every earlier batch plus all of this one or none of it.
Figures go to ``tests/artifacts/reliability.jsonl``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlprod.config import PROJECT_DIR
from mlprod.store import Store
from tests.benchmarks.run import generate

pytestmark = pytest.mark.slow  # kill -9 of real processes mid-save, 1M-row batches

ARTIFACTS = PROJECT_DIR / "tests" / "artifacts"
ROWS = 1_000_000


def figure(**values: object) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "reliability.jsonl").open("a") as out:
        out.write(json.dumps(values) + "\n")


def score(csv: Path, db: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlprod", "score", str(csv), "--save", "--again", "--db",
         str(db), "-o", os.devnull, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
    )  # fmt: skip


def size(db: Path) -> int:
    wal = db.with_name(db.name + ".wal")
    return sum(p.stat().st_size for p in (db, wal) if p.exists())


def batches(db: Path) -> list[tuple[int, int, int]]:
    """(batch, rows the batch says it has, rows found) for every batch."""
    with Store(db) as s, s.cursor() as cur:
        return cur.execute(
            "SELECT b.batch_no, b.row_count, count(c.id) FROM batches b "
            "LEFT JOIN calculations c ON c.id // 1000000000 = b.batch_no "
            "GROUP BY ALL ORDER BY 1"
        ).fetchall()


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("crash") / "runs.csv"
    generate(path, ROWS)
    with Store(path.with_name("count.duckdb")) as s, s.cursor() as cur:
        good = cur.execute(
            "SELECT count(*) FROM read_csv(?) WHERE f1 BETWEEN 0 AND 1", [str(path)]
        ).fetchone()[0]
    return path, int(good)


# (when, milliseconds): "start" counts from the process start (a 1M-row save takes ~1.6 s
# with Python's start-up; the rows sit in DuckDB's memory until COMMIT), "writing" from
# the moment the database files begin to grow (COMMIT writing them out).
KILL_POINTS = [("start", 700), ("start", 1000), ("start", 1300), ("writing", 0),
               ("writing", 40), ("writing", 80), ("writing", 150), ("writing", 400),
               ("writing", 5000)]  # fmt: skip


def test_kill_9_mid_save_leaves_all_or_nothing(big_csv, tmp_path):
    csv, good = big_csv
    db = tmp_path / "history.duckdb"
    first = score(csv, db)
    assert first.wait(timeout=120) == 1  # 1% of the generated rows are bad: exit 1
    committed = 1
    outcomes = []
    for when, ms in KILL_POINTS:
        before = size(db)
        proc = score(csv, db)
        started = time.monotonic()
        if when == "writing":
            while size(db) == before and proc.poll() is None and time.monotonic() - started < 60:
                time.sleep(0.001)
        time.sleep(ms / 1000)
        finished_before_kill = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        found = batches(db)  # opens: the file is usable after the crash
        complete = [b for b in found if b[1] == b[2] == good]
        assert len(found) == len(complete), f"a partial batch after kill at {when}+{ms}ms"
        assert len(complete) in (committed, committed + 1)
        landed = len(complete) == committed + 1
        committed = len(complete)
        outcomes.append({"kill": f"{when}+{ms}ms", "batch": "all" if landed else "none",
                         "had_finished": finished_before_kill})  # fmt: skip
    figure(scenario="cli_kill_9_mid_save", rows_per_batch=good, kills=outcomes,
           batches_after=committed)  # fmt: skip
    # The points reach both sides: a batch lost whole, and one kept whole.
    assert {o["batch"] for o in outcomes} == {"all", "none"}


def test_two_cli_savers_with_wait_both_land_unmixed(tmp_path):
    runs = []
    for n in range(2):
        path = tmp_path / f"runs-{n}.csv"
        generate(path, 200_000, seed=n)
        runs.append(path)
    db = tmp_path / "history.duckdb"
    started = time.perf_counter()
    procs = [score(path, db, "--wait", "120") for path in runs]
    codes = [proc.wait(timeout=180) for proc in procs]
    seconds = time.perf_counter() - started
    assert codes == [1, 1], [p.stderr.read() for p in procs]  # 1: some rows have errors
    # -o /dev/null wrote to the device: the output's rename-at-the-end left it alone
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    found = batches(db)
    assert len(found) == 2 and all(claimed == rows for _, claimed, rows in found)
    with Store(db) as s, s.cursor() as cur:
        stored = {
            name: cur.execute(
                "SELECT c.run_id, c.f1 FROM calculations c JOIN batches b "
                "ON b.batch_no = c.id // 1000000000 WHERE b.file_name = ? ORDER BY c.id",
                [name],
            ).fetchall()
            for name in ("runs-0.csv", "runs-1.csv")
        }
    for path in runs:
        # Each batch is its own file's good rows, in the file's order: nothing mixed in.
        with path.open() as f:
            rows = [line.split(",") for line in f.read().splitlines()[1:]]
        wanted = [(r[0].strip('"'), float(r[2])) for r in rows if 0 <= float(r[2]) <= 1]
        assert stored[path.name] == wanted
    per_batch = [(name, len(rows)) for name, rows in stored.items()]
    figure(scenario="two_cli_savers_with_wait", rows=sum(n for _, n in per_batch),
           seconds=round(seconds, 2))  # fmt: skip
