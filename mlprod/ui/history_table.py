"""History's table and answers: which columns show, how they read, the sample loader."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mlprod import config
from mlprod.charts import best_chart, frontier_chart, trend_chart
from mlprod.explain import format_money, format_ratio, md
from mlprod.ingest import inspect, resolve_mapping, scored_batches
from mlprod.saving import save_batch
from mlprod.store import HistoryFilter
from mlprod.ui.resources import _BY_FILTER, history_key, history_overview, writing, written
from mlprod.ui.shell import author
from mlprod.ui.widgets import chart_spec, scored_column_config

__all__ = ["HISTORY_TABLE_COLUMNS", "history_charts", "history_column_config",
           "load_sample_runs", "run_answer", "spread_columns"]  # fmt: skip

HISTORY_TABLE_COLUMNS = [
    "answer", "created_at", "model_name", "run_name", "run_id", "project", "tags", "f1",
    "total_cost", "training_hours", "latency_ms", "cer", "ter", "psr", "currency", "author",
    "source", "gpu_model", "gpu_count", "price_per_gpu_hour", "price_kind", "price_provider",
    "price_as_of", "inference_mode", "requests_per_month", "cost_per_1k_requests", "months",
    "llm_model", "serving_gpu", "serving_gpus", "replicas", "hours_per_month", "notes",
]  # fmt: skip


@st.cache_data(ttl=900, max_entries=128, show_spinner=False, hash_funcs=_BY_FILTER)
def _charts(
    database: str, f: HistoryFilter, options: tuple[tuple[str, Any], ...], symbol: str
) -> dict[str, dict[str, Any]]:
    view = history_overview(f, **dict(options))
    answers = {int(r["id"]) for r in (view.cheapest, view.best_under) if r}
    total = view.summary["runs"]
    charts = {"history-trend": trend_chart(view.trend, view.bucket)}
    for x, title in (("total_cost", f"total cost ({symbol})"), ("latency_ms", "latency (ms)")):
        charts[f"history-frontier-{x}"] = frontier_chart(
            view.points, view.frontiers[x], x=x, x_title=title, total=total, highlight=answers
        )
    charts["history-best"] = best_chart(view.best)
    return {key: chart_spec(chart) for key, chart in charts.items()}


def history_charts(
    f: HistoryFilter, *, symbol: str, f1_gap: float, budget: float, latency_ms: float,
    page: int, page_size: int,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The History page's four charts as specs, built once per filter and question (Altair
    and its conversion cost ~0.2 s a visit) and kept until anything is written."""
    options = {"f1_gap": f1_gap, "budget": budget, "latency_ms": latency_ms, "page": page,
               "page_size": page_size}  # fmt: skip
    return _charts(history_key(), f, tuple(sorted(options.items())), symbol)


def spread_columns(spread: pd.DataFrame) -> pd.DataFrame:
    """:meth:`Store.spread_per_group` as a person reads it: per measure, mean and min–max."""
    out = pd.DataFrame({"Group": spread["run_group"], "Runs": spread["runs"]})
    for measure in ("f1", "cer", "ter", "psr"):
        name = measure.upper()
        out[f"{name} mean"] = spread[f"{measure}_mean"]
        out[f"{name} min"] = spread[f"{measure}_min"]
        out[f"{name} max"] = spread[f"{measure}_max"]
        out[f"{name} spread (±%)"] = (
            (spread[f"{measure}_max"] - spread[f"{measure}_min"]) / 2 / spread[f"{measure}_mean"]
        ) * 100
    return out


def history_column_config() -> dict[str, object]:
    number = st.column_config.NumberColumn
    return {
        **scored_column_config(),
        "answer": st.column_config.TextColumn("★", help="answers a question above", width=30),
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


def run_answer(row: dict[str, Any], currency: str | None = "USD") -> str:
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
        f"F1 {float(row['f1']):.4g}, "
        f"{format_money(total, currency or 'USD')}{'' if currency else ' (as stored)'}, "
        f"{format_ratio(float(row['latency_ms']), 4)} ms"
    )


def load_sample_runs() -> int:
    """Store ``data/sample_runs.csv`` as one batch; returns the batch number."""
    path = config.PROJECT_DIR / "data" / "sample_runs.csv"
    inspection = inspect(path)
    with writing() as target:
        batch_no = save_batch(
            target, scored_batches(inspection, resolve_mapping(inspection)),
            source="sample", file=path, author=author(), again=True,
        )  # fmt: skip
    written()
    return batch_no
