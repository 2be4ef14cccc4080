"""One shared dashboard under load, a second process and a crash: real server, real browsers.

Figures (seconds, rows) are appended to ``tests/artifacts/reliability.jsonl``; the numbers
in docs/RELIABILITY.md come from there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from mlprod.config import PROJECT_DIR
from mlprod.store import Store
from tests.benchmarks.run import generate

from .conftest import (
    Server,
    figure,
    good_run_ids,
    named,
    rows_in,
    run_details,
    save_at_once,
    upload_and_score,
    wait_idle,
)

pytestmark = pytest.mark.e2e

SESSIONS, SAVES = 8, 12


@contextmanager
def dashboard(browser, tmp_path: Path, sessions: int = 1) -> Iterator[tuple[Server, list]]:
    """A fresh server on its own database and ``sessions`` browser sessions open on it;
    afterwards the sessions are closed and the server stopped (unless a test killed it)."""
    server = Server(tmp_path / "history.duckdb", tmp_path / "streamlit.log")
    contexts = [browser.new_context(viewport={"width": 1300, "height": 900})
                for _ in range(sessions)]  # fmt: skip
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.goto(server.url)
            wait_idle(page)
            named(page)
        yield server, pages
    finally:
        for context in contexts:
            context.close()
        if server.proc.poll() is None:
            server.stop()


def test_eight_sessions_saving_at_once_lose_and_double_nothing(browser, tmp_path, artifacts):
    with dashboard(browser, tmp_path, SESSIONS) as (server, pages):
        for s, page in enumerate(pages):
            run_details(page).fill(f"session-{s}")
        started = time.perf_counter()
        for i in range(SAVES):
            save_at_once(pages, round(0.5 + i / 100, 2))
        seconds = time.perf_counter() - started
    rows = rows_in(server.db)
    saved = sorted((model, f1) for model, f1, *_ in rows)
    expected = sorted(
        (f"session-{s}", round(0.5 + i / 100, 2)) for s in range(SESSIONS) for i in range(SAVES)
    )
    assert saved == expected  # exactly 200: none lost, none doubled
    figure(artifacts, scenario="concurrent_sessions", sessions=SESSIONS, saves_each=SAVES,
           rows=len(rows), seconds=round(seconds, 1),
           saves_per_s=round(len(rows) / seconds, 1))  # fmt: skip


def test_two_sessions_saving_batches_at_once(browser, tmp_path, artifacts):
    files = []
    for n, rows in enumerate((60_000, 40_000)):
        path = tmp_path / f"runs-{n}.csv"
        generate(path, rows, seed=n)
        files.append(path)
    with dashboard(browser, tmp_path, len(files)) as (server, pages):
        for page, path in zip(pages, files, strict=True):
            upload_and_score(page, path)
        started = time.perf_counter()
        for page in pages:
            page.get_by_role("button", name="to history").click()
        for page in pages:
            expect(page.get_by_text("rows to the history (batch")).to_be_visible(timeout=120_000)
        seconds = time.perf_counter() - started
    rows = rows_in(server.db)
    per_batch: dict[int, set[str]] = {}
    for _, _, run_id, batch_no, row_count in rows:
        per_batch.setdefault(batch_no, set()).add(run_id)
        assert row_count is not None
    assert len(per_batch) == 2
    # Each batch holds exactly the good rows of one file (1% of generated rows are errors).
    expected = sorted(len(good_run_ids(path)) for path in files)
    assert sorted(len(ids) for ids in per_batch.values()) == expected
    assert len(rows) == sum(expected)
    figure(artifacts, scenario="two_batch_saves_at_once", rows=len(rows),
           seconds=round(seconds, 2))  # fmt: skip


def cli(*args: str, db: Path) -> subprocess.Popen:
    env = {**os.environ, "MLPROD_DB": str(db), "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlprod", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_DIR,
    )


def _dashboard_save_seconds(page) -> float:
    """Seconds from a click on the calculator's Save to "Saved to the history."."""
    page.get_by_role("button", name="Calculate").click()
    # the last save's message goes with the new calculation: only then is Save this one's
    expect(page.get_by_text("Saved to the history.")).to_have_count(0, timeout=60_000)
    save = page.get_by_role("button", name="Save to history")
    expect(save).to_be_visible(timeout=30_000)
    wait_idle(page)
    started = time.perf_counter()
    save.click()
    expect(page.get_by_text("Saved to the history.")).to_be_visible(timeout=120_000)
    return time.perf_counter() - started


