"""Lookups of single runs: search, by id, the newest per model (Compare, chart tooltips)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from mlprod.store.connection import Connection
from mlprod.store.dialect import literal_pattern
from mlprod.store.filters import SEARCHED
from mlprod.store.schema import ASSUMPTION_COLUMNS

__all__ = ["RUN_DETAILS", "rows_by_id"]

#: What names a run in a tooltip or an answer: its model, run id and name, and date.
RUN_DETAILS = ("model_name", "run_id", "run_name", "created_at")


def rows_by_id(cur: Any, ids: list[int], columns: tuple[str, ...]) -> pd.DataFrame:
    """A few calculations by id: a hash join against the id list (faster than
    ``id IN (literal list)``: history.py)."""
    if not ids:
        return pd.DataFrame(columns=["id", *columns])
    return cur.execute(
        f"SELECT id, {', '.join(columns)} FROM calculations "
        "JOIN (SELECT unnest(?::BIGINT[]) AS id) wanted USING (id)",
        [sorted({int(i) for i in ids})],
    ).df()


class Lookups(Connection):
    """Runs by search text or id, and who last deleted or restored them (mixed into
    ``Store``)."""

    def search(self, text: str = "", *, limit: int = 200) -> pd.DataFrame:
        """Live calculations whose names, project, tags or notes contain ``text`` as typed
        (case-insensitive; ``%`` and ``_`` are no wildcards), newest first."""
        text = text.strip()
        found = self.sql.holds_text(SEARCHED) if text else "true"
        with self.cursor() as cur:
            return cur.execute(
                "SELECT id, created_at, model_name, run_id, run_name, project, tags, f1, "
                "training_cost, inference_cost, training_hours, latency_ms, cer, ter, psr, "
                "currency, author, source, metric FROM history "
                f"WHERE deleted_at IS NULL AND {found} "
                "ORDER BY created_at DESC, id DESC LIMIT ?",
                [*[literal_pattern(text)] * (len(SEARCHED) if text else 0), limit],
            ).df()

    def calculations_by_id(self, ids: list[int]) -> pd.DataFrame:
        """The calculations with these ids (deleted ones too), in the order asked."""
        with self.cursor() as cur:
            found = cur.execute(
                f"SELECT h.*, {', '.join(f'a.{c}' for c in ASSUMPTION_COLUMNS)} FROM history h "
                "LEFT JOIN cost_assumptions a ON a.calculation_id = h.id "
                "WHERE h.id IN (SELECT unnest(?::BIGINT[]))",
                [ids],
            ).df()
        order = {calc_id: i for i, calc_id in enumerate(ids)}
        return found.sort_values("id", key=lambda s: s.map(order)).reset_index(drop=True)

    def latest_per_model(self, models: int = 2) -> pd.DataFrame:
        """The newest calculation of each of the ``models`` most recently used models."""
        with self.cursor() as cur:
            return cur.execute(
                "SELECT * FROM history WHERE id IN (SELECT id FROM (SELECT id, row_number() "
                "OVER (PARTITION BY model_name ORDER BY created_at DESC, id DESC) AS newest "
                "FROM calculations WHERE deleted_at IS NULL AND model_name IS NOT NULL) n "
                "WHERE newest = 1) ORDER BY created_at DESC, id DESC LIMIT ?",
                [models],
            ).df()

    def run_details(self, ids: Iterable[int]) -> pd.DataFrame:
        """Model, run id and name and date of a few calculations (for chart tooltips)."""
        with self.cursor() as cur:
            return rows_by_id(cur, list(ids), RUN_DETAILS)

    def saved_run_ids(self, source: str, origin: str, run_ids: Iterable[str]) -> set[str]:
        """Which of these run ids are in the history already from this source and origin
        (a tracking server's address), deleted ones included: an import then adds only
        new runs, and a run someone deleted does not come back."""
        wanted = [r for r in run_ids if r]
        if not wanted:
            return set()
        with self.cursor() as cur:
            found = cur.execute(
                "SELECT run_id FROM imported_runs WHERE source = ? AND origin = ? "
                "AND run_id IN (SELECT unnest(?::VARCHAR[]))",
                [source, origin, wanted],
            ).fetchall()
        return {r[0] for r in found}

    def last_changes(self, ids: list[int]) -> list[dict[str, Any]]:
        """The newest delete or restore of each of these calculations (``id``, ``action``,
        ``done_by``, ``happened_at``): who got there first when a delete or restore
        changed fewer runs than were picked."""
        if not ids:
            return []
        with self.cursor() as cur:
            rows = cur.execute(
                f"SELECT calculation_id, {self.sql.latest('action', 'happened_at')}, "
                f"{self.sql.latest('done_by', 'happened_at')}, max(happened_at) "
                "FROM deletions WHERE calculation_id IN (SELECT unnest(?::BIGINT[])) "
                "GROUP BY calculation_id ORDER BY calculation_id",
                [list(ids)],
            ).fetchall()
        keys = ("id", "action", "done_by", "happened_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
