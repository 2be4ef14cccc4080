"""``mlprod ui`` from an installed copy (a wheel in a fresh virtual environment), started
from an unrelated folder: the same dashboard as ``streamlit run app.py`` in a clone."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request

import duckdb
import pytest
from playwright.sync_api import expect

from tests.installed import tree

from .conftest import free_port, full_screenshot, named, wait_idle

pytestmark = pytest.mark.e2e


def test_mlprod_ui_serves_the_dashboard_from_any_folder(installed, page, tmp_path, artifacts):
    before = tree(installed.site_packages)
    db = tmp_path / "ours.duckdb"
    port = free_port()
    log = (tmp_path / "ui.log").open("w")
    server = subprocess.Popen(
        [str(installed.bin / "mlprod"), "ui", "--port", str(port), "--address", "127.0.0.1",
         "--db", str(db)],
        cwd=tmp_path, env=installed.env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    assert answer.read() == b"ok"
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlprod ui did not start: {(tmp_path / 'ui.log').read_text()}")
                time.sleep(0.3)
        page.goto(url)
        wait_idle(page)
        named(page)
        expect(page.get_by_text("0.00075", exact=True)).to_be_visible()  # the calculator
        page.get_by_role("button", name="Save to history").click()
        expect(page.get_by_text("Saved to the history.")).to_be_visible()
        page.goto(f"{url}/history")
        wait_idle(page)
        expect(page.get_by_text("1 run", exact=False).first).to_be_visible()
        full_screenshot(page, artifacts / "installed-history.png")
        assert not page.get_by_text(re.compile("Traceback|No such file|cost table")).count()
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM calculations").fetchone()[0] == 1
    said = (tmp_path / "ui.log").read_text()
    assert "mlprod dashboard on http://127.0.0.1" in said
    assert f"URL: http://127.0.0.1:{port}" in said and "b'" not in said  # Streamlit's words
    # A quiet start: no warning for each cached query defined before the server runs, no
    # traceback in normal use (a Score logged pyarrow's "Conversion failed" once).
    assert "No runtime found" not in said and "Traceback" not in said, said
    assert tree(installed.site_packages) == before
    assert not (installed.home / ".local" / "share" / "mlprod").exists()  # --db was used
