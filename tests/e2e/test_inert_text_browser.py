"""Text from data is inert on every page, and what a page sends is bounded (#32, items 2 and
3): a history holding hostile names (images and links to a server, HTML, LaTeX, autolinks,
right-to-left overrides, a stored author), and one run with a 10 MB model name saved before
the limits existed, walked page by page in Chromium."""

from __future__ import annotations

import contextlib
import csv
import http.server
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import pandas as pd
import pytest
from playwright.sync_api import expect

from mlprod.config import PROJECT_DIR
from mlprod.metrics import calculate
from mlprod.store import ROWS_PER_BATCH, Store
from tests.conftest import REFERENCE

from .conftest import Server, named, run_details, upload, wait_idle

pytestmark = pytest.mark.e2e


class _Trap(http.server.BaseHTTPRequestHandler):
    """A server the hostile text points at: any request to it is a page loading data's URL."""

    asked: list[str] = []  # noqa: RUF012 (one list for the test's server)

    def do_GET(self) -> None:  # the http.server API
        _Trap.asked.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def trap():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def hostile(trap: str) -> dict[str, str]:
    """Each names the marker HOSTILE, so an element made from it can be found."""
    return {
        "image": f"![HOSTILE image](http://{trap}/md-image.png)",
        "link": f"[HOSTILE Sign in again](http://{trap}/phish)",
        "html": f'<img src="http://{trap}/html-image.png"> <b>HOSTILE html</b>',
        "latex": r"$\text{HOSTILE}$ $$\int x$$",
        "autolink": f"HOSTILE http://{trap}/auto www.evil.invalid ann@evil.invalid",
        "format": "**HOSTILE bold** _it_ :red[red] :material/warning: # heading",
        "rtl": "HOSTILE \u202eevil\u202c نموذج",
    }


@pytest.fixture(scope="module")
def walked(tmp_path_factory, trap):
    """A history with the hostile names everywhere text is stored (a batch saved by the
    CLI under a hostile author) and one run with a 10 MB model name, stored as a history
    from before the limits holds it; the dashboard serving it."""
    folder = tmp_path_factory.mktemp("inert")
    db = folder / "history.duckdb"
    names = hostile(trap)
    runs = folder / "hostile.csv"
    with runs.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["run_id", "run_name", "model_name", "project", "tags", "notes",
                         "f1", "training_cost", "inference_cost", "training_hours",
                         "latency_ms"])  # fmt: skip
        for i, text in enumerate(names.values()):
            writer.writerow([f"r{i}", text, text, text, text, text, 0.9 + i / 100, 100, 10, 2, 20])
    done = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(runs), "--save", "--db", str(db),
         "-o", str(folder / "scored.csv"), "--author", names["link"]],
        capture_output=True, text=True, cwd=PROJECT_DIR, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = {**REFERENCE, **calculate(**REFERENCE).as_dict()}
    huge = {**run, "model_name": "M" * 10_000_000, "run_name": "huge",
            "created_at": datetime.now() - timedelta(days=1)}  # fmt: skip
    with Store(db) as s:  # as a history from before the limits: straight into the store
        huge_id = s.append_calculations(pd.DataFrame([huge]), source="batch", author="old")
        huge_id = huge_id * ROWS_PER_BATCH  # its only run
        newest = int(s.latest_per_model(1)["id"].iloc[0])
    server = Server(db, folder / "streamlit.log")
    server.huge, server.newest = huge_id, newest
    yield server, runs, names
    server.stop()


