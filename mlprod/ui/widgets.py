"""Widgets more than one page shows: charts in the house style, links, scored tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import altair as alt
import pandas as pd
import streamlit as st

from mlprod import config
from mlprod.charts import themed
from mlprod.errors import InvalidInput
from mlprod.quality import F1, KNOWN_METRICS, Metric, metric_named

__all__ = [
    "PRICED_COLUMNS",
    "SCORED_COLUMN_ORDER",
    "chart",
    "chart_spec",
    "chart_template",
    "filled",
    "metric_picker",
    "page_url",
    "scored_column_config",
    "shown_empty",
]

#: A scored table as a person reads it at 1280 px: which run, its ratios, then the rest;
#: the error (empty where there is none) and the long ids last.
#: How a run was priced, as the tables show it after the run's own columns.
PRICED_COLUMNS = [
    "gpu_model",
    "gpu_count",
    "price_per_gpu_hour",
    "price_kind",
    "price_provider",
    "price_as_of",
    "inference_mode",
]
SCORED_COLUMN_ORDER = [
    "line",
    "status",
    "run_name",
    "model_name",
    "cer",
    "ter",
    "psr",
    "f1",
    "training_cost",
    "inference_cost",
    "training_hours",
    "latency_ms",
    "error",
    "project",
    "tags",
    "created_at",
    "run_id",
    "notes",
    *PRICED_COLUMNS,
]


def shown_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing text shown as an empty cell (Streamlit writes a grey "None" in each).

    >>> shown_empty(pd.DataFrame({"a": ["x", None], "n": [1.0, None]}))["a"].tolist()
    ['x', '']

    Only text: a column of dates (objects too) keeps its gaps, or Streamlit could not
    send it as Arrow (it logged a traceback on every Score and sent it as text instead).
    """
    text = [
        c
        for c in frame.columns
        if (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]))
        and pd.api.types.infer_dtype(frame[c], skipna=True) in ("string", "empty")
    ]
    return frame.assign(**{c: frame[c].fillna("") for c in text}) if text else frame


class _Unvalidated:
    """A chart whose ``to_dict`` skips Altair's JSON-schema validation: the History charts'
    shapes are validated by the tests (tests/test_charts.py), and validating them again on
    every new filter was a large part of the page's run (browser.py)."""

    def __init__(self, figure: alt.TopLevelMixin) -> None:
        self._figure = figure

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        return self._figure.to_dict(**{**kwargs, "validate": False})


def chart_spec(figure: alt.TopLevelMixin, name: str = "chart") -> dict[str, Any]:
    """A chart in the house style as the Vega-Lite spec Streamlit sends, its data as Arrow:
    what ``st.altair_chart`` builds on every rerun, built once for a cache to keep.

    Its datasets are named ``name-0``, ``name-1``… in the order the chart uses them, not by
    a hash of their content: the same chart with other data is then the same spec, and the
    browser swaps the data into the chart it has drawn instead of building a new one."""
    try:  # Streamlit's own conversion (data as Arrow IPC, its lock on Altair's globals)
        from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec
    except ImportError:  # a Streamlit without it: the spec with its data inline
        return themed(figure).to_dict(validate=False)
    spec = _convert_altair_to_vega_lite_spec(_Unvalidated(themed(figure)))
    datasets = spec.pop("datasets", None) or {}
    text = json.dumps(spec)
    for i, old in enumerate(datasets):
        text = text.replace(json.dumps(old), json.dumps(f"{name}-{i}"))
    return {
        **json.loads(text),
        "datasets": {f"{name}-{i}": data for i, data in enumerate(datasets.values())},
    }


def _arrow(frames: Sequence[pd.DataFrame]) -> list[bytes]:
    """Each frame as the Arrow IPC bytes Streamlit sends (its own conversion)."""
    from streamlit import dataframe_util

    return [dataframe_util.convert_anything_to_arrow_bytes(f) for f in frames]


