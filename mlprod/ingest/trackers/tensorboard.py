"""TensorBoard event files: each folder holding ``events.out.tfevents.*`` is a run (as
TensorBoard itself shows them), read with TensorBoard's own event-file loader.

Scalars are read per tag and step (``simple_value``, or a scalar tensor as TF2 writes it);
the run's duration is its last event's wall time minus its first; hyperparameters come
from the hparams plugin's session start (``add_hparams``: tensorboardX and PyTorch write
them in a folder of their own below the run's, which is folded into the run).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlprod.ingest.trackers import at_steps, number, rows_table
from mlprod.quality import Metric

__all__ = ["read_tensorboard", "run_folders"]

PATTERN = "events.out.tfevents.*"


def run_folders(paths: list[Path]) -> list[Path]:
    return sorted({event.parent.resolve() for path in paths for event in path.rglob(PATTERN)})


def _scalar(value: Any) -> float | None:
    """A scalar as logged: a float32 (``simple_value``, TF2's float tensors) to the 7
    digits it holds, so 0.8 reads 0.8, not 0.800000011920929."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(f"{value.simple_value:.7g}")
    if kind == "tensor":
        from tensorboard.util import tensor_util

        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1:
            return None
        found = number(array.item())
        return float(f"{found:.7g}") if found is not None and array.dtype.itemsize <= 4 else found
    return None


def _hparams(value: Any) -> dict[str, Any]:
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData()
    data.ParseFromString(value.metadata.plugin_data.content)
    if not data.HasField("session_start_info"):
        return {}
    out: dict[str, Any] = {}
    for name, given in data.session_start_info.hparams.items():
        kind = given.WhichOneof("kind")
        out[name] = getattr(given, kind) if kind else None
    return out


class _Run:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.hparams: dict[str, Any] = {}
        self.first: float | None = None
        self.last: float | None = None
        self.problem: str | None = None

    def read(self, folder: Path) -> None:
        from tensorboard.backend.event_processing.event_file_loader import (
            LegacyEventFileLoader,
        )

        for path in sorted(folder.glob(PATTERN)):
            try:
                for event in LegacyEventFileLoader(str(path)).Load():
                    self._take(event)
            except Exception as exc:  # a damaged or cut-off file: what was read stands
                self.problem = f"{path.name} cannot be read on ({type(exc).__name__}: {exc})"

    def _take(self, event: Any) -> None:
        if event.wall_time:
            self.first = min(self.first or event.wall_time, event.wall_time)
            self.last = max(self.last or event.wall_time, event.wall_time)
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                self.hparams.update(_hparams(value))
                continue
            found = _scalar(value)
            if found is not None:
                self.history.setdefault(value.tag, []).append((int(event.step), found))

    def row(self, root: Path, metric: Metric, best: bool) -> dict[str, Any]:
        name = (
            str(self.folder.relative_to(root))
            if self.folder.is_relative_to(root)
            else str(self.folder)
        )
        row: dict[str, Any] = {
            "run_id": name,
            "run_name": self.folder.name,
            "project": root.name,
            "start_time": datetime.fromtimestamp(self.first, UTC) if self.first else None,
            "training_hours": (self.last - self.first) / 3600
            if self.first and self.last and self.last > self.first
            else None,
        }
        row.update({f"params.{k}": v for k, v in self.hparams.items()})
        for tag, points in self.history.items():
            points.sort(key=lambda p: p[0])
            row[f"metrics.{tag}"] = points[-1][1]
        values, step = at_steps(self.history, metric, best=best)
        row.update({f"metrics.{k}": v for k, v in values.items()})
        row["metric_step"] = step
        if self.problem and not self.history:
            row["row_error"] = self.problem
        return row


def read_tensorboard(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    """One row per TensorBoard run under ``paths`` (see the module's docstring)."""
    folders = run_folders(paths)
    roots = [p.resolve() for p in paths]
    runs: dict[Path, _Run] = {}
    for folder in folders:
        run = _Run(folder)
        run.read(folder)
        parent = runs.get(folder.parent)
        if parent is not None and run.hparams:  # add_hparams' folder (its scalars repeat)
            parent.hparams.update(run.hparams)
            continue
        runs[folder] = run
    rows = []
    for folder, run in runs.items():
        root = next((r for r in roots if folder.is_relative_to(r)), folder.parent)
        rows.append(run.row(root if root != folder else folder.parent, metric, best))
    return rows_table(rows)
