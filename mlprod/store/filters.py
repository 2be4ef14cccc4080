"""What the history page asks for: a filter, the answer's shape, and its time buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd

from mlprod.store.dialect import DUCKDB, Dialect, literal_pattern

__all__ = ["SEARCHED", "HistoryFilter", "HistoryOverview", "bucket_for"]

#: The text a search looks in: the run's names, project, tags and notes.
SEARCHED = ("model_name", "run_id", "run_name", "project", "tags", "notes")
#: A piece of a WHERE clause and the parameters of its placeholders, in order.
_Clause = tuple[str, list[Any]]


@dataclass(frozen=True)
class HistoryFilter:
    """What the history page shows: every list is "any of"; empty means no filter."""

    models: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    text: str = ""
    #: The quality metrics (keys, :mod:`mlprod.quality`): the page always picks one, so
    #: runs of two metrics are never ranked or drawn together.
    metrics: tuple[str, ...] = ()

    @property
    def searches(self) -> bool:
        """Whether a text search is on (only the calculations themselves can answer it)."""
        return bool(self.text.strip())

    def where(
        self, deleted: bool = False, *, rollup: bool = False, sql: Dialect = DUCKDB
    ) -> tuple[str, list[Any]]:
        """A WHERE clause on ``calculations c`` and its parameters; with ``rollup``, on
        ``rollup r`` (live calculations only; no text search); in ``sql``'s dialect."""
        if rollup:
            if deleted or self.searches:
                raise ValueError("the rollup holds live calculations and no text to search")
            clauses = [*self._on_runs("r", sql), *self._on_batches("r.batch_no"), *self._on_days()]
        else:
            clauses = [
                (f"c.deleted_at IS {'NOT ' if deleted else ''}NULL", []),
                *self._on_runs("c", sql),
                *self._on_batches(sql.batch_of("c.id")),
                *self._on_times(),
                *self._on_text(sql),
            ]
        return (
            " AND ".join(clause for clause, _ in clauses) or "true",
            [param for _, params in clauses for param in params],
        )

    def _on_runs(self, a: str, sql: Dialect) -> list[_Clause]:
        """Models, projects and tags: columns of both the calculations and the rollup."""
        clauses: list[_Clause] = [
            # one placeholder per value: DuckDB pushes a plain IN list into the scan
            (f"{a}.{column} IN ({', '.join('?' for _ in values)})", list(values))
            for column, values in (("model_name", self.models), ("project", self.projects))
            if values
        ]
        if self.tags:
            clauses.append((sql.has_any_tag(f"{a}.tags"), [list(self.tags)]))
        return clauses

    def _on_batches(self, batch: str) -> list[_Clause]:
        """Authors, sources and the metric are the batch's: a semi-join on the small
        batches table."""
        rules = [
            (f"{column} IN (SELECT unnest(?::VARCHAR[]))", list(values))
            for column, values in (
                ("author", self.authors),
                ("source", self.sources),
                ("coalesce(metric, 'f1')", self.metrics),
            )
            if values
        ]
        if not rules:
            return []
        return [
            (
                f"{batch} IN (SELECT batch_no FROM batches WHERE "
                f"{' AND '.join(rule for rule, _ in rules)})",
                [values for _, values in rules],
            )
        ]

    def _on_times(self) -> list[_Clause]:
        """The dates as a range of calculation times (the last day included)."""
        clauses: list[_Clause] = []
        if self.date_from:
            clauses.append(("c.created_at >= ?", [datetime.combine(self.date_from, time.min)]))
        if self.date_to:
            end = datetime.combine(self.date_to + timedelta(days=1), time.min)
            clauses.append(("c.created_at < ?", [end]))
        return clauses

    def _on_days(self) -> list[_Clause]:
        """The dates as the rollup's days."""
        clauses: list[_Clause] = []
        if self.date_from:
            clauses.append(("r.day >= ?", [self.date_from]))
        if self.date_to:
            clauses.append(("r.day <= ?", [self.date_to]))
        return clauses

    def _on_text(self, sql: Dialect) -> list[_Clause]:
        if not self.searches:
            return []
        pattern = literal_pattern(self.text.strip())
        return [(sql.holds_text(tuple(f"c.{c}" for c in SEARCHED)), [pattern] * len(SEARCHED))]


@dataclass(frozen=True)
class HistoryOverview:
    """What :meth:`Store.overview` returns: every figure of the history page."""

    summary: dict[str, Any]
    bucket: str
    trend: pd.DataFrame | None
    frontiers: dict[str, pd.DataFrame]
    points: pd.DataFrame | None
    best: pd.DataFrame | None
    cheapest: dict[str, Any] | None
    best_under: dict[str, Any] | None
    table: pd.DataFrame | None  # one page of the matching calculations, newest first


def bucket_for(first: datetime | None, last: datetime | None) -> str:
    """Trend buckets that give a readable number of points for a date span.

    >>> bucket_for(datetime(2026, 1, 1), datetime(2026, 2, 1)), bucket_for(None, None)
    ('day', 'day')
    >>> bucket_for(datetime(2025, 1, 1), datetime(2026, 6, 1))
    'week'
    """
    days = (last - first).days if first and last else 0
    return "day" if days <= 62 else "week" if days <= 730 else "month"
