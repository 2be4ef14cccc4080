"""Sign-in for real: an OpenID Connect provider on loopback, Chromium through "Sign in", a
save under the signed-in email, "Sign out". Nothing about ``st.user`` is mocked here."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.oidc_provider import OidcProvider, secrets_toml

from .conftest import Server, free_port, full_screenshot, rows_in, wait_idle

pytestmark = pytest.mark.e2e

ACCESS = """
[mlprod.access]
viewers = ["@team.example"]

[mlprod.access.editors]
"ann@team.example" = ["*"]
"""


def test_sign_in_save_and_sign_out_with_a_real_identity_provider(browser, tmp_path, artifacts):
    with OidcProvider(email="ann@team.example") as idp:
        port = free_port()
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(secrets_toml(idp, port, ACCESS))
        db = tmp_path / "history.duckdb"
        server = Server(db, tmp_path / "streamlit.log", "--secrets.files", str(secrets),
                        port=port)  # fmt: skip
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        page = context.new_page()
        try:
            page.goto(server.url)
            wait_idle(page)
            page.get_by_role("button", name="Sign in").click()
            # the provider's page answers at once and sends the browser back signed in
            expect(page.get_by_text("Signed in as")).to_be_visible(timeout=30_000)
            assert page.url.startswith(server.url)
            assert "/authorize" in idp.paths() and "/token" in idp.paths()
            asked = next(params for method, path, params in idp.seen if path == "/authorize")
            assert asked["client_id"] == ["mlprod-tests"]
            assert asked["redirect_uri"] == [f"http://127.0.0.1:{port}/oauth2callback"]
            # shown as typed; a word joiner (invisible) after the @ keeps it from being a link
            expect(page.get_by_text(re.compile("ann@\u2060?team\\.example"))).to_be_visible()
            assert not page.locator('a[href^="mailto:"]').count()
            assert not page.get_by_role("textbox", name="Your name").count()  # no name box

            wait_idle(page)
            page.get_by_role("button", name="Calculate").click()
            page.get_by_role("button", name="Save to history").click()
            expect(page.get_by_text("Saved to the history.")).to_be_visible(timeout=20_000)
            full_screenshot(page, artifacts / "signed-in.png")
            saved = rows_in_with_author(db)
            assert saved == [("ann@team.example",)]

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=20_000)
            assert not page.get_by_text("Signed in as").count()

            # A viewer of the team: looks, cannot save or delete (the core refuses too).
            idp.email = "eve@team.example"
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("(viewer)")).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Calculate").click()
            expect(page.get_by_text("saving needs the editor role")).to_be_visible()
            assert not page.get_by_role("button", name="Save to history").count()
            page.get_by_role("link", name="History").click()
            expect(page.get_by_text("deleting needs the editor role")).to_be_visible(timeout=30_000)
            full_screenshot(page, artifacts / "signed-in-viewer.png")
            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=20_000)

            # Anyone else the provider accepts gets nothing.
            idp.email = "mallory@elsewhere.example"
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("has no access to this dashboard")).to_be_visible(
                timeout=30_000
            )
            assert not page.get_by_role("button", name="Calculate").count()
        finally:
            context.close()
            server.stop()
    assert len(rows_in(db)) == 1


def rows_in_with_author(db):
    from mlprod.store import Store

    with Store(db) as s, s.cursor() as cur:
        return cur.execute("SELECT author FROM batches").fetchall()


UPLOAD_MB = 60
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _put(url: str, xsrf: str, data: bytes) -> int:
    boundary = "mlprodboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"runs.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()  # fmt: skip
    body += data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "X-Xsrftoken": xsrf, "Cookie": f"_streamlit_xsrf={xsrf}",
    })  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_sign_in_screen_keeps_no_upload(browser, tmp_path, artifacts):
    """A visitor who never signed in sends files straight to the upload endpoint with their
    own session's id: none is kept (5 x 60 MB held 300 MB of the server's memory)."""
    with OidcProvider(email="ann@team.example") as idp:
        port = free_port()
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(secrets_toml(idp, port, ACCESS))
        server = Server(tmp_path / "history.duckdb", tmp_path / "streamlit.log",
                        "--secrets.files", str(secrets), port=port)  # fmt: skip
        context = browser.new_context()
        page = context.new_page()
        frames: list[bytes] = []
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda f: frames.append(f if isinstance(f, bytes) else f.encode())
        ))  # fmt: skip
        try:
            page.goto(server.url)
            wait_idle(page)
            expect(page.get_by_role("button", name="Sign in")).to_be_visible()
            xsrf = next(c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf")
            seen = dict.fromkeys(m.decode() for f in frames for m in UUID.findall(f))
            # the one the server knows as a live session (the others are ids of scripts
            # and elements): a tiny upload tells
            session = next(s for s in seen
                           if _put(f"{server.url}/_stcore/upload_file/{s}/probe", xsrf, b"x")
                           == 204)  # fmt: skip
            before = _rss_mb(server.proc.pid)
            codes = [_put(f"{server.url}/_stcore/upload_file/{session}/f{n}", xsrf,
                          bytes(UPLOAD_MB * 1024 * 1024)) for n in range(5)]  # fmt: skip
            time.sleep(1.0)
            grown = _rss_mb(server.proc.pid) - before
        finally:
            context.close()
            server.stop()
    assert codes == [204] * 5  # Streamlit answers as usual; the page simply never has them
    assert grown < 150, f"server memory grew {grown:.0f} MB"
    log = (tmp_path / "streamlit.log").read_text()
    assert log.count("Refused an upload from a session that has not signed in") == 5 + 1
    (artifacts / "reliability.jsonl").open("a").write(
        f'{{"scenario": "uploads_before_sign_in", "mb_sent": 300, "rss_growth_mb": {grown:.0f}}}\n'
    )
