"""Sign-in for real: an OpenID Connect provider on loopback, Chromium through "Sign in", a
save under the signed-in email, "Sign out". Nothing about ``st.user`` is mocked here."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.oidc_provider import OidcProvider, secrets_toml

from .conftest import Server, free_port, full_screenshot, wait_idle
from .test_reliability_browser import rows_in

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
            expect(page.get_by_text("ann@team.example")).to_be_visible()
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
