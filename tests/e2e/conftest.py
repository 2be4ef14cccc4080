"""A real ``streamlit run`` server on loopback and a real headless Debian Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from mlprod.config import PROJECT_DIR
from mlprod.store import Store
from tests.conftest import recent

ARTIFACTS = PROJECT_DIR / "tests" / "artifacts"
CHROMIUM = os.environ.get("MLPROD_CHROMIUM", "/usr/bin/chromium")
IDLE = (
    '[data-testid="stApp"][data-test-script-state="notRunning"]'
    '[data-test-connection-state="CONNECTED"]'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Server:
    """``streamlit run app.py`` on loopback, on the database ``db``."""

    def __init__(self, db: Path, log: Path, *extra: str, port: int | None = None) -> None:
        self.db = db
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log  # what the server printed: tests read it for tracebacks
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", *extra],
            cwd=PROJECT_DIR, env={**os.environ, "MLPROD_DB": str(db)}, stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"streamlit did not start; see {log}")
            time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def kill(self) -> None:
        """``kill -9``: no cleanup, no goodbye."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def __getitem__(self, key: str) -> object:  # server["url"], server["db"]
        return {"url": self.url, "db": self.db}[key]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """The dashboard served by ``streamlit run app.py`` on a temp database."""
    db = tmp_path_factory.mktemp("e2e") / "history.duckdb"
    running = Server(db, tmp_path_factory.mktemp("log") / "streamlit.log")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: run `apt-get install -y chromium fonts-liberation` "
            "(browser tests are part of the suite; they are never skipped)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"],
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1300}, accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def wait_idle(page) -> None:
    page.wait_for_selector(IDLE, timeout=30_000)


def named(page, name: str = "tester") -> None:
    """Type a name in the sidebar, as a person does before saving (sign-in off)."""
    box = page.get_by_role("textbox", name="Your name")
    box.fill(name)
    box.press("Enter")
    wait_idle(page)


def full_screenshot(page, path) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport."""
    height = page.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stAppViewContainer"], section.main\')].map(e => e.scrollHeight), '
        "document.body.scrollHeight)"
    )
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": int(height) + 40})
    page.wait_for_timeout(600)  # charts re-lay out to the new size
    page.screenshot(path=str(path), full_page=True)


def saved(db, *, include_deleted: bool = False):
    """What the history holds: read through a copy (the server may hold the file's lock);
    nothing before the server's first visit created the file."""
    if not db.exists():
        return pd.DataFrame(columns=["id", "model_name", "author"])
    copy = db.with_name("copy.duckdb")
    shutil.copy(db, copy)
    wal = db.with_name(db.name + ".wal")
    if wal.exists():
        shutil.copy(wal, copy.with_name(copy.name + ".wal"))
    with Store(copy) as s:
        return recent(s, 1000, include_deleted=include_deleted)


def good_run_ids(path: Path) -> set[str]:
    import csv

    with path.open() as f:
        return {row["run_id"] for row in csv.DictReader(f) if 0 <= float(row["f1"]) <= 1}


def figure(artifacts: Path, **values: object) -> None:
    with (artifacts / "reliability.jsonl").open("a") as out:
        out.write(json.dumps(values) + "\n")


def rows_in(db: Path) -> list[tuple]:
    """Every stored calculation, read after the server has stopped."""
    with Store(db) as s, s.cursor() as cur:
        return cur.execute(
            "SELECT c.model_name, c.f1, c.run_id, b.batch_no, b.row_count "
            "FROM calculations c JOIN batches b ON b.batch_no = c.id // 1000000000"
        ).fetchall()


def save_at_once(pages: list, f1: float) -> None:
    """Every session (its model named ``session-N``) calculates F1 ``f1`` and saves it;
    each acts before any waits, so the server gets the reruns at once."""
    for page in pages:
        page.get_by_role("spinbutton", name="F1 score").fill(str(f1))
        page.get_by_role("button", name="Calculate").click()
    for s, page in enumerate(pages):
        expect(page.get_by_text(f"session-{s}: F1 {f1:.3g}")).to_be_visible(timeout=60_000)
    for page in pages:
        page.get_by_role("button", name="Save to history").click()
    for page in pages:
        expect(page.get_by_text("Saved to the history.")).to_be_visible(timeout=60_000)


def upload_and_score(page, path: Path) -> None:
    page.get_by_role("link", name="Batch scoring").click()
    wait_idle(page)
    upload(page, path)
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.get_by_role("button", name="to history")).to_be_visible(timeout=120_000)


