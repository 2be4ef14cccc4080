"""Streamlit glue: the shared database handle and widgets used by several pages.

The only mlprod module that imports streamlit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

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


def ensure_app_shell() -> None:
    """Send a page that Streamlit ran on its own back through ``app.py``.

    With a ``pages/`` folder beside ``app.py``, the very first run of a fresh server takes
    Streamlit's legacy multipage path: a deep link (``/batch``) then runs the page file
    alone, without our navigation and sidebar, and the server stays in that mode. Clearing
    the legacy flag and rerunning hands the run to ``st.navigation`` for good.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


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


def spill_upload(uploaded: UploadedFile) -> Path:
    """Write an upload to a temp file once per upload (pyarrow and DuckDB read paths)."""
    key = f"_upload-{uploaded.file_id}"
    path = st.session_state.get(key)
    if path is None or not Path(path).exists():
        suffix = "".join(Path(uploaded.name).suffixes[-2:]) or ".csv"
        folder = Path(tempfile.mkdtemp(prefix="mlprod-upload-"))
        path = folder / f"upload{suffix}"
        path.write_bytes(uploaded.getbuffer())
        st.session_state[key] = path
    return Path(path)


def max_upload_bytes() -> int:
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024


def scored_column_config() -> dict[str, object]:
    """How a scored table reads: currency, significant digits, dates."""
    ratio = st.column_config.NumberColumn
    return {
        "line": st.column_config.NumberColumn("Line", format="%d"),
        "status": st.column_config.TextColumn("Status"),
        "error": st.column_config.TextColumn("Error", width="large"),
        "f1": ratio("F1", format="%.4f"),
        "training_cost": ratio("Training cost", format="dollar"),
        "inference_cost": ratio("Inference cost", format="dollar"),
        "training_hours": ratio("Training h", format="%.2f"),
        "latency_ms": ratio("Latency ms", format="%.1f"),
        "cer": ratio("CER", format="%.4g", help="F1 per currency unit"),
        "ter": ratio("TER", format="%.4g", help="F1 per training hour"),
        "psr": ratio("PSR", format="%.4g", help="F1 per ms of latency"),
        "created_at": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD HH:mm"),
        "run_id": st.column_config.TextColumn("Run id"),
        "run_name": st.column_config.TextColumn("Run name"),
        "model_name": st.column_config.TextColumn("Model"),
        "project": st.column_config.TextColumn("Project"),
        "tags": st.column_config.TextColumn("Tags"),
        "notes": st.column_config.TextColumn("Notes"),
    }
