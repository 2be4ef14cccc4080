"""The history as files: every run a filter keeps, whole or block by block."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mlprod.store.filters import HistoryFilter
from mlprod.store.history import ASSUMED_SQL, HistoryQueries

#: The text of a run an export writes (its size varies with what people typed).
_EXPORTED_TEXT = ("model_name", "run_id", "run_name", "project", "tags", "notes")
#: What the rest of an exported run takes as CSV (numbers, dates, currency, author,
#: source, assumptions), measured on tests/benchmarks/history.py's runs.
_EXPORT_NUMBER_BYTES = 200


class Exports(HistoryQueries):
    """The history as files (mixed into ``Store``)."""

    def export_filtered(self, f: HistoryFilter) -> pa.Table:
        """Every matching calculation with who saved it, as Arrow (for CSV / Parquet)."""
        with self.cursor() as cur:
            return self.sql.arrow(cur, *self._export_query(f))

    def export_blocks(self, f: HistoryFilter, rows: int = 65_536) -> Iterator[pa.Table]:
        """:meth:`export_filtered` block by block, for a file of any size: each block the
        next ``rows`` runs in the same order, found by a top-``rows`` scan after the last
        one sent. Only one block is held at a time, here and in the database (sorting the
        whole answer at once had taken DuckDB up to its memory cap on every click)."""
        after: tuple[Any, int] | None = None
        while True:
            with self.cursor() as cur:
                block = self.sql.arrow(cur, *self._export_query(f, after=after, limit=rows))
            if block.num_rows:
                yield block
            if block.num_rows < rows:
                return
            last = block.slice(block.num_rows - 1).to_pylist()[0]
            after = (last["created_at"], last["id"])

    def export_bytes_per_run(self) -> float:
        """How many bytes a live run takes in a CSV export, on average over the history
        (its text by its characters, and its numbers as written); 0 for an empty history."""
        text = " + ".join(f"coalesce(length(c.{c}), 0)" for c in _EXPORTED_TEXT)
        with self.cursor() as cur:
            row = cur.execute(
                f"SELECT avg({text}) FROM calculations c WHERE c.deleted_at IS NULL"
            ).fetchone()
        return float(row[0]) + _EXPORT_NUMBER_BYTES if row and row[0] is not None else 0.0

    def _export_query(
        self, f: HistoryFilter, *, after: tuple[Any, int] | None = None, limit: int | None = None
    ) -> tuple[str, list[Any]]:
        """The export's query, newest first; with ``after`` (a run's created_at and id),
        only the runs after it in that order; with ``limit``, the first ``limit`` of them
        (joined to their batch and assumptions only then)."""
        where, params = self._where(f)
        if after is not None:
            where += " AND (c.created_at < ? OR (c.created_at = ? AND c.id < ?))"
            params += [after[0], after[0], after[1]]
        order = "ORDER BY c.created_at DESC, c.id DESC"
        picked = f"SELECT * FROM calculations c WHERE {where} {order}" + (
            " LIMIT ?" if limit is not None else ""
        )
        return (
            "SELECT c.id, c.created_at, c.model_name, c.run_id, c.run_name, c.project, "
            "c.tags, c.notes, c.f1, c.training_cost, c.inference_cost, c.training_hours, "
            "c.latency_ms, c.cer, c.ter, c.psr, b.currency, b.author, b.source, "
            "coalesce(b.metric, 'f1') AS metric, c.f1 / a.energy_kwh AS quality_per_kwh, "
            f"{ASSUMED_SQL} FROM ({picked}) c "
            f"JOIN batches b ON b.batch_no = {self.sql.batch_of('c.id')} "
            f"LEFT JOIN cost_assumptions a ON a.calculation_id = c.id {order}",
            [*params, *([limit] if limit is not None else [])],
        )
