"""History's table and answers: which columns show, how they read, the sample loader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from mlprod import config
from mlprod.charts import (
    best_chart,
    best_frame,
    frontier_dots,
    frontier_layers,
    trend_chart,
    trend_frame,
)
from mlprod.formatting import format_money, format_ratio
from mlprod.ingest import inspect, resolve_mapping, scored_batches
from mlprod.quality import metric_of
from mlprod.saving import save_batch
from mlprod.store import HistoryFilter, HistoryOverview
from mlprod.text import md
from mlprod.ui.resources import BY_FILTER, history_key, writing, written
from mlprod.ui.shell import person
from mlprod.ui.widgets import PRICED_COLUMNS, chart_template, filled, scored_column_config

__all__ = [
    "HISTORY_TABLE_COLUMNS",
    "answer_ids",
    "gone_meanwhile",
    "history_charts",
    "history_column_config",
    "load_sample_runs",
    "run_answer",
    "spread_columns",
    "taken_by_others",
    "ticked_runs",
]

HISTORY_TABLE_COLUMNS = [
    "answer",
    "created_at",
    "model_name",
    "run_name",
    "run_id",
    "project",
    "tags",
    "f1",
    "total_cost",
    "training_hours",
    "latency_ms",
    "cer",
    "ter",
    "psr",
    "quality_per_kwh",
    "energy_kwh",
    "co2_kg",
    "currency",
    "author",
    "source",
    *PRICED_COLUMNS,
    "requests_per_month",
    "cost_per_1k_requests",
    "months",
    "llm_model",
    "serving_gpu",
    "serving_gpus",
    "replicas",
    "hours_per_month",
    "notes",
]


@st.cache_resource(max_entries=32, show_spinner=False)
def _template(
    name: str, shape: tuple[str, ...], _build: Callable[[], Any], _frames: list[pd.DataFrame]
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """A History chart's spec without its data, built once per ``shape`` (what the spec
    depends on: a title, a bucket), from the first data it was asked for. Drawn on a
    canvas: SVG elements cost the browser time per dot on every visit (browser.py);
    Streamlit itself switches to a canvas only past 2,000 rows per chart."""
    spec, order = chart_template(_build(), _frames, name)
    return {**spec, "usermeta": {"embedOptions": {"renderer": "canvas"}}}, order


def _drawn(
    name: str, shape: tuple[str, ...], build: Callable[[], Any], frames: list[pd.DataFrame]
) -> dict[str, Any]:
    return filled(_template(name, shape, build, frames), frames, name)


@st.cache_data(ttl=900, max_entries=128, show_spinner=False, hash_funcs=BY_FILTER)
def _filter_charts(
    database: str, f: HistoryFilter, _view: HistoryOverview
) -> dict[str, dict[str, Any]]:
    """The trend and the best runs: they change with the filter only (``_view`` is not
    part of the key: it is the overview of this filter)."""
    trend, best, bucket = trend_frame(_view.trend), best_frame(_view.best), _view.bucket
    return {
        "history-trend": _drawn(
            "history-trend", (bucket,), lambda: trend_chart(trend, bucket), [trend]
        ),
        "history-best": _drawn("history-best", (), lambda: best_chart(best), [best]),
    }


@st.cache_data(ttl=900, max_entries=128, show_spinner=False, hash_funcs=BY_FILTER)
def _frontier_charts(
    database: str,
    f: HistoryFilter,
    answers: tuple[int, ...],
    symbol: str,
    _view: HistoryOverview,
) -> dict[str, dict[str, Any]]:
    """The two frontiers: they change with the filter and with which runs answer the two
    questions (highlighted), not with the questions' numbers themselves."""
    charts = {}
    quality = metric_of(f.metrics[0]).score_label if f.metrics else "F1"
    for x, title in (("total_cost", f"total cost ({symbol})"), ("latency_ms", "latency (ms)")):
        frames = [frontier_dots(_view.points, x=x, highlight=set(answers)), _view.frontiers[x]]

        def draw(frames: list[pd.DataFrame] = frames, title: str = title) -> alt.LayerChart:
            return frontier_layers(*frames, x_title=title, quality=quality)

        charts[f"history-frontier-{x}"] = _drawn(
            f"history-frontier-{x}", (title, quality), draw, frames
        )
    return charts


