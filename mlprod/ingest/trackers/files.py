"""Trackers whose runs are plain files: Hugging Face Trainer state, Lightning's CSVLogger,
DVC experiments and an MLflow file store (``mlruns/``).

- **Trainer** (``trainer_state.json``, ``Trainer.save_state()`` and every checkpoint):
  ``log_history`` holds the evaluations per step (``eval_f1``, ``eval_accuracy``...) and
  the training's own ``train_runtime`` (seconds); latency is the evaluation's time per
  sample (1,000 / ``eval_samples_per_second`` ms). The model is the ``config.json``
  beside it or in the last checkpoint (``_name_or_path``, else its architecture). A
  checkpoint's own state is the same run: only the newest state of a folder is read.
- **Lightning** (``CSVLogger``: ``<name>/version_N/metrics.csv`` and ``hparams.yaml``):
  one run per version folder; a metric's history is its column by ``step``. The CSV
  keeps no clock: give the training hours (``--set training_hours=...``) unless a column
  holds them.
- **DVC** (``dvc exp show --json``): one run per commit and experiment, its params and
  metrics flattened (``train.lr``, ``val.f1``), its timestamp; the workspace is left out
  (it repeats the last run). DVC keeps no duration either.
- **MLflow file store** (``mlruns/<experiment>/<run>/``: ``meta.yaml``, ``metrics/<key>``
  as ``timestamp value step`` lines, ``params/``, ``tags/``): each run with its state,
  start and end, and every metric's history.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlprod.ingest.trackers import at_steps, number, rows_table
from mlprod.quality import Metric

__all__ = ["read_dvc", "read_lightning", "read_mlruns", "read_trainer"]


def _relative(path: Path, roots: list[Path]) -> str:
    for root in roots:
        if path.is_relative_to(root):
            return str(path.relative_to(root)) or path.name
    return str(path)


def _yaml(path: Path) -> tuple[Any, str | None]:
    import yaml

    try:
        return yaml.safe_load(path.read_text()), None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, f"{path.name} cannot be read ({type(exc).__name__})"


def _json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text()), None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path.name} cannot be read as JSON ({exc}); is it cut short?"


def _flat(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested settings as ``a.b`` keys (``{"val": {"f1": 0.9}}`` is ``val.f1``)."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            yield f"{prefix}{key}", value


def _with_history(
    row: dict[str, Any], history: dict[str, list[tuple[int, float]]], metric: Metric, best: bool
) -> dict[str, Any]:
    for key, points in history.items():
        row[f"metrics.{key}"] = points[-1][1]
    values, step = at_steps(history, metric, best=best)
    row.update({f"metrics.{k}": v for k, v in values.items()})
    row["metric_step"] = step
    return row


# -- Hugging Face Trainer ---------------------------------------------------------------------


def _trainer_model(folder: Path) -> str | None:
    configs = [folder / "config.json", *sorted(folder.glob("checkpoint-*/config.json"))]
    for config in reversed([c for c in configs if c.is_file()]):
        data, _ = _json(config)
        if isinstance(data, dict):
            name = data.get("_name_or_path") or next(iter(data.get("architectures") or []), None)
            return str(name) if name else data.get("model_type")
    return None


def _step_of(state: Path) -> int:
    return int(number(state.parent.name.rpartition("-")[2]) or 0)


def _newest_states(paths: list[Path]) -> dict[Path, Path]:
    """Each run folder's newest ``trainer_state.json``: its own, else its last
    checkpoint's (a checkpoint's state is the same run, earlier)."""
    states = sorted({s.resolve() for p in paths for s in p.rglob("trainer_state.json")})
    newest: dict[Path, Path] = {}
    for state in states:
        in_checkpoint = state.parent.name.startswith("checkpoint-")
        folder = state.parent.parent if in_checkpoint else state.parent
        known = newest.get(folder)
        own = known is not None and known.parent == folder
        if known is None or (not own and (not in_checkpoint or _step_of(state) > _step_of(known))):
            newest[folder] = state
    return newest


def _trainer_log(
    log: list[Any],
) -> tuple[dict[str, list[tuple[int, float]]], float | None, float | None]:
    """``log_history``: each evaluation metric by step, the training's runtime (s) and the
    evaluation's milliseconds per sample."""
    history: dict[str, list[tuple[int, float]]] = {}
    runtime = latency = None
    for entry in log:
        step = int(entry.get("step") or 0)
        for key, value in entry.items():
            if key in ("step", "epoch") or (found := number(value)) is None:
                continue
            if key == "train_runtime":
                runtime = found
            elif key == "eval_samples_per_second" and found > 0:
                latency = 1000 / found
            elif key.startswith("eval_") and not key.endswith(("_runtime", "_per_second")):
                history.setdefault(key, []).append((step, found))
    return history, runtime, latency


