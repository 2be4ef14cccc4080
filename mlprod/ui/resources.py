"""The process-wide history store and the cached answers of its history queries.

One ``Store`` per server process (``st.cache_resource``); query results are cached per
filter (``st.cache_data``) and cleared after every write, so nobody sees a stale history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import astuple, fields, is_dataclass, replace
from typing import Any

import pandas as pd
import streamlit as st

from mlprod import config
from mlprod.access import Person
from mlprod.errors import DatabaseError, NotAllowed
from mlprod.ingest.fields import TEXT_LIMITS
from mlprod.store import HistoryFilter, HistoryOverview, Store
from mlprod.text import md

__all__ = [
    "deleted_runs",
    "deletion_log",
    "energy_per_model",
    "filter_options",
    "follow_writes",
    "group_runs",
    "history_currencies",
    "history_key",
    "history_metrics",
    "history_overview",
    "history_rows",
    "history_summary",
    "search_runs",
    "store",
    "warm_png_export",
    "writing",
    "written",
]

#: How cached functions hash a HistoryFilter argument (its fields, in order).
BY_FILTER: dict[str | type[Any], Callable[[Any], Any]] = {HistoryFilter: astuple}


@st.cache_resource(show_spinner="Opening the history database…")
def _open_store(database: str) -> Store:
    # One connection per server process; Store hands every operation its own cursor.
    return Store(database)


def store() -> Store:
    """The process-wide history store; stops the page with a clear message if it can't open."""
    try:
        opened = _open_store(config.database())
    except DatabaseError as exc:
        st.error(md(exc), icon=":material/database:")
        st.stop()
        raise  # st.stop raises; this line keeps type checkers calm
    if opened.read_only:
        st.warning(
            f"The history database `{opened.database}` is read-only: you can look, but "
            "saving and deleting are off.",
            icon=":material/lock:",
        )
    return opened


@contextmanager
def writing() -> Iterator[Store]:
    """The store, for one write; a write the database refuses (read-only, locked, a
    concurrent change) is shown as a message and stops the page, never a traceback."""
    try:
        yield _open_store(config.database())
    except DatabaseError as exc:
        st.error(f"Nothing was saved. {md(exc)}", icon=":material/database:")
        st.stop()
    except NotAllowed as exc:  # the core's check: pages hide what a role may not do
        st.error(md(exc), icon=":material/block:")
        st.stop()


def written() -> None:
    """Call after every write: cached query results must not hide it from anyone."""
    st.cache_data.clear()


def history_key() -> str:
    """What the cached answers are keyed by: the database and how far its history has
    moved (another process's save or delete changes it: a CLI, a notebook, another
    replica; so nobody is shown a stale history): the number of batches and of deletes,
    counted again on a DuckDB file only when its size or time moved (two ``stat``
    calls per page run), on a server by one indexed lookup per page run."""
    database = config.database()
    return f"{database}#{_open_store(database).version()}"


def follow_writes() -> None:
    """Rerun the page when anyone writes to the history: a CLI, a notebook, another
    session or replica. The browser asks twice a second on a DuckDB file (its stamp: two
    ``stat`` calls), every 2 s on a server (two counts); only a change reruns the page."""
    drawn_for = history_key()
    every = 0.5 if _open_store(config.database()).backend == "duckdb" else 2.0

    @st.fragment(run_every=every)
    def watch() -> None:
        if history_key() != drawn_for:
            st.rerun(scope="app")

    watch()


# -- cached history queries: one function per question, keyed by database and filter ------

#: The longest text a page sends of a field without a limit of its own (an author, a group).
SHOWN_TEXT = 200


