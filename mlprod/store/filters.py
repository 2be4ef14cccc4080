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

    @property
    def searches(self) -> bool:
        """Whether a text search is on (only the calculations themselves can answer it)."""
        return bool(self.text.strip())

    def where(
        self, deleted: bool = False, *, rollup: bool = False, sql: Dialect = DUCKDB
    ) -> tuple[str, list[Any]]:
        """A WHERE clause on ``calculations c`` and its parameters; with ``rollup``, on
        ``rollup r`` (live calculations only; no text search); in ``sql``'s dialect."""
        if rollup and (deleted or self.searches):
            raise ValueError("the rollup holds live calculations and no text to search")
        a = "r" if rollup else "c"
        clauses = [] if rollup else [f"c.deleted_at IS {'NOT ' if deleted else ''}NULL"]
        params: list[Any] = []
        for column, values in (("model_name", self.models), ("project", self.projects)):
            if values:  # one placeholder per value: DuckDB pushes a plain IN list into the scan
                clauses.append(f"{a}.{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        if self.tags:
            clauses.append(sql.has_any_tag(f"{a}.tags"))
            params.append(list(self.tags))
        batch_rules = []
        for column, values in (("author", self.authors), ("source", self.sources)):
            if values:
                batch_rules.append(f"{column} IN (SELECT unnest(?::VARCHAR[]))")
                params.append(list(values))
        if batch_rules:  # batch-level filters: a semi-join on the small batches table
            batch = "r.batch_no" if rollup else sql.batch_of("c.id")
            clauses.append(
                f"{batch} IN (SELECT batch_no FROM batches WHERE {' AND '.join(batch_rules)})"
            )
        if self.date_from:
            clauses.append("r.day >= ?" if rollup else "c.created_at >= ?")
            params.append(self.date_from if rollup else datetime.combine(self.date_from, time.min))
        if self.date_to:
            clauses.append("r.day <= ?" if rollup else "c.created_at < ?")
            params.append(
                self.date_to
                if rollup
                else datetime.combine(self.date_to + timedelta(days=1), time.min)
            )
        if self.searches:
            clauses.append(sql.holds_text(tuple(f"c.{c}" for c in SEARCHED)))
            params += [literal_pattern(self.text.strip())] * len(SEARCHED)
        return " AND ".join(clauses) or "true", params


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
