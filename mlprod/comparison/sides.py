"""A side of a comparison as the :class:`~mlprod.comparison.compare.Run` compared: a
history run (with its group's run-to-run spread), a group's mean (with the spread of that
mean), or a run as given. Used by the Compare page and ``mlprod compare``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from mlprod.comparison.compare import Run, run_from_row
from mlprod.comparison.links import GroupSide
from mlprod.comparison.noise import Noise
from mlprod.errors import InvalidInput
from mlprod.metrics import INPUT_FIELDS, RunInputs
from mlprod.quality import metric_of

if TYPE_CHECKING:
    import pandas as pd

    from mlprod.store import Store

__all__ = ["side_run"]


def side_run(
    side: int | Run | GroupSide,
    store: Store,
    rows: pd.DataFrame | None = None,
    *,
    noise: bool,
    group_runs: Callable[[str], pd.DataFrame] | None = None,
) -> Run:
    """The run a side compares. ``rows``: the history rows of the ids asked (indexed by id;
    read from ``store`` when not given); ``group_runs``: how a group's runs are read
    (:meth:`Store.group_runs` unless given, e.g. a cached lookup).

    Raises
    ------
    InvalidInput
        A history id or a group the history does not hold.
    """
    runs_of = store.group_runs if group_runs is None else group_runs
    if isinstance(side, GroupSide):
        runs = runs_of(side.group)
        if runs.empty:
            raise InvalidInput("group", f"The group {side.group} has no runs in this history.")
        for same in ("metric", "currency"):  # one quality metric, one currency
            runs = runs[runs[same] == runs[same].mode().iloc[0]]
        mean = runs[list(INPUT_FIELDS)].mean()
        return Run(
            *RunInputs.of(mean).values(),
            name=f"{side.group} (mean of {len(runs)})",
            currency=str(runs["currency"].iloc[0] or "USD"),
            noise=Noise.of(side.group, runs, mean=True) if noise else None,
            metric=metric_of(runs["metric"].iloc[0]),
        )
    if isinstance(side, int):
        if rows is None or side not in rows.index:
            rows = store.calculations_by_id([side]).set_index("id")
        if side not in rows.index:
            raise InvalidInput("run", f"There is no run {side} in the history.")
        run = run_from_row(rows.loc[side].to_dict() | {"id": side})
        group = store.group_of(side) if noise else None
        if group is not None:
            runs = runs_of(group)
            alike = (runs["currency"] == run.currency) & (runs["metric"] == run.metric.key)
            run = replace(run, noise=Noise.of(group, runs[alike], mean=False))
        return run
    return side
