"""DataFrames in and out, for notebooks and pipelines: :func:`score` and :class:`History`.

A DataFrame of runs is scored exactly like a file given to ``mlprod score``: it is handed to
the file path as a Parquet file (the way a tracking server's runs are), so detection,
``--set``-style defaults, row errors and output columns are the command's own.

>>> import pandas as pd
>>> runs = pd.DataFrame({"model": ["bert", "bert"], "F1 Score": [0.9, 90],
...                      "train_cost": [1000, 1000], "inference_cost": [200, 200],
...                      "hours": [10, 10], "latency": [50, 50]})
>>> score(runs)[["line", "status", "cer", "error"]].to_dict("records")[0]
{'line': 2, 'status': 'ok', 'cer': 0.00075, 'error': nan}
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlprod import config
from mlprod.errors import BadFile, InvalidInput

if TYPE_CHECKING:
    from mlprod.costs.pricing import Pricing
    from mlprod.store import HistoryFilter, Store

__all__ = ["History", "score"]

#: The ``source`` of a batch saved from Python (the History page can filter on it).
SOURCE = "python"


def _as_arrow(runs: pd.DataFrame) -> pa.Table:
    """The frame as Arrow, column names as text; a column of mixed Python objects (numbers
    and text, say) becomes text, as it would be in a CSV file."""
    if not isinstance(runs, pd.DataFrame):
        raise BadFile(f"mlprod.score takes a pandas DataFrame of runs, got {type(runs).__name__}.")
    frame = runs.rename(columns=str).reset_index(drop=True)
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    columns = {}
    for name in frame.columns:
        try:
            columns[name] = pa.Array.from_pandas(frame[name])
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            columns[name] = pa.Array.from_pandas(frame[name].astype("string"))
    return pa.table(columns)


def score(
    runs: pd.DataFrame,
    *,
    mapping: Mapping[str, str | None] | None = None,
    defaults: Mapping[str, str | float] | None = None,
    currency: str = "USD",
    db: str | os.PathLike[str] | None = None,
    metric: str | None = None,
) -> pd.DataFrame:
    """Score every run of a DataFrame, as ``mlprod score`` scores a file.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run, in any layout ``mlprod score`` reads: our own columns, an
        ``mlflow.search_runs()`` frame as it comes (``metrics.*``, ``params.*``,
        ``tags.*``, time-zone-aware ``start_time``/``end_time``), a W&B export, ...
    mapping : dict, optional
        Corrections to the detected columns, as ``--map``: ``{"f1": "metrics.val_f1"}``;
        ``None`` as a column unmaps a field.
    defaults : dict, optional
        One value for every run where the frame has none, as ``--set``:
        ``{"inference_cost": 250}``, ``{"gpu_model": "A100-80GB", "gpu_count": 8}``,
        ``{"requests_per_month": 2e6, "cost_per_1k_requests": 0.1}``.
    currency : str
        The currency of the costs in the frame (and of built costs); USD by default.
    db : str or path, optional
        A history whose team pricing prices GPU hours (its provider, spot, discount and
        own GPU prices; ``defaults`` such as ``{"provider": "AWS"}`` go over it). Without
        it, each GPU at the cheapest listed provider, on demand, at list price.
    metric : str, optional
        The quality the ratios divide, as ``--metric``: F1 by default; ``"accuracy"``,
        ``"pass@1"``, a name of your own (higher is better, 0 to 1), or an error rate such
        as ``"wer"`` (scored as 1 − WER, kept in ``metric_value``). Loss, RMSE and
        perplexity are refused (:class:`~mlprod.errors.InvalidInput`).

    Returns
    -------
    pandas.DataFrame
        One row per row in, in order: ``line`` (the row's line in the equivalent CSV
        file: the first row is line 2), ``status`` (``ok``, ``error`` or ``skipped``),
        ``error`` (the reason, naming the field), the identifiers and inputs used, ``cer``, ``ter``,
        ``psr`` and the cost assumptions. A run that did not finish (a ``status`` of
        FAILED, KILLED, RUNNING) is ``skipped``; ``mapping={"state": None}`` scores it.

    Raises
    ------
    BadFile
        Not a DataFrame, no rows, or a field with no column and no default (the message
        names the columns seen).
    InvalidInput
        A default that cannot be used (an unknown GPU, a negative price, ...).
    """
    from mlprod.ingest import inspect, resolve_mapping, scored_batches
    from mlprod.ingest.defaults import Scenario, scenario_values
    from mlprod.quality import metric_named

    table = _as_arrow(runs)
    given = scenario_values(defaults or {}, label="defaults")
    if table.num_rows == 0:
        raise BadFile("The DataFrame has no rows to score.")
    with tempfile.TemporaryDirectory(prefix="mlprod-frame-") as folder:
        path = Path(folder) / "runs.parquet"
        pq.write_table(table, path)
        inspection = inspect(path, name="the DataFrame").for_metric(metric_named(metric))
        chosen = resolve_mapping(inspection, mapping, provided=Scenario(given, currency).provides())
        pricing = History(db).team_pricing() if db is not None else None
        scored = pa.concat_tables(
            list(
                scored_batches(
                    inspection, chosen, currency=currency, scenario=given, pricing=pricing
                )
            )
        )
    return scored.to_pandas()


class History:
    """The team's history, as DataFrames: what the History page shows, for a notebook.

    ``db`` is a DuckDB file (default: ``MLPROD_DB``, else the default of
    :func:`mlprod.config.database`). The file is held only during each call, so a notebook
    never keeps the dashboard (or the CLI) from writing between cells; while another
    process is writing, a call waits its turn (``MLPROD_DB_WAIT`` seconds, default 60), then
    raises :class:`~mlprod.errors.DatabaseLocked`.

    Filters (every method takes them): ``models``, ``projects``, ``tags``, ``authors``,
    ``sources`` (lists, "any of"), ``since`` and ``until`` (dates, inclusive) and
    ``search`` (text in the model, run id or name, project, tags or notes), and ``metric``
    (the quality metric, e.g. ``"accuracy"``: best runs and frontiers are of one metric,
    and ask for it when the history holds several).
    """

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        if db is None:
            self.db = config.database()
        else:
            self.db = str(db) if "://" in str(db) else str(Path(db).expanduser())

    def __repr__(self) -> str:
        return f"History({self.db!r})"

    @contextmanager
    def _store(self) -> Iterator[Store]:
        from mlprod.store import Store

        with Store(self.db) as store:
            yield store

    def runs(self, **filters: object) -> pd.DataFrame:
        """Every live run that matches, newest first: inputs, ratios, who saved it, the
        cost assumptions (as the History page's CSV download)."""
        where = _filter(filters)
        with self._store() as store:
            return store.export_filtered(where).to_pandas()

    def team_pricing(self) -> Pricing:
        """The team's pricing an admin set on the dashboard (the default when none was)."""
        with self._store() as store:
            return store.team_pricing()

    def best_per_model(self, **filters: object) -> pd.DataFrame:
        """The best run of every model for each ratio: ``model_name, ratio, value, id``
        and the run's name."""
        with self._store() as store:
            return store.best_per_model(_one_metric(store, _filter(filters)))

    def frontier(
        self, against: Literal["total_cost", "latency_ms"] = "total_cost", **filters: object
    ) -> pd.DataFrame:
        """The Pareto frontier of F1 against total cost (or latency): the runs no other run
        beats on both, cheapest (fastest) first: ``id, f1, total_cost`` (or
        ``latency_ms``) and the run's model, id, name and date."""
        if against not in ("total_cost", "latency_ms"):
            raise InvalidInput(
                "against", f"against is 'total_cost' or 'latency_ms', got {against!r}."
            )
        with self._store() as store:
            where = _one_metric(store, _filter(filters))
            return store.frontiers(where)[against].rename(columns={"x": against})

    def save(
        self,
        scored: pd.DataFrame,
        *,
        author: str | None = None,
        name: str | None = None,
        currency: str = "USD",
    ) -> int:
        """Store the ``ok`` rows of a frame from :func:`score` as one batch (one
        transaction, through the one save path); returns the batch number.

        ``name`` is kept as the batch's file name (e.g. the notebook's or experiment's).
        """
        if not isinstance(scored, pd.DataFrame) or "status" not in scored.columns:
            raise BadFile("History.save takes the DataFrame mlprod.score returned.")
        from mlprod.saving import save_batch

        table = pa.Table.from_pandas(scored.reset_index(drop=True), preserve_index=False)
        with self._store() as store:
            return save_batch(
                store,
                table,
                source=SOURCE,
                file_name=name,
                author=author or config.local_user(),
                currency=currency,
                again=True,
            )


_FILTERS = (
    "models",
    "projects",
    "tags",
    "authors",
    "sources",
    "since",
    "until",
    "search",
    "metric",
)


def _one_metric(store: Store, where: HistoryFilter) -> HistoryFilter:
    """``where`` on one quality metric: runs of two are never ranked or fronted together."""
    if where.metrics:
        return where
    held = list(store.metrics())
    if len(held) > 1:
        raise InvalidInput(
            "metric",
            f"This history holds runs scored on {', '.join(held)}: runs of different metrics "
            f"are never ranked together. Pass metric=..., e.g. metric={held[0]!r}.",
        )
    return replace(where, metrics=tuple(held))


def _filter(filters: Mapping[str, object]) -> HistoryFilter:
    from mlprod.quality import metric_named
    from mlprod.store import HistoryFilter

    unknown = sorted(set(filters) - set(_FILTERS))
    if unknown:
        raise InvalidInput(
            unknown[0], f"Unknown filter {unknown[0]!r}. Filters: {', '.join(_FILTERS)}."
        )

    def names(key: str) -> tuple[str, ...]:
        value = filters.get(key) or ()
        return (value,) if isinstance(value, str) else tuple(str(v) for v in value)  # type: ignore[attr-defined]

    def day(key: str) -> date | None:
        value = filters.get(key)
        if isinstance(value, datetime):
            return value.date()
        if value is None or isinstance(value, date):
            return value
        try:
            return pd.Timestamp(value).date()
        except (ValueError, TypeError):
            raise InvalidInput(key, f"{key} is a date (2026-11-30), got {value!r}.") from None

    return HistoryFilter(
        models=names("models"),
        projects=names("projects"),
        tags=names("tags"),
        authors=names("authors"),
        sources=names("sources"),
        date_from=day("since"),
        date_to=day("until"),
        text=str(filters.get("search") or ""),
        metrics=tuple(metric_named(m).key for m in names("metric")),
    )
