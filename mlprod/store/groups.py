"""Groups of runs (other seeds of one model): the history's run-to-run spread.

A run's group is its ``group=NAME`` tag, and only that: evidence that its runs repeat one
training (a seed sweep tagged so; scoring tags the children of one MLflow parent run and
runs that differ only in a seed parameter, see :mod:`mlprod.ingest.seeds`). Runs of one
model and project are not taken as seeds of each other: two different models under one
name would read as "within run-to-run spread". Mixed into ``Store``.
"""

from __future__ import annotations

import pandas as pd

from mlprod.store.dialect import Dialect, literal_pattern
from mlprod.store.filters import HistoryFilter
from mlprod.store.lookups import Lookups

__all__ = ["group_sql"]


def group_sql(d: Dialect, t: str = "") -> str:
    """The group of a row of ``calculations`` (or of the ``history`` view, ``t`` its
    alias with a dot), as text; NULL for a run in no group."""
    return f"'group=' || nullif({d.group_tag(t + 'tags')}, '')"


_MEASURES = ("f1", "cer", "ter", "psr")


def _narrowed_to(group: str) -> tuple[str, list[str]]:
    """A plain condition every row of ``group`` meets, which the database checks in its
    scan before the group's expression (a regular expression per row: Compare's spread
    scanned all of a 10M-run history with it on every rerun). A superset: the group's
    own expression still decides."""
    if group.startswith("group="):
        return "tags LIKE ? ESCAPE '\\'", [literal_pattern(group)]
    return "false", []  # not a group's name: no runs


class Groups(Lookups):
    """Run-to-run spread per group."""

    def spread_per_group(
        self, f: HistoryFilter, *, min_runs: int = 2, limit: int = 200
    ) -> pd.DataFrame:
        """Per group of at least ``min_runs`` live runs the filter keeps: runs, and mean,
        min, max and standard deviation of F1 and each ratio (the most runs first)."""
        where, params = f.where(sql=self.sql)
        stats = ", ".join(
            f"avg({m}) AS {m}_mean, min({m}) AS {m}_min, max({m}) AS {m}_max, "
            f"stddev_samp({m}) AS {m}_sd"
            for m in _MEASURES
        )
        sql = (
            f"SELECT {group_sql(self.sql, 'c.')} AS run_group, count(*) AS runs, {stats} "
            f"FROM calculations c WHERE {where} AND c.tags LIKE '%group=%' "
            f"AND {group_sql(self.sql, 'c.')} IS NOT NULL GROUP BY 1 HAVING count(*) >= ? "
            "ORDER BY runs DESC, run_group LIMIT ?"
        )
        with self.cursor() as cur:
            return cur.execute(sql, [*params, min_runs, limit]).df()

    def run_groups(self, *, min_runs: int = 2, limit: int = 200) -> pd.DataFrame:
        """Groups of at least ``min_runs`` live runs (group, runs, newest), newest first."""
        with self.cursor() as cur:
            return cur.execute(
                f"SELECT {group_sql(self.sql)} AS run_group, count(*) AS runs, "
                "max(created_at) AS newest FROM calculations WHERE deleted_at IS NULL "
                f"AND tags LIKE '%group=%' AND {group_sql(self.sql)} IS NOT NULL "
                "GROUP BY 1 HAVING count(*) >= ? ORDER BY newest DESC LIMIT ?",
                [min_runs, limit],
            ).df()

    def group_runs(self, group: str, *, limit: int = 5000) -> pd.DataFrame:
        """The live runs of one group (newest first; inputs, ratios and currency). The
        group's rows are picked from ``calculations`` first and only those joined to their
        batch's currency (through the ``history`` view, every row was: history.py)."""
        narrow, values = _narrowed_to(group)
        with self.cursor() as cur:
            return cur.execute(
                "WITH picked AS (SELECT id, created_at, model_name, run_id, project, tags, f1, "
                "training_cost, inference_cost, training_hours, latency_ms, cer, ter, psr "
                f"FROM calculations WHERE deleted_at IS NULL AND {narrow} AND "
                f"{group_sql(self.sql)} = ? ORDER BY created_at DESC, id DESC LIMIT ?) "
                "SELECT picked.*, b.currency, coalesce(b.metric, 'f1') AS metric FROM picked "
                "JOIN batches b ON b.batch_no = "
                f"{self.sql.batch_of('picked.id')} ORDER BY created_at DESC, id DESC",
                [*values, group, limit],
            ).df()

    def group_of(self, calculation_id: int) -> str | None:
        """The group of one calculation (None when it is not in the history)."""
        with self.cursor() as cur:
            found = cur.execute(
                f"SELECT {group_sql(self.sql)} FROM calculations WHERE id = ?",
                [calculation_id],
            ).fetchone()
        return found[0] if found else None
