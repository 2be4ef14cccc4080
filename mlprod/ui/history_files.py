"""The History page's downloads: made when clicked, block by block, within the server's
memory budget (``MLPROD_MEMORY_BUDGET``), and offered only when one fits in it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import streamlit as st

from mlprod import config
from mlprod.export import CsvOut, ParquetOut
from mlprod.store import HistoryFilter
from mlprod.ui.resources import history_key, store
from mlprod.ui.uploads import JOB_BYTES, memory_turn

__all__ = ["download_buttons", "history_file"]

#: What share of a history's CSV size its Parquet file takes (zstd; the runs of
#: tests/benchmarks/history.py).
PARQUET_SHARE = 0.3
_KINDS = {
    "csv": ("Download CSV", "text/csv", 1.0),
    "parquet": ("Download Parquet", "application/vnd.apache.parquet", PARQUET_SHARE),
}


@st.cache_data(show_spinner=False, max_entries=8)
def _bytes_per_run(database: str) -> float:
    return store().export_bytes_per_run()


def history_file(f: HistoryFilter, kind: str) -> Callable[[], bytes]:
    """The file of every run ``f`` keeps, made when the button is clicked: written block
    by block to a temporary file, in a turn of the memory budget (shared with scoring),
    so that only the finished file is ever held whole."""

    def make() -> bytes:
        with memory_turn(), tempfile.TemporaryFile() as spool:
            out = CsvOut(spool) if kind == "csv" else ParquetOut(spool)
            for block in store().export_blocks(f):
                out.write(block)
            out.close()
            spool.seek(0)
            return spool.read()

    return make


def _size(n: float) -> str:
    """A file size for people.

    >>> _size(2.4e9), _size(3.2e5)
    ('2.4 GB', '0.3 MB')
    """
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def download_buttons(f: HistoryFilter, runs: int, columns: list[Any], stem: str) -> None:
    """A download button per kind in ``columns``; or, where the file would not fit in one
    turn of the memory budget, what it would take and how to get it anyway."""
    per_run = _bytes_per_run(history_key())
    for column, (kind, (label, mime, share)) in zip(columns, _KINDS.items(), strict=True):
        size = runs * per_run * share
        if size > JOB_BYTES:
            column.caption(
                f"{label}: the {runs:,} runs would make a file of about {_size(size)}, more "
                f"than one download may hold on this server (memory budget "
                f"{_size(config.memory_budget())}). Narrow the filters, or export "
                "from a notebook: `mlprod.History().runs(...)`."
            )
            continue
        column.download_button(
            label,
            history_file(f, kind),
            f"{stem}.{kind}",
            mime,
            key=f"history-{kind}",
            icon=":material/download:",
            on_click="ignore",
        )