def _made_from_data(page) -> list[str]:
    """Elements that markup in the data would have made: links and images to the trap, to
    evil.invalid or mail; bold, italic or coloured text of exactly the data's marked
    words; LaTeX of it. (Our own formatting around a whole name, such as a bold model
    name, holds the name's markup characters as text, so it is not confused with these.)"""
    return page.evaluate(
        """() => {
          const found = [];
          const urls = ['evil.invalid', '/phish', 'image.png', '/auto', 'mailto:'];
          for (const el of document.querySelectorAll('a, img, source, iframe, link')) {
            const url = el.getAttribute('href') || el.getAttribute('src') || '';
            if (urls.some(u => url.includes(u))) found.push(el.tagName + ' ' + url);
          }
          const words = ['HOSTILE bold', 'HOSTILE html', 'it', 'red', 'HOSTILE image',
                         'HOSTILE Sign in again', 'heading'];
          for (const el of document.querySelectorAll(
              'strong, em, b, i, del, h1, h2, h3, h4, h5, h6, span[style*="color"]')) {
            if (words.includes((el.textContent || '').trim())) {
              found.push(el.tagName + ' ' + el.textContent);
            }
          }
          for (const el of document.querySelectorAll('.katex')) {
            if (/HOSTILE|∫/.test(el.textContent || '')) found.push('KATEX ' + el.textContent);
          }
          return found;
        }"""
    )


def _reordered(page) -> list[str]:
    """Text blocks of the page (captions, messages, headings) holding a raw right-to-left
    override, which turns the rest of the line around."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
              '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]')]
            .map(el => el.textContent).filter(t => t.includes('\\u202e'))"""
    )


def _visit(page, url: str, sent: list[int]) -> None:
    sent.clear()
    page.goto(url)
    wait_idle(page)
    page.wait_for_timeout(1500)  # charts and late fragments
    wait_idle(page)


def test_every_page_shows_hostile_text_as_text_and_sends_a_bounded_history(walked, page, trap):
    server, runs, names = walked
    _Trap.asked.clear()
    sent: list[int] = []

    def on_socket(ws) -> None:
        ws.on("framereceived", lambda frame: sent.append(len(frame)))

    def on_response(response) -> None:  # data fetched over HTTP (tables load their rows)
        if "/static/" not in response.url and response.url.startswith(server.url):
            with contextlib.suppress(Exception):  # a redirect or aborted request has no body
                sent.append(len(response.body()))

    page.on("websocket", on_socket)
    page.on("response", on_response)
    checked = {}

    _visit(page, server.url + "/history", sent)
    expect(page.get_by_text("Best CER")).to_be_visible(timeout=30_000)
    history_bytes = sum(sent)
    checked["history"] = (_made_from_data(page), _reordered(page))
    page.get_by_text("Show deleted runs").click()
    wait_idle(page)

    _visit(page, server.url + "/compare", sent)
    checked["compare"] = (_made_from_data(page), _reordered(page))
    compare_bytes = sum(sent)
    # The run with the 10 MB name picked as side A (a shared link), against a hostile one.
    _visit(page, f"{server.url}/compare?a={server.huge}&b={server.newest}", sent)
    expect(page.get_by_text("MMMMMMMMMM").first).to_be_visible(timeout=30_000)
    checked["compare-huge"] = (_made_from_data(page), _reordered(page))
    picked_bytes = sum(sent)

    # The same file again in the browser: "saved before … by {author}" and the best runs.
    _visit(page, server.url + "/batch", sent)
    named(page)
    upload(page, runs)
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_text("This file was saved before")).to_be_visible(timeout=30_000)
    wait_idle(page)
    author = page.get_by_text("This file was saved before").inner_text()
    assert "[HOSTILE Sign in again](http" in author  # the author, as typed
    checked["batch"] = (_made_from_data(page), _reordered(page))

    _visit(page, server.url, sent)
    named(page)
    run_details(page).fill(names["image"])
    page.get_by_role("button", name="Calculate").click()
    wait_idle(page)
    checked["calculator"] = (_made_from_data(page), _reordered(page))

    _visit(page, server.url + "/guide", sent)
    checked["guide"] = (_made_from_data(page), _reordered(page))

    assert checked == {p: ([], []) for p in checked}
    assert _Trap.asked == []  # no image, link preview or font was fetched from data
    # The 10 MB name is sent cut at its limit: the whole visit stays small (on main the
    # History page sent the name in every table, chart and filter: ~120 MB).
    print(f"History visit: {history_bytes / 1e6:.2f} MB; Compare: {compare_bytes / 1e6:.2f} MB; "
          f"Compare with it picked: {picked_bytes / 1e6:.2f} MB")  # fmt: skip
    assert history_bytes < 5_000_000 and compare_bytes < 5_000_000
    assert picked_bytes < 5_000_000
