"""Runs straight from an MLflow tracking server, in the columns of ``mlflow.search_runs()``.

The server is read with MLflow's own client (``mlflow-skinny``): every page of results,
FINISHED runs by default, nested runs included. The runs become one Arrow table with the
columns a ``search_runs()`` export has (``run_id``, ``start_time``, ``end_time``,
``metrics.*``, ``params.*``, ``tags.*``), written to a Parquet file and scored exactly like
a file. Scored ratios can be logged back to each run (``mlprod.cer`` and friends).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlprod.errors import MlprodError
from mlprod.quality import Metric

__all__ = [
    "SOURCE",
    "MlflowError",
    "MlflowSource",
    "one_run",
]

#: The batch source of runs imported from a tracking server.
SOURCE = "mlflow"
PAGE = 1000  # runs per request: the server's own maximum for search_runs


class MlflowError(MlprodError):
    """The tracking server cannot be reached, refuses us, or lacks what was asked for."""


@contextmanager
def _quick_failures() -> Iterator[None]:
    """Fail in seconds, not minutes, when the server is down (MLflow retries 7 times with
    backoff by default); a person's own settings win."""
    defaults = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    }
    added = [k for k in defaults if k not in os.environ]
    os.environ.update({k: defaults[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _explained(uri: str, exc: Exception) -> MlflowError:
    text = str(exc)
    # Status codes are read from the words only: a port or an address (":40371", "port=4013")
    # holds the digits of 401 and 403 often enough to call a dead server a refusal.
    words = re.sub(r"\S+://\S*|port=\d+|:\d+", " ", text)
    if re.search(r"\b(401|403)\b|Unauthorized|Forbidden|credentials", words):
        return MlflowError(
            f"The MLflow server at {uri} refused the request ({text.splitlines()[0][:120]}). "
            "Set MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD) to a token that may read the experiments."
        )
    if any(w in text for w in ("Connection", "Max retries", "timed out", "refused", "resolve")):
        return MlflowError(
            f"Cannot reach the MLflow server at {uri}: is it running, and is the address "
            "right (--tracking-uri or MLFLOW_TRACKING_URI)? Nothing was read or stored."
        )
    return MlflowError(f"The MLflow server at {uri} answered: {text.splitlines()[0][:200]}")


@dataclass
class MlflowSource:
    """Runs of some experiments on one tracking server.

    Parameters
    ----------
    tracking_uri : str
        ``http://host:port`` of the server (default: ``MLFLOW_TRACKING_URI``).
    experiments : list of str
        Experiment names (or ids).
    filter : str
        An MLflow search filter, e.g. ``"metrics.f1 > 0.5"``.

    Runs in every state are read: scoring skips those that did not finish, and says how
    many in which state (unless the caller scores them all).
    """

    tracking_uri: str
    experiments: list[str]
    filter: str = ""

    def __post_init__(self) -> None:
        if not self.tracking_uri:
            raise MlflowError(
                "Give the tracking server: --tracking-uri http://host:5000 or set "
                "MLFLOW_TRACKING_URI."
            )
        if not self.experiments:
            raise MlflowError("Name at least one experiment (--experiment NAME).")
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=self.tracking_uri)

    def experiment_names(self) -> list[str]:
        """Every active experiment on the server, by name."""
        return experiments_on(self.tracking_uri)

    def _experiment_ids(self) -> dict[str, str]:
        ids = {}
        with _quick_failures():
            for name in self.experiments:
                try:
                    found = self._client.get_experiment_by_name(name)
                    if found is None and name.isdigit():
                        found = self._client.get_experiment(name)
                except Exception as exc:
                    if "RESOURCE_DOES_NOT_EXIST" in str(exc):
                        found = None
                    else:
                        raise _explained(self.tracking_uri, exc) from None
                if found is None:
                    known = ", ".join(self.experiment_names()) or "none"
                    raise MlflowError(
                        f"No experiment named '{name}' on {self.tracking_uri}; experiments "
                        f"there: {known}."
                    )
                ids[found.experiment_id] = found.name
        return ids

    def runs(self) -> pa.Table:
        """Every matching run, one row each, in the columns of ``search_runs()``."""
        ids = self._experiment_ids()
        wanted = self.filter.strip()
        rows: list[dict[str, Any]] = []
        token = None
        with _quick_failures():
            while True:
                try:
                    page = self._client.search_runs(
                        list(ids),
                        filter_string=wanted,
                        max_results=PAGE,
                        page_token=token,
                        order_by=["attributes.start_time ASC"],
                    )
                except Exception as exc:
                    raise _explained(self.tracking_uri, exc) from None
                rows.extend(_row(run, ids) for run in page)
                token = page.token
                if not token:
                    break
        return _table(rows)

    def at_steps(
        self, runs: pa.Table, columns: list[str], metric: Metric, *, best: bool = True
    ) -> tuple[pa.Table, dict[str, Any]]:
        """Each run's quality at its best step in ``metric``'s direction (``best``), or at
        its last step, from its metric history: the value of the first of ``columns``
        (``metrics.*``) the run logged, and a ``metric_step`` column saying which step.
        Latency and costs stay the run's. Returns the runs and what was done, in words."""
        ids = runs["run_id"].to_pylist()
        values = {c: runs[c].to_pylist() for c in columns if c in runs.column_names}
        wanted = [
            (i, column)
            for i in range(len(ids))
            for column in [next((c for c, v in values.items() if v[i] is not None), None)]
            if column is not None
        ]

        def history(item: tuple[int, str]) -> list[Any]:
            i, column = item
            return list(self._client.get_metric_history(ids[i], column[len("metrics.") :]))

        with _quick_failures(), ThreadPoolExecutor(8, thread_name_prefix="mlprod-mlflow") as pool:
            try:
                histories = list(pool.map(history, wanted))
            except Exception as exc:
                raise _explained(self.tracking_uri, exc) from None
        steps: list[int | None] = [None] * len(ids)
        for (i, column), points in zip(wanted, histories, strict=True):
            if picked := _step_of(points, metric, best=best):
                values[column][i], steps[i] = picked.value, int(picked.step)
        for column, column_values in values.items():
            index = runs.column_names.index(column)
            runs = runs.set_column(index, column, pa.array(column_values, pa.float64()))
        runs = runs.append_column("metric_step", pa.array(steps, pa.int64()))
        return runs, {
            "said": _steps_said(metric, [s for s in steps if s is not None], best=best),
            "step": "best" if best else "last",
            "runs": {ids[i]: s for i, s in enumerate(steps) if s is not None},
        }

    def to_parquet(self, table: pa.Table, folder: Path) -> Path:
        """The runs as a Parquet file that the file readers score."""
        path = folder / "mlflow-runs.parquet"
        pq.write_table(table, path)
        return path

    def write_back(self, scored: Iterable[pa.Table]) -> int:
        """Log ``mlprod.cer``, ``mlprod.ter`` and ``mlprod.psr`` on each scored run;
        returns how many runs got them."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        done = 0
        with _quick_failures():
            for table in scored:
                ok = table.filter(pa.compute.equal(table["status"], "ok"))
                for row in ok.select(["run_id", "cer", "ter", "psr"]).to_pylist():
                    metrics = [
                        Metric(f"mlprod.{k}", float(row[k]), now, 0) for k in ("cer", "ter", "psr")
                    ]
                    try:
                        self._client.log_batch(row["run_id"], metrics=metrics)
                    except Exception as exc:
                        raise _explained(self.tracking_uri, exc) from None
                    done += 1
        return done


def _steps_said(metric: Metric, steps: list[int], *, best: bool) -> str:
    """``Accuracy at each run's best step (highest): steps 1 to 3 over 2 runs; ...``"""
    where = "best" if best else "last"
    how = (" (lowest)" if metric.lower_is_better else " (highest)") if best else ""
    said = f"{metric.label} at each run's {where} step{how}"
    if steps:
        said += f": steps {min(steps):,} to {max(steps):,} over {len(steps):,} runs"
    return said + ("; --step last takes the last" if best else "")


def _step_of(points: list[Any], metric: Metric, *, best: bool) -> Any:
    """The point of a metric history a run is scored at: the best value in the metric's
    direction (ties: the earliest step), or the last step (ties: the latest logged)."""
    points = [p for p in points if p.value == p.value]  # no NaN
    if not points:
        return None
    if not best:
        return max(points, key=lambda p: (p.step, p.timestamp))
    if metric.lower_is_better:
        return min(points, key=lambda p: (p.value, p.step))
    return max(points, key=lambda p: (p.value, -p.step))


def experiments_on(tracking_uri: str) -> list[str]:
    """Every active experiment on a tracking server, by name."""
    from mlflow.tracking import MlflowClient

    with _quick_failures():
        try:
            found = MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=PAGE)
        except Exception as exc:  # the client raises many kinds; each is explained
            raise _explained(tracking_uri, exc) from None
    return sorted(e.name for e in found)


def one_run(tracking_uri: str, run_id: str) -> pa.Table:
    """One run of a tracking server, in the columns of :meth:`MlflowSource.runs`."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    with _quick_failures():
        try:
            run = client.get_run(run_id)
            experiment = client.get_experiment(run.info.experiment_id)
        except Exception as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc):
                raise MlflowError(f"There is no run {run_id} on {tracking_uri}.") from None
            raise _explained(tracking_uri, exc) from None
    return _table([_row(run, {experiment.experiment_id: experiment.name})])


def _row(run: Any, experiments: dict[str, str]) -> dict[str, Any]:
    info, data = run.info, run.data
    row: dict[str, Any] = {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "experiment_name": experiments.get(info.experiment_id),
        "run_name": info.run_name,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
    }
    row.update({f"metrics.{k}": v for k, v in data.metrics.items()})
    row.update({f"params.{k}": v for k, v in data.params.items()})
    row.update({f"tags.{k}": v for k, v in data.tags.items()})  # a parent run: a group
    return row


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows of runs as Arrow: times as UTC timestamps, metrics as numbers, the rest text."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name in ("start_time", "end_time"):
            columns[name] = pa.array(values, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
        elif name.startswith("metrics."):
            columns[name] = pa.array(values, pa.float64())
        else:
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    if not rows:
        columns = {"run_id": pa.array([], pa.string())}
    return pa.table(columns)