def history_as(browser, url: str, name: str, *, load_sample: bool = False):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    p = context.new_page()
    p.goto(url + "/history")
    wait_idle(p)
    named(p, name)
    if load_sample or p.get_by_role("button", name="Load sample runs").count():
        p.get_by_role("button", name="Load sample runs").click()
    expect(p.get_by_text("Best CER")).to_be_visible(timeout=30_000)
    return p


def tick_first_row(p, attempts: int = 3) -> None:
    """Tick the grid's first row (its row marker) as a person does, until the page counts
    it: a tick that lands while the page reruns is lost on a loaded machine, and a person
    would tick again (never a second click on a row already ticked: that unticks it)."""
    ticked = p.get_by_role("button", name="Delete 1 selected")
    for _ in range(attempts):
        wait_idle(p)
        p.wait_for_timeout(500)
        if ticked.count():
            break
        grid = p.locator('[data-testid="stDataFrame"]').first
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        p.mouse.click(box["x"] + 16, box["y"] + 36 + 17)
        with suppress(AssertionError):  # what `expect` raises when it times out
            expect(ticked).to_be_enabled(timeout=10_000)
            return
    expect(ticked).to_be_enabled(timeout=10_000)


def ann_deletes_what_she_ticked_after_bob(ann) -> str:
    """Ann presses Delete on the run Bob deleted a moment ago. Either her click comes
    first (she is told who got there first) or her page has already rerun by itself (its
    tick went with the run: nothing is ticked); never is another run deleted."""
    with suppress(PlaywrightTimeout):  # her page may have rerun first: the button says 0
        ann.get_by_role("button", name="Delete 1 selected").click(timeout=3_000)
    told = ann.get_by_text(re.compile(r"(had already been|were) deleted by bob"))
    expect(told).to_be_visible(timeout=20_000)
    expect(ann.get_by_role("button", name="Delete 0 selected")).to_be_disabled()
    return told.inner_text()


def choose(page, multiselect, option: str, attempts: int = 3) -> None:
    """Pick ``option`` in a multiselect (a locator) as a person does, until the widget
    shows it: on a loaded machine the click on an option that was still being laid out
    can be lost, and a person would simply pick it again."""
    chip = multiselect.get_by_role("group", name="Selected values").get_by_label(option, exact=True)
    for _ in range(attempts):
        wait_idle(page)
        if chip.count() == 1:  # a slow rerun showed the earlier pick late
            return
        with suppress(PlaywrightTimeout):  # the list closed under the click: pick again
            multiselect.click()
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
        page.keyboard.press("Escape")
        # `expect` fails with AssertionError, not Playwright's timeout
        with suppress(AssertionError):
            expect(chip).to_have_count(1, timeout=10_000)
            return
    expect(chip).to_have_count(1)


def run_details(page, attempts: int = 3):
    """Open the calculator's "Run details (optional)" as a person does, until its boxes
    show: on a loaded machine a click that lands while the page reruns (after the name
    was typed, say) is lost, and a person would click again. Returns the Model name box."""
    box = page.get_by_role("textbox", name="Model name")
    for _ in range(attempts):
        wait_idle(page)
        if box.is_visible():
            return box
        page.get_by_text("Run details (optional)").click()
        with suppress(AssertionError):  # what `expect` raises when it times out
            expect(box).to_be_visible(timeout=10_000)
            return box
    expect(box).to_be_visible()
    return box


def upload(page, path, attempts: int = 3) -> None:
    """Drop ``path`` on the page's file uploader, as a person does, until the page shows
    it held: on a loaded machine a file dropped while the page was still rerunning (after
    the name was typed, say) can be lost, and a person would drop it again."""
    chip = page.locator('[data-testid="stFileChip"]')  # a long name is shown cut short
    for _ in range(attempts):
        wait_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
        with suppress(AssertionError):  # what `expect` raises when it times out
            expect(chip).to_have_count(1, timeout=15_000)
            wait_idle(page)
            return
    expect(chip).to_have_count(1)
