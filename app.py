"""mlprod: is this model worth what it costs? The router of the multi-page dashboard."""

import streamlit as st

from mlprod import ui

st.set_page_config(
    page_title="mlprod · ML training productivity",
    page_icon=":material/speed:",
    layout="wide",
)

ui.require_sign_in()  # only when .streamlit/secrets.toml has an [auth] section

page = st.navigation(
    [
        st.Page(
            "pages/calculator.py", title="Calculator", icon=":material/calculate:", default=True
        ),
        st.Page("pages/batch.py", title="Batch scoring", icon=":material/upload_file:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
    ]
)
ui.sidebar()
ui.check_cost_tables()
page.run()
