"""mlprod: is this model worth what it costs? The router of the multi-page dashboard."""

import streamlit as st

from mlprod import ui
from mlprod.errors import DatabaseError
from mlprod.text import md
from mlprod.ui.uploads import guard_uploads, remove_stale_uploads_once

st.set_page_config(
    page_title="mlprod · ML training productivity",
    page_icon=ui.favicon(),  # drawn on the server: no icon fetched from the internet
    layout="wide",
)

# Before sign-in the page list is hidden: a cold deep link's first run may have shown
# Streamlit's legacy one (see ui.ensure_app_shell), and only st.navigation replaces it.
page = st.navigation(
    position="hidden" if ui.needs_sign_in() else "sidebar",
    pages=[
        st.Page(
            "pages/calculator.py", title="Calculator", icon=":material/calculate:", default=True
        ),
        st.Page("pages/batch.py", title="Batch scoring", icon=":material/upload_file:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
        st.Page("pages/guide.py", title="Guide", icon=":material/menu_book:", url_path="guide"),
    ],
)
guard_uploads(ui.sign_in_on())  # with sign-in on, no upload is kept before it
ui.require_sign_in()  # only when .streamlit/secrets.toml has an [auth] section
ui.sidebar()
ui.check_cost_tables()
remove_stale_uploads_once()  # copies of uploads left by a server that was killed
try:
    page.run()
except DatabaseError as exc:  # e.g. a database server that went away mid-page
    st.error(md(exc), icon=":material/database:")
