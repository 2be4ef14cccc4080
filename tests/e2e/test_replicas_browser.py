"""Many dashboard replicas on one history in PostgreSQL: real ``streamlit run`` processes,
a real PostgreSQL server, Chromium sessions, CLI savers, ``kill -9``, a server restart,
and Debian's nginx with the shipped config (docs/deploy/nginx.conf) in front.

Figures are appended to ``tests/artifacts/reliability.jsonl``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from mlprod.config import PROJECT_DIR
from mlprod.store import HistoryFilter, Store
from tests.benchmarks.run import generate

from .conftest import (
    Server,
    ann_deletes_what_she_ticked_after_bob,
    figure,
    free_port,
    good_run_ids,
    history_as,
    named,
    run_details,
    save_at_once,
    tick_first_row,
    upload_and_score,
    wait_idle,
)

pytestmark = pytest.mark.e2e

SESSIONS, SAVES = 8, 3


@contextmanager
def replicas(uri: str, folder: Path, n: int) -> Iterator[list[Server]]:
    """``n`` dashboard processes on the history at ``uri`` (started side by side)."""
    with ExitStack() as stack:
        started = []
        for i in range(n):
            server = Server(uri, folder / f"replica-{i}.log")  # type: ignore[arg-type]
            stack.callback(lambda s=server: s.proc.poll() is None and s.stop())
            started.append(server)
        yield started


def cli_save(path: Path, uri: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlprod", "score", str(path), "--save", "--db", uri,
         "-o", os.devnull, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_DIR,
    )  # fmt: skip


def calculate_and_save(page, session: int, f1: float) -> None:
    page.get_by_role("spinbutton", name="F1 score").fill(str(f1))
    page.get_by_role("button", name="Calculate").click()
    expect(page.get_by_text(f"session-{session}: F1 {f1:.3g}")).to_be_visible(timeout=60_000)


def open_sessions(browser, urls: list[str]) -> list:
    pages = []
    for s, url in enumerate(urls):
        page = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
        page.goto(url)
        wait_idle(page)
        named(page)
        run_details(page).fill(f"session-{s}")
        pages.append(page)
    return pages


def test_three_replicas_eight_sessions_and_two_cli_savers_each_save_lands_once(
    browser, pg_uri, tmp_path, artifacts
):
    files = []
    for n in range(2):
        path = tmp_path / f"cli-{n}.csv"
        generate(path, 50_000, seed=40 + n)
        files.append(path)
    with replicas(pg_uri, tmp_path, 3) as servers:
        pages = open_sessions(browser, [servers[s % 3].url for s in range(SESSIONS)])
        started = time.perf_counter()
        clis = [cli_save(path, pg_uri) for path in files]
        for i in range(SAVES):
            save_at_once(pages, round(0.5 + i / 100, 2))
        codes = [cli.wait(timeout=300) for cli in clis]
        seconds = time.perf_counter() - started
        # A save on one replica shows on another's History at once (no stale cache).
        history = pages[1]
        history.get_by_role("link", name="History").click()
        total = SESSIONS * SAVES + sum(len(good_run_ids(p)) for p in files)
        runs = history.locator('[data-testid="stMetric"]').filter(has_text="Runs")
        expect(runs).to_contain_text(f"{total:,}", timeout=60_000)
        for page in pages:
            page.context.close()
    assert codes == [1, 1], [c.stderr.read() for c in clis]  # 1: some rows have errors
    with Store(pg_uri) as s, s.cursor() as cur:
        saved = sorted(cur.execute(
            "SELECT model_name, f1 FROM calculations WHERE model_name LIKE 'session-%'"
        ).fetchall())  # fmt: skip
        per_file = dict(cur.execute(
            "SELECT b.file_name, count(*) FROM calculations c JOIN batches b "
            "ON b.batch_no = c.id / 1000000000 WHERE b.source = 'cli' GROUP BY b.file_name"
        ).fetchall())  # fmt: skip
        found = s.integrity()
    expected = sorted(
        (f"session-{s}", round(0.5 + i / 100, 2)) for s in range(SESSIONS) for i in range(SAVES)
    )
    assert saved == expected  # none lost, none doubled, across three processes
    assert per_file == {p.name: len(good_run_ids(p)) for p in files}
    assert found["broken_batches"] == 0 and found["rollup_mismatches"] == 0
    figure(artifacts, scenario="three_replicas_postgresql", sessions=SESSIONS, saves_each=SAVES,
           cli_rows=sum(per_file.values()), seconds=round(seconds, 1))  # fmt: skip


def _copying(uri: str, postgres) -> bool:
    """Whether some client is copying a batch into this database right now."""
    name = uri.rsplit("/", 1)[1]
    out = postgres.sql(
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND query LIKE 'COPY%' "
        "AND state = 'active'"
    )
    return int(out or 0) > 0


def _wait_for(check, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("the save never started copying rows")
        time.sleep(0.02)


def test_kill_9_of_a_replica_mid_batch_leaves_all_or_nothing_and_others_carry_on(
    browser, pg_uri, postgres, tmp_path, artifacts
):
    big = tmp_path / "big.csv"
    generate(big, 200_000, seed=5)
    with replicas(pg_uri, tmp_path, 2) as (doomed, survivor):
        victim, other = open_sessions(browser, [doomed.url, survivor.url])
        upload_and_score(victim, big)
        victim.get_by_role("button", name="to history").click()
        _wait_for(lambda: _copying(pg_uri, postgres))
        doomed.kill()
        calculate_and_save(other, 1, 0.77)
        other.get_by_role("button", name="Save to history").click()
        expect(other.get_by_text("Saved to the history.")).to_be_visible(timeout=60_000)
        victim.context.close()
        other.context.close()
    time.sleep(1)  # the server notices the dead client and rolls its transaction back
    with Store(pg_uri) as s:
        found = s.integrity()
        models = set(s.history_page(HistoryFilter(), page_size=10)["model_name"])
    assert found["broken_batches"] == 0 and found["rollup_mismatches"] == 0
    assert found["calculations"] in (1, 1 + len(good_run_ids(big)))  # all or nothing
    assert "session-1" in models
    figure(artifacts, scenario="replica_killed_mid_batch",
           batch_landed=found["calculations"] > 1)  # fmt: skip


def test_postgresql_restart_mid_batch_fails_that_save_cleanly_and_the_dashboard_reconnects(
    browser, tmp_path, artifacts
):
    from tests.pg_server import PostgresServer

    server = PostgresServer()  # its own: this test restarts it
    try:
        uri = server.database()
        big = tmp_path / "big.csv"
        generate(big, 200_000, seed=6)
        with replicas(uri, tmp_path, 1) as (dashboard,):
            (page,) = open_sessions(browser, [dashboard.url])
            calculate_and_save(page, 0, 0.61)
            page.get_by_role("button", name="Save to history").click()
            expect(page.get_by_text("Saved to the history.")).to_be_visible(timeout=60_000)
            cli = cli_save(big, uri)
            _wait_for(lambda: _copying(uri, server))
            server.restart()
            _, err = cli.communicate(timeout=120)
            assert cli.returncode != 0 and "Traceback" not in err
            assert re.search(r"lost|Cannot reach", err), err
            # The dashboard was not restarted: its next save reconnects by itself.
            calculate_and_save(page, 0, 0.62)
            page.get_by_role("button", name="Save to history").click()
            expect(page.get_by_text("Saved to the history.")).to_be_visible(timeout=60_000)
            page.context.close()
        with Store(uri) as s:
            found = s.integrity()
        assert found["calculations"] == 2 and found["broken_batches"] == 0
    finally:
        server.remove()
    figure(artifacts, scenario="postgresql_restart_mid_batch", cli_failed_cleanly=True)


def _nginx(config: Path, folder: Path, ports: list[int], listen: int) -> str:
    """The shipped config, pointed at these replicas and a loopback port, wrapped in a
    minimal main config that logs which replica served each request."""
    shipped = config.read_text()
    shipped = re.sub(r"(?m)^\s*server 127\.0\.0\.1:\d+;\n", "", shipped)
    upstreams = "".join(f"    server 127.0.0.1:{p};\n" for p in ports)
    shipped = shipped.replace("hash $mlprod_affinity consistent;\n",
                              "hash $mlprod_affinity consistent;\n" + upstreams)  # fmt: skip
    shipped = shipped.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    (folder / "mlprod.conf").write_text(shipped)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / sub).mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events {}\nhttp {\n"
        "  log_format replica '$cookie_mlprod_replica $upstream_addr $status $request';\n"
        f"  access_log {folder}/access.log replica;\n"
        f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
        f"  fastcgi_temp_path {folder}/fastcgi;\n  uwsgi_temp_path {folder}/uwsgi;\n"
        f"  scgi_temp_path {folder}/scgi;\n  include {folder}/mlprod.conf;\n}}\n"
    )


def test_through_nginx_with_affinity_a_browser_uploads_scores_saves_and_downloads(
    browser, pg_uri, tmp_path, artifacts
):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed: apt-get install -y nginx")
    runs = tmp_path / "runs.csv"
    generate(runs, 5_000, seed=9)
    folder = tmp_path / "nginx"
    folder.mkdir()
    with replicas(pg_uri, tmp_path, 2) as servers:
        port = free_port()
        main = folder / "nginx.conf"
        main.write_text(_nginx(PROJECT_DIR / "docs" / "deploy" / "nginx.conf", folder,
                               [s.port for s in servers], port))  # fmt: skip
        proxy = subprocess.Popen([nginx, "-c", str(main), "-g", "daemon off;"],
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            time.sleep(0.5)
            assert proxy.poll() is None, proxy.stderr.read() if proxy.stderr else ""
            contexts = [browser.new_context(viewport={"width": 1300, "height": 900},
                                            accept_downloads=True) for _ in range(4)]  # fmt: skip
            pages = [c.new_page() for c in contexts]
            for page in pages:
                page.goto(f"http://127.0.0.1:{port}/")
                wait_idle(page)
                named(page)
            page = pages[0]
            upload_and_score(page, runs)
            page.get_by_role("button", name="to history").click()
            expect(page.get_by_text("rows to the history (batch")).to_be_visible(timeout=120_000)
            with page.expect_download() as download:
                page.get_by_role("button", name="Download scored CSV").click()
            scored = Path(download.value.path()).read_text()
            assert scored.splitlines()[0].startswith('"run_id"') or "cer" in scored.splitlines()[0]
            assert len(scored.splitlines()) == 5_001
            for c in contexts:
                c.close()
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
    with Store(pg_uri) as s:
        assert s.integrity()["calculations"] == len(good_run_ids(runs))
    # Affinity: every request that carried a browser's cookie went to one replica.
    served: dict[str, set[str]] = {}
    for line in (folder / "access.log").read_text().splitlines():
        cookie, upstream, *_ = line.split(" ", 2)
        if cookie != "-" and upstream != "-":
            served.setdefault(cookie, set()).add(upstream)
    assert len(served) >= 4 and all(len(u) == 1 for u in served.values()), served
    used = {u for ups in served.values() for u in ups}
    figure(artifacts, scenario="nginx_affinity", browsers=len(served), replicas_used=len(used))


def test_the_shipped_nginx_config_with_sign_in_refuses_uploads_without_the_cookie(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    folder = tmp_path / "nginx"
    folder.mkdir()
    port, nobody = free_port(), free_port()  # no replica listens: a proxied request is 502
    shipped = PROJECT_DIR / "docs" / "deploy" / "nginx.conf"
    signed = tmp_path / "nginx-sign-in.conf"
    signed.write_text(
        shipped.read_text().replace(
            '    default 0;\n}\n\nmap "$mlprod_sign_in', '    default 1;\n}\n\nmap "$mlprod_sign_in'
        )
    )
    assert signed.read_text() != shipped.read_text()  # the documented switch was found
    main = folder / "nginx.conf"
    main.write_text(_nginx(signed, folder, [nobody], port))
    proxy = subprocess.Popen([nginx, "-c", str(main), "-g", "daemon off;"],
                             stderr=subprocess.PIPE, text=True)  # fmt: skip

    def put(path: str, cookie: str | None) -> int:
        headers = {"Cookie": f"_streamlit_user={cookie}"} if cookie else {}
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"x" * 1000,
                                         method="PUT", headers=headers)  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        time.sleep(0.5)
        assert proxy.poll() is None, proxy.stderr.read() if proxy.stderr else ""
        assert put("/_stcore/upload_file/session/file", None) == 403
        assert put("/_stcore/upload_file/session/file", "signed") == 502  # passed on
        assert put("/_stcore/health", None) == 502  # nothing else is refused
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def test_two_people_on_two_replicas_delete_only_the_run_they_ticked(browser, pg_uri, tmp_path):

    with replicas(pg_uri, tmp_path, 2) as (one, two):
        ann = history_as(browser, one.url, "ann", load_sample=True)
        bob = history_as(browser, two.url, "bob")
        with Store(pg_uri) as s:
            newest, second = s.history_page(HistoryFilter(), page_size=2).id.tolist()
        tick_first_row(ann)
        tick_first_row(bob)
        bob.get_by_role("button", name="Delete 1 selected").click()
        expect(bob.get_by_role("button", name="Undo delete")).to_be_visible(timeout=20_000)
        ann_deletes_what_she_ticked_after_bob(ann)
        for p in (ann, bob):
            p.context.close()
    with Store(pg_uri) as s:
        gone = s.history_page(HistoryFilter(), deleted=True, page_size=10)
        assert gone.id.tolist() == [newest] and set(gone.deleted_by) == {"bob"}
        assert second in s.history_page(HistoryFilter(), page_size=2).id.tolist()
        assert s.integrity()["rollup_mismatches"] == 0
