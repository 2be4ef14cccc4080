"""No page renders before ``app.py``: a cold deep link to any page asks to sign in first.

``pages/`` sits beside ``app.py``, so the first run of a fresh server takes Streamlit's
legacy multipage path and would run the linked page file alone (no navigation, sidebar or
sign-in). ``mlprod.ui.ensure_app_shell`` sends such a run back through ``app.py``; this
test is what fails if that ever stops working (a Streamlit upgrade, a page that forgets
the call, a page that renders something before it).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import Server, full_screenshot, wait_idle

pytestmark = pytest.mark.e2e

SECRETS = """
[auth]
redirect_uri = "http://127.0.0.1:8501/oauth2callback"
cookie_secret = "cookie-secret-for-tests-only-0123456789"

[auth.okta]
client_id = "id"
client_secret = "secret"
server_metadata_url = "https://example.invalid/.well-known/openid-configuration"
"""

# What each page shows once it runs: none of it may appear before sign-in.
PAGES = {
    "calculator": "Is this model worth what it costs?",
    "batch": "Batch scoring",
    "compare": "Model A vs model B",
    "history": "History",
}


@pytest.mark.parametrize("path", list(PAGES))
def test_a_cold_deep_link_asks_to_sign_in_before_any_page(browser, tmp_path, artifacts, path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(SECRETS)
    db = tmp_path / "history.duckdb"
    server = Server(db, tmp_path / "streamlit.log", "--secrets.files", str(secrets))
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{server.url}/{path}")  # the server's very first session
        wait_idle(page)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=20_000)
        wait_idle(page)
        full_screenshot(page, artifacts / f"cold-deep-link-{path}.png")
        heading = PAGES[path]
        assert not page.get_by_role("heading", name=heading, exact=True).count(), heading
        assert not page.locator('[data-testid="stSidebarNav"]').count()  # no page list
        assert not db.exists()  # no page ran: none opened the history
    finally:
        context.close()
        server.stop()
