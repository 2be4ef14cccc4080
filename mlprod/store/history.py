"""The history page's questions, answered in SQL over the calculations and their rollup.

Every query filters ``calculations`` first and joins the small ``batches`` table only for
the rows it returns, so a page of 50 never drags 10M rows through a join.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from mlprod.access import Person
from mlprod.store.filters import HistoryFilter, HistoryOverview, bucket_for
from mlprod.store.lookups import RUN_DETAILS, Lookups, rows_by_id
from mlprod.store.schema import ASSUMPTION_COLUMNS

__all__ = ["NO_MODEL", "with_run_names"]

_X_COLUMNS = {
    "total_cost": "(training_cost + inference_cost)",
    "latency_ms": "latency_ms",
}

# Runs saved without a model name still belong in the trend and the best runs.
NO_MODEL = "(no model name)"
_MODEL = f"coalesce(model_name, '{NO_MODEL}')"

# What an answer to one of the history questions shows: its name and its numbers.
_ANSWER_COLUMNS = (*RUN_DETAILS, "f1", "training_cost", "inference_cost", "latency_ms")


def with_run_names(best: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """Best runs with a ``run`` label: the run's name, else its id."""
    label = names.set_index("id")
    run = label["run_name"].fillna(label["run_id"]) if len(label) else pd.Series(dtype=object)
    return best.assign(run=best["id"].map(run))


def cheapest_within(cost_frontier: pd.DataFrame, min_f1: float) -> int | None:
    """The id of the cheapest run with at least ``min_f1`` (of equal cost, the higher F1),
    read off the cost frontier (cheapest first, F1 rising): that run is on it, since any
    run as cheap and as good would be the answer itself.

    >>> front = pd.DataFrame({"id": [7, 3, 9], "f1": [0.5, 0.8, 0.9], "x": [1.0, 2.0, 5.0]})
    >>> cheapest_within(front, 0.79), cheapest_within(front, 0.95)
    (3, None)
    """
    enough = cost_frontier["id"][cost_frontier["f1"] >= min_f1]
    return int(enough.iloc[0]) if len(enough) else None


def _sliced_frontiers(source: str) -> str:
    """Both frontiers of the runs ``source`` selects (``f1, x, x_id`` per axis), many
    runs: before the sort, they are cut in 1,024 slices of x; a run whose F1 is at most
    the best F1 of a slice of lower x is beaten by that run, so only the others are sorted.
    """
    steps = []
    for x in _X_COLUMNS:
        steps += [
            f"{x}_span AS (SELECT min({x}) AS lo, max({x}) AS hi FROM m)",
            f"{x}_cut AS (SELECT m.{x}_id AS id, m.f1, m.{x} AS x, coalesce(floor((m.{x} "
            f"- s.lo) * 1024.0 / nullif(s.hi - s.lo, 0)), 0) AS cut FROM m CROSS JOIN "
            f"{x}_span s)",
            f"{x}_beaten AS (SELECT cut, max(max(f1)) OVER (ORDER BY cut ROWS BETWEEN "
            f"UNBOUNDED PRECEDING AND 1 PRECEDING) AS best_below FROM {x}_cut GROUP BY cut)",
            f"{x}_front AS (SELECT '{x}' AS axis, c.id, c.f1, c.x, max(c.f1) OVER (ORDER BY "
            "c.x, c.f1 DESC, c.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS "
            f"best_before FROM {x}_cut c JOIN {x}_beaten b ON b.cut = c.cut "
            "WHERE b.best_below IS NULL OR c.f1 > b.best_below)",
        ]
    fronts = " UNION ALL ".join(f"SELECT * FROM {x}_front" for x in _X_COLUMNS)
    return (
        f"WITH m AS MATERIALIZED ({source}), {', '.join(steps)} "
        f"SELECT axis, id, f1, x FROM ({fronts}) fronts "
        "WHERE best_before IS NULL OR f1 > best_before ORDER BY axis, x, f1 DESC"
    )


#: The cost assumptions of a run joined as ``a``, as a select list.
ASSUMED_SQL = ", ".join(f"a.{c}" for c in ASSUMPTION_COLUMNS)
_DELETED_BY = "deleted_by"