def answer_ids(view: HistoryOverview) -> set[int]:
    """The runs answering the page's two questions (starred in the table, highlighted on
    the frontiers)."""
    return {int(r["id"]) for r in (view.cheapest, view.best_under) if r}


def history_charts(
    f: HistoryFilter, view: HistoryOverview, *, symbol: str
) -> dict[str, dict[str, Any]]:
    """The History page's four charts as specs (Altair and its conversion cost ~0.2-0.4 s),
    each built once for what it shows and kept until anything is written: a new budget
    that names the same runs, or another page of the table, rebuilds none of them."""
    answers = tuple(sorted(answer_ids(view)))
    key = history_key()
    return {**_filter_charts(key, f, view), **_frontier_charts(key, f, answers, symbol, view)}


def spread_columns(spread: pd.DataFrame, quality: str = "F1") -> pd.DataFrame:
    """:meth:`Store.spread_per_group` as a person reads it: per measure (the quality named
    as the runs' metric), mean and min–max."""
    out = pd.DataFrame({"Group": spread["run_group"], "Runs": spread["runs"]})
    for measure in ("f1", "cer", "ter", "psr"):
        name = quality if measure == "f1" else measure.upper()
        out[f"{name} mean"] = spread[f"{measure}_mean"]
        out[f"{name} min"] = spread[f"{measure}_min"]
        out[f"{name} max"] = spread[f"{measure}_max"]
        out[f"{name} spread (±%)"] = (
            (spread[f"{measure}_max"] - spread[f"{measure}_min"]) / 2 / spread[f"{measure}_mean"]
        ) * 100
    return out


def history_column_config(quality: str = "F1") -> dict[str, object]:
    number = st.column_config.NumberColumn
    return {
        **scored_column_config(quality),
        "answer": st.column_config.TextColumn("★", help="answers a question above", width=30),
        "quality_per_kwh": number(
            f"{quality} per kWh", format="%.4g", help="where the energy was measured"
        ),
        "energy_kwh": number("Energy kWh", format="%.4g"),
        "co2_kg": number("CO2e kg", format="%.4g"),
        "total_cost": number("Total cost", format="%.2f"),
        "author": st.column_config.TextColumn("Saved by"),
        "source": st.column_config.TextColumn("Source"),
        "deleted_at": st.column_config.DatetimeColumn("Deleted", format="YYYY-MM-DD HH:mm"),
        "deleted_by": st.column_config.TextColumn("Deleted by"),
        "currency": st.column_config.TextColumn("Currency"),
        "gpu_model": st.column_config.TextColumn("GPU"),
        "gpu_count": number("GPUs", format="%g"),
        "price_per_gpu_hour": number("Price / GPU-h", format="%.3g"),
        "price_kind": st.column_config.TextColumn("Price"),
        "price_provider": st.column_config.TextColumn("Provider"),
        "price_as_of": st.column_config.DateColumn("Price as of"),
        "inference_mode": st.column_config.TextColumn("Inference from"),
        "requests_per_month": number("Requests / month", format="%.3g"),
        "cost_per_1k_requests": number("Cost / 1k requests", format="%.3g"),
        "months": number("Months", format="%g"),
    }


def run_answer(row: dict[str, Any], currency: str | None = "USD", quality: str = "F1") -> str:
    """One line naming a run that answers a question, with its numbers."""
    name = row.get("run_name") or row.get("run_id")
    if not name:  # a calculator save has neither: name it by its date, not our id
        created = row.get("created_at")
        name = (
            f"run of {pd.Timestamp(created):%Y-%m-%d %H:%M} UTC"
            if created is not None and pd.notna(created)
            else f"#{row['id']}"
        )
    total = float(row["training_cost"]) + float(row["inference_cost"])
    return (
        f"★ **{md(row.get('model_name') or 'run')}** · {md(name)} — "
        f"{quality} {float(row['f1']):.4g}, "
        f"{format_money(total, currency or 'USD')}{'' if currency else ' (as stored)'}, "
        f"{format_ratio(float(row['latency_ms']), 4)} ms"
    )