def chart_template(
    figure: alt.TopLevelMixin, frames: Sequence[pd.DataFrame], name: str
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """:func:`chart_spec` of a chart whose spec does not depend on its data, without the
    data: the spec, and for each of its datasets which of ``frames`` it is. Another filter
    then costs :func:`filled` (Arrow only), not Altair's work per chart (browser.py)."""
    spec = chart_spec(figure, name)
    arrow = _arrow(frames)
    order = tuple(arrow.index(data) for data in spec.pop("datasets").values())
    return spec, order


def filled(
    template: tuple[dict[str, Any], tuple[int, ...]], frames: Sequence[pd.DataFrame], name: str
) -> dict[str, Any]:
    """A :func:`chart_template` with these ``frames`` as its data (Arrow, as sent)."""
    spec, order = template
    arrow = _arrow(frames)
    return {**spec, "datasets": {f"{name}-{i}": arrow[j] for i, j in enumerate(order)}}


def chart(figure: alt.TopLevelMixin | dict[str, Any], key: str) -> None:
    """An Altair chart (or a :func:`chart_spec`) in the house style; Streamlit's own
    toolbar (save as PNG/SVG) stays. A rerun that changes only the chart's data redraws
    the data, not the chart."""
    spec = figure if isinstance(figure, dict) else chart_spec(figure, key)
    spec = {**spec, "datasets": dict(spec.get("datasets") or {})}  # drawing pops it
    st.vega_lite_chart(spec=spec, theme=None, key=key)


def page_url(params: dict[str, str]) -> str:
    """An absolute link to this page with ``params`` (relative when the URL is unknown)."""
    base = (getattr(st.context, "url", None) or "").split("?")[0]
    return f"{base}?{urlencode(params)}"


def scored_column_config(quality: str = "F1") -> dict[str, object]:
    """How a scored table reads: currency, significant digits, dates; the quality column
    and the ratios' help in the runs' metric (``quality``: ``Accuracy``, ``1 − WER``)."""
    ratio = st.column_config.NumberColumn
    return {
        "line": st.column_config.NumberColumn("Line", format="%d"),
        "status": st.column_config.TextColumn("Status"),
        "error": st.column_config.TextColumn("Error", width="large"),
        "f1": ratio(quality, format="%.4f"),
        "training_cost": ratio(f"Training cost ({config.currency()})", format="%.2f"),
        "inference_cost": ratio(f"Inference cost ({config.currency()})", format="%.2f"),
        "training_hours": ratio("Training h", format="%.4g"),  # minutes never read as 0.00
        "latency_ms": ratio("Latency ms", format="%.1f"),
        "cer": ratio("CER", format="%.4g", help=f"{quality} per currency unit"),
        "ter": ratio("TER", format="%.4g", help=f"{quality} per training hour"),
        "psr": ratio("PSR", format="%.4g", help=f"{quality} per ms of latency"),
        "created_at": st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD HH:mm"),
        "run_id": st.column_config.TextColumn("Run id", width="small"),
        "run_name": st.column_config.TextColumn("Run name"),
        "model_name": st.column_config.TextColumn("Model"),
        "project": st.column_config.TextColumn("Project"),
        "tags": st.column_config.TextColumn("Tags"),
        "notes": st.column_config.TextColumn("Notes"),
    }


#: The metrics a run can be scored on, F1 first; the last choice takes a team's own name.
METRIC_CHOICES = (*(m.label for m in KNOWN_METRICS), "Other (name it)")


def metric_picker(key: str) -> tuple[Metric, str | None]:
    """The quality metric a person picks (F1 first) and, for a name of their own that is
    refused (an unbounded one), why; F1 stands in meanwhile."""
    choice = st.selectbox(
        "Quality metric",
        METRIC_CHOICES,
        key=key,
        help="What the ratios divide. F1 by default; a lower-is-better error rate (WER, "
        "error rate) is scored as 1 − it; loss, RMSE and perplexity have no upper bound and "
        "are refused. See the Guide.",
    )
    if choice != METRIC_CHOICES[-1]:
        return KNOWN_METRICS[METRIC_CHOICES.index(choice)], None
    own = st.text_input("Metric name", key=f"{key}-name", placeholder="e.g. helpfulness (0 to 1)")
    try:
        return (metric_named(own) if own.strip() else F1), None
    except InvalidInput as exc:
        return F1, str(exc)