def within_limits(value: Any, limit: int = SHOWN_TEXT) -> Any:
    """``value`` (a frame, an overview, a dict or list of them, a name) with each text cut
    at its field's limit (``TEXT_LIMITS``; others at ``SHOWN_TEXT``) and marked "…": what a
    page sends stays bounded whatever the history held before the limits (one huge name
    made every History visit heavy for everyone; tests/e2e/test_inert_text_browser.py
    counts the bytes)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, pd.DataFrame):
        cut = {}
        for column in value.columns:
            texts = value[column]
            if texts.dtype.kind not in "OSU" and not pd.api.types.is_string_dtype(texts):
                continue
            limit = TEXT_LIMITS.get(str(column), SHOWN_TEXT)
            lengths = texts.str.len()
            if (lengths > limit).any():
                cut[column] = texts.where(~(lengths > limit), texts.str.slice(0, limit) + "…")
        return value.assign(**cut) if cut else value
    if isinstance(value, dict):
        return {k: within_limits(v, TEXT_LIMITS.get(str(k), SHOWN_TEXT)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(within_limits(v, limit) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(
            value, **{f.name: within_limits(getattr(value, f.name)) for f in fields(value)}
        )
    return value


@st.cache_data(ttl=900, max_entries=512, show_spinner=False, hash_funcs=BY_FILTER)
def _summary(database: str, f: HistoryFilter) -> dict[str, Any]:
    return within_limits(store().summary(f))


def history_summary(f: HistoryFilter) -> dict[str, Any]:
    """:meth:`Store.summary`, cached until anything is written."""
    return _summary(history_key(), f)


@st.cache_data(ttl=900, max_entries=512, show_spinner=False, hash_funcs=BY_FILTER)
def _overview(database: str, f: HistoryFilter, options: tuple[tuple[str, Any], ...]) -> Any:
    return within_limits(store().overview(f, **dict(options)))


def history_overview(
    f: HistoryFilter, *, f1_gap: float, budget: float, latency_ms: float
) -> HistoryOverview:
    """:meth:`Store.overview` without its table (see :func:`history_rows`), cached per
    filter and question until anything is written."""
    options = {"f1_gap": f1_gap, "budget": budget, "latency_ms": latency_ms, "table": False}
    return _overview(history_key(), f, tuple(sorted(options.items())))


@st.cache_data(ttl=900, max_entries=256, show_spinner=False, hash_funcs=BY_FILTER)
def _rows(database: str, f: HistoryFilter, page: int, page_size: int) -> pd.DataFrame:
    return within_limits(store().history_page(f, page=page, page_size=page_size))


def history_rows(f: HistoryFilter, *, page: int, page_size: int) -> pd.DataFrame:
    """One page of the table (``page`` from 0), cached per filter and page until anything
    is written: asked for after the charts are drawn (it is off their critical path: the
    browser draws them meanwhile), and another page or a new question asks nothing else
    again."""
    return _rows(history_key(), f, page, page_size)


@st.cache_data(ttl=900, max_entries=64, show_spinner=False, hash_funcs=BY_FILTER)
def _deleted(database: str, f: HistoryFilter, limit: int) -> pd.DataFrame:
    return within_limits(store().history_page(f, deleted=True, page_size=limit))


def deleted_runs(f: HistoryFilter, limit: int = 200) -> pd.DataFrame:
    """The newest deleted runs under a filter (restorable), cached until a write."""
    return _deleted(history_key(), f, limit)


@st.cache_data(ttl=900, show_spinner=False)
def _deletion_log(database: str, limit: int, who: Person | None) -> pd.DataFrame:
    return within_limits(store().deletion_log(limit=limit, who=who))


def deletion_log(who: Person | None, limit: int = 200) -> pd.DataFrame:
    """Who deleted or restored which run, and when (newest first), cached until a write;
    for admins (the store refuses anyone else)."""
    return _deletion_log(history_key(), limit, who)


@st.cache_data(ttl=900, show_spinner=False)
def _currencies(database: str) -> list[str]:
    return within_limits(store().currencies())


def history_currencies() -> list[str]:
    return _currencies(history_key())


@st.cache_data(ttl=900, max_entries=128, show_spinner=False, hash_funcs=BY_FILTER)
def _energy(database: str, f: HistoryFilter) -> pd.DataFrame:
    return within_limits(store().energy_per_model(f))


def energy_per_model(f: HistoryFilter) -> pd.DataFrame:
    """:meth:`Store.energy_per_model`, cached until anything is written."""
    return _energy(history_key(), f)


@st.cache_data(ttl=900, show_spinner=False)
def _metrics(database: str) -> dict[str, int]:
    return within_limits(store().metrics())


def history_metrics() -> dict[str, int]:
    """The quality metrics of the history's runs and their counts, most runs first."""
    return _metrics(history_key())


@st.cache_data(ttl=900, show_spinner=False)
def _filter_options(database: str) -> dict[str, list[str]]:
    return within_limits(store().filter_options())


def filter_options() -> dict[str, list[str]]:
    return _filter_options(history_key())


@st.cache_data(ttl=900, max_entries=128, show_spinner=False)
def _search(database: str, text: str, limit: int) -> pd.DataFrame:
    return within_limits(store().search(text, limit=limit))


def search_runs(text: str = "", *, limit: int = 200) -> pd.DataFrame:
    """:meth:`Store.search` (Compare's pickers ask it on every rerun, three times), cached
    until anything is written."""
    return _search(history_key(), text, limit)


@st.cache_data(ttl=900, max_entries=64, show_spinner=False, hash_funcs=BY_FILTER)
def _spread(database: str, f: HistoryFilter) -> pd.DataFrame:
    return within_limits(store().spread_per_group(f))


def spread_per_group(f: HistoryFilter) -> pd.DataFrame:
    """:meth:`Store.spread_per_group` (run-to-run spread), cached until anything is written."""
    return _spread(history_key(), f)


@st.cache_data(ttl=900, max_entries=128, show_spinner=False)
def _group_runs(database: str, group: str) -> pd.DataFrame:
    return within_limits(store().group_runs(group))


def group_runs(group: str) -> pd.DataFrame:
    """:meth:`Store.group_runs` (a Compare side's run-to-run spread, asked for
    both sides on every rerun: browser.py), cached until anything is written."""
    return _group_runs(history_key(), group)


@st.cache_resource(show_spinner=False)
def warm_png_export() -> threading.Thread:
    """Once per server process, on a thread of its own: start what the first Download PNG
    would otherwise wait for (:func:`mlprod.export.warm_up`)."""
    from mlprod.export import warm_up

    thread = threading.Thread(target=warm_up, name="mlprod-png-warm-up", daemon=True)
    thread.start()
    return thread
