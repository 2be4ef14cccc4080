"""The shared server's memory while people score large files in the browser: peak RSS of
the whole ``streamlit run`` process (``VmHWM`` from /proc), one JSON object per figure.

    python tests/benchmarks/memory.py [--old WORKTREE] [--skip-bomb] [--skip-concurrent]
        [--only-downloads] [--runs N]

- ``bomb``: one session uploads a ``.csv.gz`` of a few MB that expands to ~1 GB of valid
  rows and clicks Score;
- ``concurrent``: three sessions upload a 195 MB CSV each and click Score at once;
- ``in_a_row``: one session scores five 60 MB files one after another; RSS at the end;
- ``downloads``: three sessions open History on a history of ``--runs`` runs (1M) and
  click "Download CSV" at once; each download's size and seconds, or what the page says
  when the file would not fit in a turn of the budget (#32: under the budget).

Each scenario gets a fresh server; with ``--old`` the same scenarios run against an older
worktree in the same hour (A/B). Target (#19): at most 1.5 GB for the process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MLPROD_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking"]  # fmt: skip
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
HEADER = "run_id,model_name,f1,training_cost,inference_cost,training_hours,latency_ms,project\n"


def _rows(start: int, n: int) -> str:
    return "".join(
        f"r{i},bert-large-{i % 9},0.9{i % 10},1000.5,200.25,10.5,50.5,nlp\n"
        for i in range(start, start + n)
    )


def write_csv(path: Path, size: int) -> Path:
    with path.open("w") as fh:
        fh.write(HEADER)
        i = 0
        while fh.tell() < size:
            fh.write(_rows(i, 100_000))
            i += 100_000
    return path


def write_bomb(path: Path, expanded: int) -> Path:
    """The same valid row over and over: gzip shrinks it ~200-fold."""
    block = b"r1,bert-large,0.9,1000.5,200.25,10.5,50.5,nlp\n" * 100_000
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(HEADER.encode())
        for _ in range(expanded // len(block) + 1):
            fh.write(block)
    return path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, tree: Path, db: Path) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1"],
            cwd=tree, env={**os.environ, "MLPROD_DB": str(db), "PYTHONPATH": str(tree)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("streamlit did not start")

    def memory(self) -> dict[str, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
              if line.startswith(("VmHWM", "VmRSS"))}  # fmt: skip
        return {"peak_rss_mb": round(kb["VmHWM"] / 1024), "rss_mb": round(kb["VmRSS"] / 1024)}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _score(browser, url: str, file: Path, timeout_s: float = 900) -> str:
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    try:
        page.goto(f"{url}/batch")
        page.wait_for_selector(IDLE, timeout=60_000)
        page.locator('input[type="file"]').set_input_files(str(file))
        page.get_by_role("button", name="Score").wait_for(timeout=int(timeout_s * 1000))
        page.wait_for_selector(IDLE, timeout=int(timeout_s * 1000))
        page.get_by_role("button", name="Score").click()
        page.wait_for_timeout(500)
        page.wait_for_selector(IDLE, timeout=int(timeout_s * 1000))
        if page.get_by_text("With errors").count():
            return "scored"
        alert = page.locator('[data-testid="stAlert"]')
        return alert.first.inner_text()[:160] if alert.count() else "no result shown"
    finally:
        context.close()


def downloads(tree: Path, label: str, history: Path, sessions: int = 3) -> None:
    """``sessions`` browsers click History's "Download CSV" at the same moment."""
    from playwright.sync_api import sync_playwright

    server = Server(tree, history)
    started = time.monotonic()
    ready = threading.Barrier(sessions)
    outcomes: list[dict[str, object]] = []

    def one() -> None:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200},
                                    accept_downloads=True)  # fmt: skip
            try:
                page.goto(f"{server.url}/history")
                page.wait_for_selector(IDLE, timeout=120_000)
                button = page.get_by_role("button", name="Download CSV")
                refused = page.get_by_text("Download CSV: the")  # larger than a turn
                button.or_(refused).wait_for(timeout=300_000)
                ready.wait()
                if refused.count():
                    outcomes.append({"not_offered": refused.inner_text()[:160]})
                    return
                clicked = time.monotonic()
                with page.expect_download(timeout=600_000) as info:
                    button.click()
                path = info.value.path()
                outcomes.append({"mb": round(Path(path).stat().st_size / 1e6, 1),
                                 "seconds": round(time.monotonic() - clicked, 1)})  # fmt: skip
            except Exception as exc:
                outcomes.append({"failed": f"{type(exc).__name__}: {str(exc)[:160]}"})
            finally:
                browser.close()

    try:
        threads = [threading.Thread(target=one) for _ in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        alive = server.proc.poll() is None
        figure = {"figure": "downloads", "tree": label, "sessions": sessions,
                  "seconds": round(time.monotonic() - started, 1), "server_alive": alive,
                  "downloads": outcomes, **(server.memory() if alive else {})}  # fmt: skip
        print(json.dumps(figure), flush=True)
    finally:
        if server.proc.poll() is None:
            server.stop()


def scenario(name: str, tree: Path, label: str, files: list[list[Path]], folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    server = Server(tree, folder / f"{label}-{name}.duckdb")
    outcomes: list[str] = []
    started = time.monotonic()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

            def session(mine: list[Path]) -> None:
                for file in mine:
                    try:
                        outcomes.append(_score(browser, server.url, file))
                    except Exception as exc:  # a crashed server, a timeout
                        outcomes.append(f"failed: {type(exc).__name__}: {str(exc)[:120]}")

            if len(files) == 1:
                session(files[0])
            else:  # Playwright's sync API is per thread: one browser each
                threads = []
                for mine in files:

                    def own(mine: list[Path] = mine) -> None:
                        with sync_playwright() as q:
                            b = q.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                            for file in mine:
                                try:
                                    outcomes.append(_score(b, server.url, file))
                                except Exception as exc:
                                    outcomes.append(f"failed: {type(exc).__name__}")
                            b.close()

                    threads.append(threading.Thread(target=own))
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            browser.close()
        alive = server.proc.poll() is None
        figure = {"figure": name, "tree": label, "seconds": round(time.monotonic() - started, 1),
                  "server_alive": alive, "outcomes": outcomes,
                  **(server.memory() if alive else {})}  # fmt: skip
        print(json.dumps(figure), flush=True)
    finally:
        if server.proc.poll() is None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", type=Path)
    parser.add_argument("--expanded-mb", type=int, default=1000)
    parser.add_argument("--skip-bomb", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    parser.add_argument("--skip-in-a-row", action="store_true")
    parser.add_argument("--skip-downloads", action="store_true")
    parser.add_argument("--only-downloads", action="store_true")
    parser.add_argument("--runs", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.only_downloads:
        args.skip_bomb = args.skip_concurrent = args.skip_in_a_row = True
    trees = {"new": ROOT} | ({"old": args.old.resolve()} if args.old else {})
    with tempfile.TemporaryDirectory(prefix="mlprod-memory-") as name:
        folder = Path(name)
        if not (args.skip_bomb and args.skip_concurrent and args.skip_in_a_row):
            bomb = write_bomb(folder / "runs.csv.gz", args.expanded_mb * 1_000_000)
            big = write_csv(folder / "runs195.csv", 195_000_000)
            medium = [write_csv(folder / f"runs60-{i}.csv", 60_000_000) for i in range(5)]
            print(json.dumps({"figure": "files", "bomb_mb": round(bomb.stat().st_size / 1e6, 1),
                              "bomb_expanded_mb": args.expanded_mb,
                              "big_mb": round(big.stat().st_size / 1e6)}), flush=True)  # fmt: skip
        for label, tree in trees.items():
            if not args.skip_bomb:
                scenario("bomb", tree, label, [[bomb]], folder)
            if not args.skip_concurrent:
                scenario("concurrent", tree, label, [[big], [big], [big]], folder)
            if not args.skip_in_a_row:
                scenario("in_a_row", tree, label, [medium], folder)
            if not args.skip_downloads:
                from tests.benchmarks.history import build

                history = folder / f"{label}-history.duckdb"
                build(history, args.runs)
                downloads(tree, label, history)


if __name__ == "__main__":
    main()