def load_sample_runs() -> int:
    """Store ``data/sample_runs.csv`` as one batch; returns the batch number."""
    path = config.PROJECT_DIR / "data" / "sample_runs.csv"
    inspection = inspect(path)
    with writing() as target:
        batch_no = save_batch(
            target,
            scored_batches(inspection, resolve_mapping(inspection)),
            source="sample",
            file=path,
            who=person(),
            again=True,
        )
    written()
    return batch_no


_NO_SELECTION: dict[str, dict[str, list[int]]] = {
    "selection": {"rows": [], "columns": [], "cells": []}
}


def ticked_runs(key: str, shown: list[int], shown_for: object) -> tuple[list[int], list[int], str]:
    """The runs ticked in the table ``key``, by id, and keep its ticks on those runs.

    The browser sends a selection as row positions in the table it drew. They are read
    against the ids of that table (kept from the run that drew it), never against rows
    fetched since: someone else's delete moves every row below it up one place. The
    ticks then follow their runs to their new places, and another filter, page or one's
    own write (``shown_for``) clears them.

    When the rows change under a tick, the new table gets a widget key of its own: a
    click on the old one (sent before the browser drew the new one, as when the page
    reruns by itself for someone else's write) then carries its ticks under the old key,
    which this run no longer reads, instead of positions read against rows it never
    showed (that deleted the run that had moved up). Returns the runs ticked, those of
    them no longer in the table (someone deleted them, or newer runs pushed them off the
    page), and the widget key to draw the table under.
    """
    drawn_key, drawn = st.session_state.get(f"{key}-drawn", (key, []))
    state = st.session_state.get(drawn_key) or _NO_SELECTION
    positions = list(state.get("selection", {}).get("rows", []))
    same_view = st.session_state.get(f"{key}-for") == shown_for
    picked = [drawn[i] for i in positions if 0 <= i < len(drawn)] if same_view else []
    widget = drawn_key
    if picked and list(shown) != drawn:
        fresh = st.session_state.get(f"{key}-fresh", 0) + 1
        st.session_state[f"{key}-fresh"] = fresh
        widget = f"{key}-{fresh}"
    where = {run: place for place, run in enumerate(shown)}
    now = [where[run] for run in picked if run in where]
    if widget != drawn_key or now != positions:
        st.session_state[widget] = {"selection": {"rows": now, "columns": [], "cells": []}}
    st.session_state[f"{key}-drawn"] = (widget, list(shown))
    st.session_state[f"{key}-for"] = shown_for
    return picked, [run for run in picked if run not in where], widget


def _by_whom(store: Any, runs: list[int], action: str) -> tuple[int, str]:
    """How many of ``runs`` were last ``action``-ed ("delete", "restore"), and "by WHO at
    WHEN" of one of them ("" when none was)."""
    changes = [c for c in store.last_changes(runs) if c["action"] == action]
    if not changes:
        return 0, ""
    last = changes[-1]
    when = pd.Timestamp(last["happened_at"])
    return len(changes), f"by {md(last['done_by'] or 'someone')} at {when:%Y-%m-%d %H:%M} UTC"


def gone_meanwhile(store: Any, gone: list[int]) -> str:
    """What to say about ticked runs that left the table since it was drawn."""
    if not gone:
        return ""
    deleted, by = _by_whom(store, gone, "delete")
    if not deleted:
        return (
            f"{len(gone)} ticked run(s) moved off this page (newer runs were saved); "
            "they are no longer ticked."
        )
    return (
        f"{deleted} ticked run(s) were deleted {by} meanwhile; they are no longer "
        "ticked and nothing else changed."
    )


def taken_by_others(store: Any, picked: list[int], changed: int, action: str) -> str:
    """What to say when a delete or restore changed fewer runs than were picked: who got
    there first, and when."""
    if changed >= len(picked):
        return ""
    done = "deleted" if action == "delete" else "restored"
    by = _by_whom(store, picked, action)[1] or "by someone else"
    return (
        f"{len(picked) - changed} of the {len(picked)} picked run(s) had already been "
        f"{done} {by}; nothing else was touched."
    )
