"""Runs from the files trackers leave on disk: no server, no account.

Each module reads one tracker's files into rows of runs, in the columns a file of runs has
(``run_id``, ``run_name``, ``project``, ``state``, ``start_time``/``end_time`` or
``training_hours``, ``gpu_model``, ``gpu_count``, ``metrics.*``, ``params.*``) and the
command scores them as a file (:func:`mlprod.cli.batch._import_runs`). A run's quality is
read at its best step in the metric's direction (or its last, ``best=False``) wherever the
tracker keeps a metric history; the step is kept in ``metric_step``. A run a file could
not be read for carries the reason in ``row_error``: a row error, never a stop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from mlprod.ingest.fields import normalize_header, synonyms_for
from mlprod.quality import Metric

__all__ = ["History", "at_steps", "number", "rows_table"]

#: A metric's history: (step, value) in the order logged.
History = Sequence[tuple[int, float]]


def number(value: Any) -> float | None:
    """A finite number, or None (text, NaN, a boolean)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _quality_keys(keys: Iterable[str], metric: Metric) -> list[str]:
    """The keys that hold ``metric`` (as logged: ``val/f1``), in the order the mapping
    prefers their names."""
    names = synonyms_for(metric)["f1"]
    rank = {name: i for i, name in enumerate(names)}
    found = [(rank[normalize_header(k)], k) for k in keys if normalize_header(k) in rank]
    return [k for _, k in sorted(found)]


def at_steps(
    histories: Mapping[str, History], metric: Metric, *, best: bool = True
) -> tuple[dict[str, float], int | None]:
    """Each history of ``metric`` (under any of its names) at its best step in the
    metric's direction (ties: the earliest step), or at its last step; and the step of the
    one a mapping reads first. Other metrics are not touched."""
    values: dict[str, float] = {}
    step = None
    for key in _quality_keys(histories, metric):
        points = [(s, v) for s, v in histories[key] if v == v]  # no NaN
        if not points:
            continue
        if not best:
            picked = points[-1]
        elif metric.lower_is_better:
            picked = min(points, key=lambda p: (p[1], p[0]))
        else:
            picked = max(points, key=lambda p: (p[1], -p[0]))
        values[key] = picked[1]
        if step is None:
            step = picked[0]
    return values, step


def rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of runs as Arrow: ``metrics.*``, ``training_hours``, ``gpu_count`` and the
    energy as numbers, ``metric_step`` as an integer, times as UTC timestamps, the rest
    text."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in ("start_time", "end_time", "created_at"):
            columns[name] = pa.array(
                [v if isinstance(v, datetime) or v is None else None for v in values],
                pa.timestamp("us", tz="UTC"),
            )
        elif name == "metric_step":
            columns[name] = pa.array(values, pa.int64())
        elif name.startswith("metrics.") or name in _NUMBERS:
            columns[name] = pa.array([number(v) for v in values], pa.float64())
        else:
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    if not rows:
        columns = {"run_id": pa.array([], pa.string())}
    return pa.table(columns)


_NUMBERS = frozenset(
    (
        "training_hours",
        "latency_ms",
        "energy_kwh",
        "co2_kg",
        "samples",  # what an evaluation's files give (mlprod.ingest.evals)
        "tokens_in",
        "tokens_out",
        "tokens_cached",
        "tool_cost",
        "inference_cost",
    )
)