class HistoryQueries(Lookups):
    """The history page's queries (mixed into ``Store``)."""

    def _where(self, f: HistoryFilter, **kwargs: Any) -> tuple[str, list[Any]]:
        return f.where(sql=self.sql, **kwargs)

    #: Read the summary, trend and best runs from the rollup when the filter allows it
    #: (tests switch it off to check the rollup against the calculations themselves).
    use_rollup = True

    def _rolled_up(self, f: HistoryFilter) -> bool:
        return self.use_rollup and not f.searches

    # -- the history page ---------------------------------------------------------------
    # Every query filters `calculations` first and joins the small `batches` table only
    # for the rows it returns, so a page of 50 never drags 10M rows through a join.

    def history_page(
        self, f: HistoryFilter, *, page: int = 0, page_size: int = 50, deleted: bool = False
    ) -> pd.DataFrame:
        """One page of matching calculations, newest first (deleted ones with ``deleted``).

        One query (the page's ids first, then those rows by id, was faster when the newest
        runs are the last saved, and slower when a batch's dates span years: its rows by
        id then read every row group; history.py)."""
        where, params = self._where(f, deleted=deleted)
        with self.cursor() as cur:
            return cur.execute(
                f"WITH page AS (SELECT c.* FROM calculations c WHERE {where} "
                "ORDER BY c.created_at DESC, c.id DESC LIMIT ? OFFSET ?) "
                f"SELECT page.*, page.training_cost + page.inference_cost AS total_cost, "
                "b.author, b.source, b.currency, b.file_name, d.done_by AS deleted_by, "
                "coalesce(b.metric, 'f1') AS metric, page.f1 / a.energy_kwh AS quality_per_kwh, "
                f"{ASSUMED_SQL} "
                f"FROM page JOIN batches b ON b.batch_no = {self.sql.batch_of('page.id')} "
                "LEFT JOIN cost_assumptions a ON a.calculation_id = page.id "
                "LEFT JOIN (SELECT calculation_id, "
                f"{self.sql.latest('done_by', 'happened_at')} AS done_by FROM deletions "
                "WHERE action = 'delete' AND calculation_id IN (SELECT id FROM page) "
                "GROUP BY calculation_id) d ON d.calculation_id = page.id "
                "ORDER BY page.created_at DESC, page.id DESC",
                [*params, page_size, page * page_size],
            ).df()

    def summary(self, f: HistoryFilter) -> dict[str, Any]:
        """The count, the date span and the best of each ratio and of F1 among matching
        calculations."""
        if self._rolled_up(f):
            where, params = self._where(f, rollup=True)
            sql = (
                "SELECT CAST(coalesce(sum(runs), 0) AS BIGINT), min(first_at), max(last_at), "
                f"max(max_cer), max(max_ter), max(max_psr), max(max_f1) FROM rollup r WHERE {where}"
            )
        else:
            where, params = self._where(f)
            sql = (
                # No count(DISTINCT model_name) here: it costs 10x the rest at 1M rows, and
                # best_per_model() groups by model anyway.
                "SELECT count(*), min(created_at), max(created_at), "
                f"max(cer), max(ter), max(psr), max(f1) FROM calculations c WHERE {where}"
            )
        with self.cursor() as cur:
            row = cur.execute(sql, params).fetchone()
        assert row is not None
        keys = ("runs", "first", "last", "best_cer", "best_ter", "best_psr", "best_f1")
        return dict(zip(keys, row, strict=True))

    def version(self) -> str:
        """How far the history has moved: the number of batches and of deletes and
        restores. Every committed write adds to one of them, whatever order writes commit
        in (the newest batch number did not move when a long save of batch N committed
        after a short one of N+1). A DuckDB file is counted again only when its files'
        stamp moved (:meth:`file_stamp`, two ``stat`` calls): a stamp also moves when a
        log is folded in, which is no news, so the counts, not the stamp, are the version."""
        stamp = self.file_stamp()
        known = getattr(self, "_version_at", None)
        if stamp is not None and known is not None and known[0] == stamp:
            return str(known[1])
        with self.cursor() as cur:
            row = cur.execute(
                "SELECT (SELECT count(*) FROM batches), (SELECT count(*) FROM deletions)"
            ).fetchone()
        version = f"{row[0]}.{row[1]}" if row else "0.0"
        if stamp is not None:  # stamp first, counts after: a write in between is seen next
            self._version_at = (stamp, version)
        return version

    def currencies(self) -> list[str]:
        """The currencies the history's costs are in (one per batch)."""
        with self.cursor() as cur:
            return [
                r[0]
                for r in cur.execute("SELECT DISTINCT currency FROM batches ORDER BY 1").fetchall()
            ]

    def metrics(self) -> dict[str, int]:
        """The quality metrics of the live runs (keys, :mod:`mlprod.quality`) and how many
        runs each has, most first: the history page shows one at a time."""
        with self.cursor() as cur:
            rows = cur.execute(
                "SELECT coalesce(b.metric, 'f1') AS metric, CAST(sum(r.runs) AS BIGINT) AS runs "
                "FROM rollup r JOIN batches b ON b.batch_no = r.batch_no "
                "GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
        return {str(key): int(runs) for key, runs in rows}

    def filter_options(self) -> dict[str, list[str]]:
        """The values each filter can take (live calculations only)."""
        with self.cursor() as cur:

            def values(sql: str) -> list[str]:
                return [r[0] for r in cur.execute(sql).fetchall() if r[0] is not None]

            live = "FROM rollup"  # live calculations only, one row per group
            return {
                "models": values(f"SELECT DISTINCT model_name {live} ORDER BY 1"),
                "projects": values(f"SELECT DISTINCT project {live} ORDER BY 1"),
                "tags": values(
                    f"SELECT DISTINCT unnest({self.sql.tag_list('tags')}) {live} ORDER BY 1"
                ),
                "authors": values("SELECT DISTINCT author FROM batches ORDER BY 1"),
                "sources": values("SELECT DISTINCT source FROM batches ORDER BY 1"),
            }

    def trend(self, f: HistoryFilter, bucket: str, *, max_models: int = 8) -> pd.DataFrame:
        """Mean CER, TER and PSR per model and time bucket (``day``, ``week`` or ``month``),
        long format, for the ``max_models`` models with the most matching runs.

        One scan: aggregate per bucket and model, then rank models on that small result.
        """
        if bucket not in ("day", "week", "month"):
            raise ValueError(f"bucket must be day, week or month, not {bucket!r}")
        if self._rolled_up(f):
            where, params = self._where(f, rollup=True)
            day = self.sql.bucket(bucket, "CAST(day AS TIMESTAMP)")
            agg = (
                f"SELECT CAST({day} AS TIMESTAMP) AS bucket, "
                f"{_MODEL} AS model_name, sum(sum_cer) / sum(runs) AS cer, "
                "sum(sum_ter) / sum(runs) AS ter, sum(sum_psr) / sum(runs) AS psr, "
                f"CAST(sum(runs) AS BIGINT) AS runs FROM rollup r WHERE {where} "
                f"GROUP BY {day}, {_MODEL}"
            )
        else:
            where, params = self._where(f)
            stamp = self.sql.bucket(bucket, "created_at")
            agg = (
                f"SELECT CAST({stamp} AS TIMESTAMP) AS bucket, {_MODEL} AS model_name, "
                "avg(cer) AS cer, avg(ter) AS ter, avg(psr) AS psr, count(*) AS runs "
                f"FROM calculations c WHERE {where} GROUP BY {stamp}, {_MODEL}"
            )
        with self.cursor() as cur:
            kept = cur.execute(
                f"WITH agg AS ({agg}), "
                "top AS (SELECT model_name FROM agg GROUP BY model_name "
                "ORDER BY sum(runs) DESC, model_name LIMIT ?) "
                "SELECT bucket, model_name, cer, ter, psr, runs FROM agg "
                "WHERE model_name IN (SELECT model_name FROM top)",
                [*params, max_models],
            ).df()
        # Long format, one row per bucket, model and ratio (a few hundred rows at most),
        # built by repeating each row three times (no melt, no second sort).
        kept = kept.sort_values(["bucket", "model_name"], ignore_index=True)
        each = np.repeat(np.arange(len(kept)), 3)
        return pd.DataFrame(
            {
                "bucket": kept["bucket"].to_numpy()[each],
                "model_name": kept["model_name"].to_numpy()[each],
                "runs": kept["runs"].to_numpy()[each],
                "ratio": np.tile(np.array(["CER", "PSR", "TER"], dtype=object), len(kept)),
                "value": kept[["cer", "psr", "ter"]].to_numpy(dtype="float64").ravel(),
            }
        )

    def overview(
        self,
        f: HistoryFilter,
        *,
        f1_gap: float = 0.01,
        budget: float = 1000.0,
        latency_ms: float = 50.0,
        points: int = 2000,
        page: int = 0,
        page_size: int = 50,
        table: bool = True,
    ) -> HistoryOverview:
        """Everything the history page shows above its table, for one filter, and that
        table's ``page`` (with ``table=False``, not: the History page asks for it once its
        charts are on their way to the browser).

        The independent queries run at the same time, each on its own cursor: DuckDB
        releases the GIL, and the short ones fill the gaps the long ones leave on the cores.
        """
        summary = self.summary(f)
        bucket = bucket_for(summary["first"], summary["last"])
        if not summary["runs"]:
            return HistoryOverview(summary, bucket, None, {}, None, None, None, None, None)

        def by_f1() -> tuple[dict[str, pd.DataFrame], dict[str, Any] | None]:
            fronts = self._frontiers(f)
            cheapest_id = cheapest_within(fronts["total_cost"], summary["best_f1"] - f1_gap)
            on_front = [i for front in fronts.values() for i in front["id"]]
            # One lookup for the cheapest run near the best F1 and the run names on both
            # frontiers.
            runs = self._runs(cheapest_id, *on_front)
            unique = {int(r["id"]): r for r in runs[1:] if r}
            names = pd.DataFrame(list(unique.values()), columns=["id", *_ANSWER_COLUMNS])
            names = names[["id", *RUN_DETAILS]]
            return {x: fr.merge(names, on="id", how="left") for x, fr in fronts.items()}, runs[0]

        # Each thread also does its lookups and pandas work, while DuckDB (which releases
        # the GIL) runs the other queries.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="mlprod-history") as pool:
            trend_job = pool.submit(self.trend, f, bucket)
            f1_job, best_job = pool.submit(by_f1), pool.submit(self.best_per_model, f)
            # Its own top-1 scan: as a FILTER aggregate in the frontier scan it cost more
            # at 10M runs (history.py).
            under_job = pool.submit(self.best_under, f, budget=budget, latency_ms=latency_ms)
            table_job = (
                pool.submit(self.history_page, f, page=page, page_size=page_size) if table else None
            )
            points_job = pool.submit(self.scatter, f, limit=points, total=summary["runs"])
            trend, best, (frontiers, cheapest) = (
                trend_job.result(),
                best_job.result(),
                f1_job.result(),
            )
        return HistoryOverview(
            summary=summary,
            bucket=bucket,
            trend=trend,
            frontiers=frontiers,
            points=points_job.result()[0],
            best=best,
            cheapest=cheapest,
            best_under=under_job.result(),
            table=table_job.result() if table_job else None,
        )

    #: (the history's version, whether its F1s take few values) as last seen: _frontiers.
    _f1_values_seen: tuple[str, bool] | None = None

    def _few_f1_values(self) -> bool:
        """Whether the history's F1s take few values (rounded: at most a quarter as many
        as runs) or nearly one per run (as logged). Counted again after each write (see
        :meth:`version`): over the whole table, an estimate on DuckDB (one cheap pass).
        Either answer gives the same frontiers, only at another speed."""
        version = self.version()
        if self._f1_values_seen is None or self._f1_values_seen[0] != version:
            with self.cursor() as cur:
                distinct, rows = cur.execute(
                    f"SELECT {self.sql.distinct_values('f1')}, count(*) FROM calculations"
                ).fetchone()
            self._f1_values_seen = (version, distinct * 4 < rows)
        return self._f1_values_seen[1]

    #: (the history's version, whether it has many frontier runs) as last seen.
    _frontier_runs_seen: tuple[str, bool] | None = None

    def _many_frontier_runs(self) -> bool:
        """Whether ``frontier_runs`` holds more than 100,000 rows (many small batches):
        then they are sliced before the sort, as runs are (counted again after each
        write, see :meth:`version`)."""
        version = self.version()
        if self._frontier_runs_seen is None or self._frontier_runs_seen[0] != version:
            with self.cursor() as cur:
                (rows,) = cur.execute("SELECT count(*) FROM frontier_runs").fetchone()
            self._frontier_runs_seen = (version, rows > 100_000)
        return self._frontier_runs_seen[1]

    def _frontiers(self, f: HistoryFilter) -> dict[str, pd.DataFrame]:
        """Both Pareto frontiers (``id, f1, x`` per axis, cheapest first): one query; only
        the frontier rows come back.

        Sorted by x (ties: higher F1 first), a run is on the frontier when its F1 is above
        every F1 before it: a running maximum, over:

        - under a filter of models, projects, tags, authors or sources (no dates, no text
          search), the runs on the frontiers of the matching groups (``frontier_runs``,
          kept up by every write, see :func:`~mlprod.store.schema.frontier_select`): a few
          hundred rows whatever the history's size (history.py), sliced first when they
          are many
          (:meth:`_many_frontier_runs`);
        - under dates or a text search, the matching runs, cut first in 1,024 slices of x (see
          :func:`_sliced_frontiers`). What is sliced depends on how many F1 values the
          history has (:meth:`_few_f1_values`): few (F1s rounded to 2-4 digits), the
          cheapest run of each F1 value (a GROUP BY f1 folds 10M runs into a few thousand
          rows); about one per run (as a tracker logs them), the runs themselves, read
          once, since that GROUP BY then keeps every run and cost more than it saved.
        """
        stored = self._rolled_up(f) and not (f.date_from or f.date_to)
        if stored:
            where, params = self._where(f, rollup=True)
            picks = ", ".join(f"{x}, id AS {x}_id" for x in _X_COLUMNS)
            source = f"SELECT f1, {picks} FROM frontier_runs r WHERE {where}"
        else:
            where, params = self._where(f)
            if self._few_f1_values():
                source = self.sql.minimum_per_group("f1", _X_COLUMNS, where)
            else:
                picks = ", ".join(f"{e} AS {x}, id AS {x}_id" for x, e in _X_COLUMNS.items())
                source = f"SELECT f1, {picks} FROM calculations c WHERE {where}"
        if stored and not self._many_frontier_runs():  # a few hundred rows: sorted as they are
            fronts = " UNION ALL ".join(
                f"SELECT '{x}' AS axis, {x}_id AS id, f1, {x} AS x, max(f1) OVER (ORDER BY "
                f"{x}, f1 DESC, {x}_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS "
                "best_before FROM m"
                for x in _X_COLUMNS
            )
            sql = (
                f"WITH m AS MATERIALIZED ({source}) SELECT axis, id, f1, x FROM ({fronts}) "
                "fronts WHERE best_before IS NULL OR f1 > best_before ORDER BY axis, x, f1 DESC"
            )
        else:  # many runs: sliced before the sort
            sql = _sliced_frontiers(source)
        with self.cursor() as cur:
            rows = cur.execute(sql, params).df()
        # Split with numpy: a groupby and astype cost more than the query's few hundred rows.
        axis = rows["axis"].to_numpy()
        ids, f1, x = (
            rows[c].to_numpy(dtype=t)
            for c, t in (("id", "int64"), ("f1", "float64"), ("x", "float64"))
        )
        return {
            name: pd.DataFrame(
                {"id": ids[axis == name], "f1": f1[axis == name], "x": x[axis == name]}
            )
            for name in _X_COLUMNS
        }

    def frontiers(self, f: HistoryFilter, *, details: bool = True) -> dict[str, pd.DataFrame]:
        """The Pareto frontiers of F1 against total cost and against latency: runs no other
        run beats on both (higher-or-equal F1 at lower-or-equal x), cheapest first (see
        :meth:`_frontiers`). ``details=False`` leaves out the run names (see
        :meth:`run_details`)."""
        fronts = self._frontiers(f)
        if not details:
            return fronts
        names = self.run_details([i for front in fronts.values() for i in front["id"]])
        return {x: front.merge(names, on="id", how="left") for x, front in fronts.items()}

    def scatter(
        self, f: HistoryFilter, *, limit: int = 2000, total: int | None = None
    ) -> tuple[pd.DataFrame, int]:
        """About ``limit`` matching runs at most, with F1, total cost and latency, and how
        many runs matched (pass ``total`` when known). Beyond ``limit`` the dots are a
        repeatable random sample (block sampling, then a reservoir)."""
        where, params = self._where(f)
        with self.cursor() as cur:
            if total is None:
                row = cur.execute(f"SELECT count(*) FROM calculations c WHERE {where}", params)
                total = int(row.fetchone()[0])
            columns = (
                "c.id, c.f1, c.training_cost + c.inference_cost AS total_cost, "
                "c.latency_ms, c.model_name, c.run_id, c.run_name, c.created_at"
            )
            if total <= limit:
                points = cur.execute(
                    f"SELECT {columns} FROM calculations c WHERE {where} LIMIT ?",
                    [*params, limit],
                ).df()
                return points, total
            # Block sampling reads only the sampled vectors (2,048 rows each), but a sample
            # of ~2,400 rows is about one vector: it came back empty at 300k and 1M runs.
            # Take at least ~40 vectors' worth, then a reservoir of ``limit`` from them; a
            # small table, or a filter that leaves too few, is sampled row by row instead.
            table_rows = int(cur.execute(self.sql.table_rows()).fetchone()[0])
            wanted = 1.2 * limit / total  # the share of matching rows to draw
            block_share = min(1.0, max(wanted, 40 * 2048 / max(table_rows, 1)))
            points = None
            if table_rows > 200_000 and block_share < 1.0:
                points = cur.execute(
                    self.sql.sample(columns, where, block_share, limit), params
                ).df()
                if len(points) < min(limit, total) // 4:
                    points = None
            if points is None:
                points = cur.execute(
                    self.sql.row_sample(columns, where, wanted), [*params, limit]
                ).df()
        return points, total

    def energy_per_model(self, f: HistoryFilter, *, models: int = 20) -> pd.DataFrame:
        """Per model, its best quality per kWh among the runs whose energy was measured,
        that run, and the model's measured kWh and kg CO2e in all (``models`` best). Empty
        when no matching run's energy was measured."""
        with self.cursor() as cur:  # most histories hold no energy: asked once, cheaply
            if not cur.execute(
                "SELECT 1 FROM cost_assumptions WHERE energy_kwh IS NOT NULL LIMIT 1"
            ).fetchall():
                return pd.DataFrame(
                    columns=["model_name", "per_kwh", "id", "runs", "kwh", "co2_kg", "run"]
                )
            where, params = self._where(f)
            per = "c.f1 / a.energy_kwh"
            return cur.execute(
                f"WITH best AS (SELECT {_MODEL} AS model_name, max({per}) AS per_kwh, "
                f"{self.sql.arg_max('c.id', per)} AS id, count(*) AS runs, "
                "sum(a.energy_kwh) AS kwh, sum(a.co2_kg) AS co2_kg FROM calculations c "
                "JOIN cost_assumptions a ON a.calculation_id = c.id "
                f"WHERE {where} AND a.energy_kwh > 0 GROUP BY {_MODEL} "
                "ORDER BY per_kwh DESC LIMIT ?) SELECT best.*, coalesce(c.run_name, c.run_id) "
                "AS run FROM best LEFT JOIN calculations c ON c.id = best.id "
                "ORDER BY best.per_kwh DESC",
                [*params, models],
            ).df()

    def best_per_model(self, f: HistoryFilter, *, details: bool = True) -> pd.DataFrame:
        """The best run of every model for each ratio (long format: model_name, ratio,
        value, id; and ``run`` unless ``details=False``, see :meth:`run_details`)."""
        if self._rolled_up(f):
            where, params = self._where(f, rollup=True)
            am = self.sql.arg_max
            sql = (
                f"SELECT {_MODEL} AS model_name, max(max_cer) AS cer, max(max_ter) AS ter, "
                f"max(max_psr) AS psr, {am('max_cer_id', 'max_cer')} AS cer_id, "
                f"{am('max_ter_id', 'max_ter')} AS ter_id, {am('max_psr_id', 'max_psr')} AS psr_id "
                f"FROM rollup r WHERE {where} GROUP BY {_MODEL} ORDER BY model_name"
            )
        else:
            where, params = self._where(f)
            am = self.sql.arg_max
            sql = (
                f"SELECT {_MODEL} AS model_name, max(cer) AS cer, max(ter) AS ter, "
                f"max(psr) AS psr, {am('id', 'cer')} AS cer_id, {am('id', 'ter')} AS ter_id, "
                f"{am('id', 'psr')} AS psr_id FROM calculations c WHERE {where} "
                f"GROUP BY {_MODEL} ORDER BY model_name"
            )
        # Long format in SQL, and each run's name looked up in the same query (not three
        # frames, a concat and a second lookup).
        long = " UNION ALL ".join(
            f"SELECT {i} AS k, model_name, '{r}' AS ratio, {r.lower()} AS value, "
            f"{r.lower()}_id AS id FROM best"
            for i, r in enumerate(("CER", "TER", "PSR"))
        )
        named = (
            ", coalesce(c.run_name, c.run_id) AS run FROM long "
            "LEFT JOIN calculations c ON c.id = long.id"
            if details
            else " FROM long"
        )
        with self.cursor() as cur:
            return cur.execute(
                f"WITH best AS ({sql}), long AS ({long}) SELECT long.model_name, long.ratio, "
                f"long.value, long.id{named} ORDER BY long.k, long.model_name",
                params,
            ).df()

    def best_under(
        self, f: HistoryFilter, *, budget: float, latency_ms: float
    ) -> dict[str, Any] | None:
        """The best-F1 run that costs at most ``budget`` and answers within ``latency_ms``
        (of equal F1, the cheapest): one top-1 scan."""
        total = _X_COLUMNS["total_cost"]
        return self._first(
            f, f"{total} <= ? AND latency_ms <= ?", [budget, latency_ms], f"f1 DESC, {total}"
        )

    def _first(
        self, f: HistoryFilter, condition: str, values: list[Any], order: str
    ) -> dict[str, Any] | None:
        """The first matching run meeting ``condition`` in ``order`` (then by id)."""
        where, params = self._where(f)
        with self.cursor() as cur:
            found = cur.execute(
                f"SELECT id, {', '.join(_ANSWER_COLUMNS)} FROM calculations c "
                f"WHERE {where} AND {condition} ORDER BY {order}, id LIMIT 1",
                [*params, *values],
            ).fetchone()  # one row: no DataFrame
        return dict(zip(("id", *_ANSWER_COLUMNS), found, strict=True)) if found else None

    def _runs(self, *ids: int | None) -> list[dict[str, Any] | None]:
        """Calculations by id (name, F1, costs, latency), in the order asked; ``None`` for
        ``None``. Only these columns: whole rows are wide (history.py)."""
        with self.cursor() as cur:
            found = rows_by_id(cur, [i for i in ids if i is not None], _ANSWER_COLUMNS)
        rows = {int(row["id"]): row for row in found.to_dict("records")}
        return [None if i is None else rows.get(int(i)) for i in ids]

    def deletion_log(self, *, limit: int = 200, who: Person | None = None) -> pd.DataFrame:
        """Who deleted or restored which calculation, and when (newest first), with the
        run's model, name and id. For admins (``who``; default: the local operator)."""
        if who is not None:
            who.require_admin("The deletion log")
        with self.cursor() as cur:
            return cur.execute(
                "SELECT d.happened_at, d.action, d.done_by, c.model_name, c.run_name, "
                "c.run_id, d.calculation_id AS id FROM deletions d "
                "LEFT JOIN calculations c ON c.id = d.calculation_id "
                "ORDER BY d.happened_at DESC, d.calculation_id DESC LIMIT ?",
                [limit],
            ).df()
