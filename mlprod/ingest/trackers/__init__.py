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
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlprod.errors import BadFile
from mlprod.ingest.fields import normalize_header, synonyms_for
from mlprod.quality import Metric

__all__ = ["TRACKERS", "History", "Tracker", "at_steps", "number", "rows_table"]

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


_NUMBERS = frozenset(("training_hours", "latency_ms", "energy_kwh", "co2_kg"))


@dataclass(frozen=True)
class Tracker:
    """One tracker's files: what they are, where each field comes from, and the reader
    (``module:function``, imported when used: a tracker's reader may need a package
    only its command loads)."""

    what: str
    paths: str
    fed: str
    reader: str
    #: Its key in :data:`mlprod.ingest.fields.FORMATS`.
    format: str

    def read(self, paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
        module, _, function = self.reader.partition(":")
        read = getattr(import_module(f"mlprod.ingest.trackers.{module}"), function)
        try:
            return read(paths, metric, best=best) if module != "codecarbon" else read(paths)
        except ModuleNotFoundError as exc:  # an installed mlprod without the extra
            raise BadFile(
                f"Reading {self.what} needs the package '{exc.name}': "
                f"pip install 'mlprod[{exc.name}]'."
            ) from None


#: The trackers ``mlprod import NAME PATH`` reads from disk, by command name.
TRACKERS: dict[str, Tracker] = {
    "wandb": Tracker(
        "W&B run folders (offline runs, and runs that ran online or were synced)",
        "wandb/ folders, or run folders",
        "metrics, config, state and runtime from each run's run-*.wandb log (and "
        "files/wandb-summary.json); GPU model and count from the log's system info or "
        "files/wandb-metadata.json; config from files/config.yaml",
        "wandb:read_wandb",
        "wandb-runs",  # "wandb" is W&B's runs-table export
    ),
    "tensorboard": Tracker(
        "TensorBoard event files (each folder of events.out.tfevents.* is a run)",
        "log folders",
        "scalars per tag and step and the hparams from the event files; training hours "
        "from the first to the last event's wall time",
        "tensorboard:read_tensorboard",
        "tensorboard",
    ),
    "trainer": Tracker(
        "Hugging Face Trainer output (trainer_state.json)",
        "output folders",
        "evaluation metrics per step, train_runtime and the evaluation's time per sample "
        "from trainer_state.json; the model from config.json",
        "files:read_trainer",
        "trainer",
    ),
    "lightning": Tracker(
        "Lightning CSVLogger folders (version_N/metrics.csv and hparams.yaml)",
        "log folders",
        "metrics per step from metrics.csv; hyperparameters from hparams.yaml; no clock "
        "(give --set training_hours)",
        "files:read_lightning",
        "lightning",
    ),
    "dvc": Tracker(
        "DVC experiments (the output of `dvc exp show --json`)",
        "JSON files",
        "params and metrics of each commit and experiment, and its timestamp; no duration "
        "(a metric or --set gives the training hours)",
        "files:read_dvc",
        "dvc",
    ),
    "mlruns": Tracker(
        "an MLflow file store (mlruns/), without a server",
        "mlruns folders",
        "meta.yaml (name, state, start and end), metrics/ (every step), params/ and tags/",
        "files:read_mlruns",
        "mlruns",
    ),
    "codecarbon": Tracker(
        "CodeCarbon's emissions.csv, as runs of their own",
        "emissions.csv files",
        "duration, energy_consumed (kWh), emissions (kg CO2e), GPU model and count from "
        "emissions.csv; the quality and costs from --set or --map",
        "codecarbon:read_codecarbon",
        "codecarbon",
    ),
}