def read_trainer(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    roots = [p.resolve() for p in paths]
    rows = []
    for folder, state in sorted(_newest_states(paths).items()):
        data, problem = _json(state)
        row: dict[str, Any] = {"run_id": _relative(folder, roots), "run_name": folder.name}
        if problem or not isinstance(data, dict) or not isinstance(data.get("log_history"), list):
            rows.append({**row, "row_error": problem or f"{state.name} has no log_history."})
            continue
        history, runtime, latency = _trainer_log(data["log_history"])
        row |= {
            "model_name": _trainer_model(folder),
            "training_hours": runtime / 3600 if runtime else None,
            "latency_ms": latency,
            "state": "finished" if runtime else "running",
            "start_time": datetime.fromtimestamp(state.stat().st_mtime - (runtime or 0), UTC),
        }
        rows.append(_with_history(row, history, metric, best))
    return rows_table(rows)


# -- Lightning CSVLogger ----------------------------------------------------------------------


def read_lightning(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    roots = [p.resolve() for p in paths]
    files = sorted({m.resolve() for p in paths for m in p.rglob("metrics.csv")})
    rows = []
    for path in files:
        folder = path.parent
        row: dict[str, Any] = {
            "run_id": _relative(folder, roots),
            "run_name": f"{folder.parent.name}/{folder.name}",
            "project": folder.parent.name,
        }
        hparams, problem = (
            _yaml(folder / "hparams.yaml") if (folder / "hparams.yaml").is_file() else ({}, None)
        )
        if isinstance(hparams, dict):
            row |= {f"params.{k}": v for k, v in _flat(hparams)}
        history: dict[str, list[tuple[int, float]]] = {}
        try:
            with path.open(newline="") as fh:
                for line in csv.DictReader(fh):
                    step = int(number(line.get("step")) or 0)
                    for key, value in line.items():
                        if key in ("step", "epoch") or key is None:
                            continue
                        if (found := number(value)) is not None:
                            history.setdefault(key, []).append((step, found))
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
            problem = f"{path.name} cannot be read ({exc})"
        if problem:
            row["row_error"] = problem
        row["start_time"] = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        rows.append(_with_history(row, history, metric, best))
    return rows_table(rows)


# -- DVC experiments -----------------------------------------------------------------------------


def _dvc_entries(data: Any) -> Iterator[dict[str, Any]]:
    """Every commit and experiment of ``dvc exp show --json`` (the workspace left out)."""
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict):
            continue
        if entry.get("rev") != "workspace":
            yield entry
        for group in entry.get("experiments") or []:
            for rev in (group or {}).get("revs") or []:
                if isinstance(rev, dict):
                    yield rev


def _dvc_run(entry: dict[str, Any], project: str) -> dict[str, Any]:
    """One commit or experiment: its params and metrics flattened, its timestamp."""
    body = entry.get("data") or {}
    row: dict[str, Any] = {
        "run_id": str(entry.get("rev")),
        "run_name": entry.get("name") or str(entry.get("rev"))[:7],
        "project": project,
        "state": "failed" if entry.get("error") else "finished",
    }
    if isinstance(when := body.get("timestamp"), str):
        with contextlib.suppress(ValueError):
            row["start_time"] = datetime.fromisoformat(when).replace(tzinfo=UTC)
    for kind, prefix in (("params", "params."), ("metrics", "metrics.")):
        for file in (body.get(kind) or {}).values():
            row |= {f"{prefix}{k}": v for k, v in _flat((file or {}).get("data") or {})}
    return row


def read_dvc(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    rows = []
    files = [f for p in paths for f in (sorted(p.rglob("*.json")) if p.is_dir() else [p])]
    for path in files:
        data, problem = _json(path)
        if problem or not isinstance(data, list):
            why = problem or f"{path.name} is not `dvc exp show --json` output."
            rows.append({"run_id": path.name, "run_name": path.name, "row_error": why})
            continue
        project = path.parent.resolve().name
        rows += [_dvc_run(entry, project) for entry in _dvc_entries(data)]
    return rows_table(rows)


# -- MLflow file store ---------------------------------------------------------------------------


def _lines(folder: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file():
            yield str(path.relative_to(folder)), path


def _mlflow_runs(path: Path) -> list[Path]:
    """The run folders of the MLflow file stores under ``path`` (a folder with its
    ``meta.yaml`` and ``metrics/``, ``params/`` or ``tags/``)."""
    return sorted(
        meta.parent
        for meta in path.rglob("meta.yaml")
        if any((meta.parent / kind).is_dir() for kind in ("metrics", "params", "tags"))
    )


def read_mlruns(paths: list[Path], metric: Metric, *, best: bool = True) -> pa.Table:
    rows = []
    for run in (run for path in paths for run in _mlflow_runs(path)):
        experiment, _ = _yaml(run.parent / "meta.yaml")
        name = experiment.get("name") if isinstance(experiment, dict) else None
        data, problem = _yaml(run / "meta.yaml")
        row: dict[str, Any] = {"run_id": run.name, "experiment_name": name}
        if problem or not isinstance(data, dict):
            rows.append({**row, "row_error": problem or "meta.yaml holds no run."})
            continue
        if data.get("lifecycle_stage") == "deleted":
            continue
        row |= {
            "run_id": data.get("run_id") or run.name,
            "run_name": data.get("run_name"),
            "status": _MLFLOW_STATES.get(data.get("status"), data.get("status")),
            "start_time": _ms(data.get("start_time")),
            "end_time": _ms(data.get("end_time")),
        }
        for key, file in _lines(run / "params"):
            row[f"params.{key}"] = file.read_text().strip()
        for key, file in _lines(run / "tags"):
            row[f"tags.{key}"] = file.read_text().strip()
        history: dict[str, list[tuple[int, float]]] = {}
        for key, file in _lines(run / "metrics"):
            for line in file.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 2 and (found := number(parts[1])) is not None:
                    step = int(number(parts[2]) or 0) if len(parts) > 2 else 0
                    history.setdefault(key, []).append((step, found))
        rows.append(_with_history(row, history, metric, best))
    return rows_table(rows)


#: MLflow's RunStatus numbers, as meta.yaml keeps them.
_MLFLOW_STATES: dict[Any, Any] = {
    1: "RUNNING",
    2: "SCHEDULED",
    3: "FINISHED",
    4: "FAILED",
    5: "KILLED",
}


def _ms(value: Any) -> datetime | None:
    found = number(value)
    return datetime.fromtimestamp(found / 1000, UTC) if found else None
