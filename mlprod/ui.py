"""Streamlit glue: the shared database handle and widgets used by several pages.

The only mlprod module that imports streamlit.
"""

from __future__ import annotations

import streamlit as st

from mlprod import config
from mlprod.errors import DatabaseError
from mlprod.explain import format_ratio, readable
from mlprod.metrics import Ratios
from mlprod.store import Store

__all__ = ["author", "ratio_cards", "sidebar", "store"]

AUTHOR_KEY = "sidebar-author"


@st.cache_resource(show_spinner="Opening the history database…")
def _open_store(database: str) -> Store:
    # One connection per server process; Store hands every operation its own cursor.
    return Store(database)


def store() -> Store:
    """The process-wide history store; stops the page with a clear message if it can't open."""
    try:
        return _open_store(config.database())
    except DatabaseError as exc:
        st.error(str(exc), icon=":material/database:")
        st.stop()
        raise  # st.stop raises; this line keeps type checkers calm


def author() -> str | None:
    """The name entered in the sidebar, or None."""
    name = str(st.session_state.get(AUTHOR_KEY) or "").strip()
    return name or None


def sidebar() -> None:
    """Who is working, and which database they are working on."""
    with st.sidebar:
        st.text_input(
            "Your name",
            key=AUTHOR_KEY,
            placeholder="e.g. Ada",
            help="Stored with every calculation you save, so the team knows who ran what.",
        )
        st.caption(f"History database: `{config.database()}`")


def ratio_cards(ratios: Ratios, currency: str, formulas: dict[str, str]) -> None:
    """Three metrics, each with its raw value, a readable form and its formula."""
    words = readable(ratios, currency)
    meaning = {"cer": "Cost efficiency", "ter": "Time efficiency", "psr": "Performance over speed"}
    for column, name in zip(st.columns(3), ("cer", "ter", "psr"), strict=True):
        with column:
            st.metric(
                name.upper(),
                format_ratio(getattr(ratios, name), 3),
                help=formulas[name],
                border=True,
            )
            st.caption(f"**{meaning[name]}**: {words[name]}")