def test_the_dashboard_saves_while_three_cli_savers_run(page, tmp_path, artifacts):
    """The file is held only while a process works on it: the dashboard's saves wait their
    turn behind CLI saves (and theirs behind its), none is refused, all land."""
    db = tmp_path / "history.duckdb"
    server = Server(db, tmp_path / "streamlit.log")
    files = []
    for n in range(3):
        path = tmp_path / f"runs-{n}.csv"
        generate(path, 150_000, seed=10 + n)
        files.append(path)
    try:
        page.goto(server.url)
        wait_idle(page)
        page.get_by_role("textbox", name="Your name").fill("ann")
        alone = [_dashboard_save_seconds(page) for _ in range(3)]
        savers = [cli("score", str(path), "--save", "-o", os.devnull, db=db) for path in files]
        time.sleep(1.0)  # they are reading and scoring; the first saves are under way
        beside = []
        while any(proc.poll() is None for proc in savers) or not beside:
            beside.append(_dashboard_save_seconds(page))
        for proc in savers:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 1, err  # 1: the files' 1% error rows; the rest saved
            assert "Saved" in out, (out, err)
    finally:
        server.stop()
    rows = rows_in(db)
    batches = {batch for *_, batch, _ in rows}
    assert len(batches) == 3 + len(alone) + len(beside)
    assert len(rows) == sum(len(good_run_ids(p)) for p in files) + len(alone) + len(beside)
    figure(
        artifacts, scenario="dashboard_save_beside_3_cli_savers",
        alone_s=[round(x, 2) for x in alone], beside_s=[round(x, 2) for x in beside],
    )  # fmt: skip


def _size(db: Path) -> int:
    wal = db.with_name(db.name + ".wal")
    return sum(p.stat().st_size for p in (db, wal) if p.exists())


def _kill_when_writing(server: Server, delay_ms: int) -> None:
    """``kill -9`` the server ``delay_ms`` after its database files start to grow."""
    before = _size(server.db)
    deadline = time.monotonic() + 60
    while _size(server.db) == before and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay_ms / 1000)
    server.kill()


@pytest.mark.parametrize("delay_ms", [0, 100, 250, 2000])
def test_dashboard_killed_while_saving_keeps_all_or_nothing(browser, tmp_path, delay_ms, artifacts):
    path = tmp_path / "runs.csv"
    generate(path, 300_000)
    good = len(good_run_ids(path))
    with dashboard(browser, tmp_path) as (server, [page]):
        page.get_by_role("button", name="Save to history").click()  # one committed row first
        expect(page.get_by_text("Saved to the history.")).to_be_visible()
        upload_and_score(page, path)
        page.get_by_role("button", name="to history").click()
        _kill_when_writing(server, delay_ms)
    db = server.db
    stored = len(rows_in(db)) - 1
    assert stored in (0, good), f"a partial batch: {stored} of {good} rows"
    found = "all" if stored else "none"
    figure(artifacts, scenario="dashboard_kill_9_mid_save", rows=good,
           kill_ms_after_writing_began=delay_ms, batch_found=found)  # fmt: skip


def test_backups_while_the_dashboard_saves_are_whole(browser, tmp_path, artifacts):
    path = tmp_path / "runs.csv"
    generate(path, 300_000)
    good = len(good_run_ids(path))
    backups: list[tuple[Path, subprocess.Popen]] = []
    with dashboard(browser, tmp_path) as (server, [page]):
        page.get_by_role("button", name="Save to history").click()
        expect(page.get_by_text("Saved to the history.")).to_be_visible()
        upload_and_score(page, path)
        page.get_by_role("button", name="to history").click()
        # Backups one after another while the 300,000-row batch is being written.
        while not page.get_by_text("rows to the history (batch").count() or len(backups) < 3:
            dest = tmp_path / "backups" / f"b{len(backups)}.duckdb"
            proc = cli("backup", str(dest), db=server.db)
            proc.wait(timeout=120)
            backups.append((dest, proc))
            if len(backups) > 40:
                break
        expect(page.get_by_text("rows to the history (batch")).to_be_visible(timeout=60_000)
    db = server.db
    seen = []
    for dest, proc in backups:
        assert proc.returncode == 0, proc.stderr.read()
        with Store(dest) as s:
            found = s.integrity()
        assert found["broken_batches"] == 0
        assert found["calculations"] in (1, 1 + good)  # before the batch, or all of it
        seen.append(found["calculations"])
    # The last backup, restored with the dashboard stopped, is the database as it was.
    last = backups[-1][0]
    restored = cli("restore", str(last), db=db)
    restored.wait(timeout=120)
    assert restored.returncode == 0, restored.stderr.read()
    assert len(rows_in(db)) == seen[-1]
    figure(artifacts, scenario="backups_during_a_dashboard_save", backups=len(backups),
           with_batch=sum(n > 1 for n in seen), without=sum(n == 1 for n in seen))  # fmt: skip
