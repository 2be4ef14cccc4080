"""Writes: batches of calculations, soft delete and restore, and the rollup they keep.

Every save is a batch (a calculator save is a batch of one), stored in one transaction:
after a crash the batch is all there or not there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, time, timedelta
from time import sleep
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from mlprod.access import Person
from mlprod.errors import AlreadySaved, DatabaseBusy
from mlprod.store.blocks import (
    INSERT_ROWS,
    KEEP,
    SIDE_COLUMNS,
    CalculationIds,
    SameShapeRuns,
    ServerCopy,
    grouped,
    insert_block,
    insert_stream,
    select_over,
)
from mlprod.store.connection import Connection
from mlprod.store.dialect import DUCKDB, Dialect
from mlprod.store.postgres import PostgresCursor, unique_violation
from mlprod.store.schema import (
    ASSUMPTION_COLUMNS,
    CALCULATION_COLUMNS,
    F1_INPUT_COLUMNS,
    ROWS_PER_BATCH,
    frontier_select,
    rollup_select,
    utc_now,
)

__all__ = ["KEEP"]


def _batch_rows(batch_no: int) -> str:
    """The calculations of one batch, as a range DuckDB prunes row groups with."""
    first = batch_no * ROWS_PER_BATCH
    return f"id BETWEEN {first} AND {first + ROWS_PER_BATCH - 1}"  # our integers


def _roll_up_batch(cur: Any, d: Dialect, batch_no: int) -> None:
    """Add a new batch's groups to the rollup and their frontier runs (its rows were just
    written)."""
    cur.execute(f"INSERT INTO rollup {rollup_select(d, _batch_rows(batch_no))}")
    cur.execute(f"INSERT INTO frontier_runs {frontier_select(d, _batch_rows(batch_no))}")


def _frontier_runs_here(cur: PostgresCursor, rows: str) -> None:
    """The frontier runs of the live calculations matching ``rows``, found by an
    in-process DuckDB and copied in (``Dialect.frontier_in_process``)."""
    live = cur.execute(
        "SELECT id, created_at, model_name, project, tags, f1, training_cost, "
        f"inference_cost, latency_ms, deleted_at FROM calculations WHERE deleted_at IS NULL "
        f"AND ({rows})"
    ).arrow()
    with duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    ) as local:
        fronts = select_over(
            local.from_arrow(live), "live", frontier_select(DUCKDB, "true", "live")
        ).to_arrow_table()
    cur.ingest("frontier_runs", fronts)


def _roll_up_again(cur: Any, d: Dialect, ids: list[int]) -> None:
    """Recompute the rollup groups of every batch and day these calculations are in (after
    they were deleted or restored): the same superset is removed and summed up again; and
    the frontier runs of those batches."""
    touched = cur.execute(
        f"SELECT DISTINCT {d.batch_of('id')}, CAST(created_at AS DATE) FROM calculations "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    ).fetchall()
    if not touched:
        return
    batches = sorted({int(b) for b, _ in touched})
    days = sorted({d_ for _, d_ in touched})
    d.lock_batches(cur, batches)
    cur.execute(
        "DELETE FROM rollup WHERE batch_no IN (SELECT unnest(?::BIGINT[])) "
        "AND day IN (SELECT unnest(?::DATE[]))",
        [batches, days],
    )
    # The frontier runs of those batches, all of them (their groups are not per day).
    cur.execute(
        "DELETE FROM frontier_runs WHERE batch_no IN (SELECT unnest(?::BIGINT[]))", [batches]
    )
    whole = " OR ".join(_batch_rows(b) for b in batches)
    if d.frontier_in_process:
        _frontier_runs_here(cur, whole)
    else:
        cur.execute(f"INSERT INTO frontier_runs {frontier_select(d, f'({whole})')}")
    rows = (
        f"({' OR '.join(_batch_rows(b) for b in batches)}) "
        "AND created_at >= ? AND created_at < ? "
        "AND CAST(created_at AS DATE) IN (SELECT unnest(?::DATE[]))"
    )
    cur.execute(
        f"INSERT INTO rollup {rollup_select(d, rows)}",
        [
            datetime.combine(days[0], time.min),
            datetime.combine(days[-1] + timedelta(days=1), time.min),
            days,
        ],
    )


def _saved_before(
    cur: Any, content_hash: str, other_than: int | None = None, metric: str | None = None
) -> dict[str, Any] | None:
    """The newest batch (other than ``other_than``) stored with this content hash, on the
    quality ``metric`` when one is named (on any otherwise)."""
    row = cur.execute(
        "SELECT batch_no, saved_at, author, file_name, row_count FROM batches "
        "WHERE content_hash = ? AND batch_no IS DISTINCT FROM ? "
        "AND (CAST(? AS VARCHAR) IS NULL OR coalesce(metric, 'f1') = ?) "
        "ORDER BY saved_at DESC, batch_no DESC LIMIT 1",
        [content_hash, other_than, metric, metric],
    ).fetchone()
    if row is None:
        return None
    return dict(zip(("batch_no", "saved_at", "author", "file_name", "rows"), row, strict=True))


def _file_guard(digest: str, metric: str) -> str:
    """A file's guard against being saved twice: its bytes, on one quality metric (the
    same file scored on F1 and on accuracy is two sets of numbers; F1's guard is the bare
    hash, as before metrics)."""
    return digest if metric == "f1" else f"{digest} on {metric}"


def _saved_before_text(file_name: str | None, previous: Mapping[str, Any]) -> str:
    return (
        f"{file_name or 'This file'} was saved before: {previous['rows']:,} rows on "
        f"{previous['saved_at']:%Y-%m-%d %H:%M} UTC by {previous['author'] or 'someone'} "
        f"(batch {previous['batch_no']})."
    )


class Writes(Connection):
    """Saving batches, deleting and restoring (mixed into ``Store``)."""

    _column_types: dict[str, dict[str, str]] | None = None

    def _server_types(self, cur: Any) -> dict[str, dict[str, str]]:
        """The server's column types of the tables a batch is copied into, as DuckDB
        spells them (read once per process, on the saving transaction's own cursor: a
        second connection per save could leave every pooled one waiting for another)."""
        if self._column_types is None:
            spelled = {
                "double precision": "DOUBLE",
                "bigint": "BIGINT",
                "date": "DATE",
                "timestamp without time zone": "TIMESTAMP",
                "integer": "INTEGER",
                "character varying": "VARCHAR",
                "text": "VARCHAR",
            }
            found = cur.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_name IN ('calculations', 'f1_inputs', 'cost_assumptions', 'rollup', "
                "'frontier_runs') "
                "AND table_schema = current_schema()"
            ).fetchall()
            types: dict[str, dict[str, str]] = {}
            for table, column, kind in found:
                types.setdefault(table, {})[column] = spelled[kind]
            self._column_types = types
        return self._column_types

    def _batch_number(self, cur: Any) -> tuple[int, datetime]:
        # fetchall: a result read to its end leaves the cursor free for an Arrow scan
        (row,) = cur.execute("SELECT nextval('batch_no')").fetchall()
        return int(row[0]), utc_now()

    def _record_batch(
        self,
        cur: Any,
        batch_no: int,
        now: datetime,
        *,
        rows: int,
        source: str,
        author: str | None,
        currency: str,
        file_name: str | None = None,
        content_hash: str | None = None,
        guard: str | None = None,
        metric: str = "f1",
    ) -> None:
        cur.execute(
            "INSERT INTO batches (batch_no, saved_at, author, source, file_name, content_hash, "
            "currency, row_count, guard, metric) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_no, now, author, source, file_name, content_hash, currency, rows, guard, metric],
        )

    def save_calculation(
        self,
        calculation: Mapping[str, Any],
        *,
        calc_key: str,
        author: str | None = None,
        source: str = "calculator",
    ) -> bool:
        """Store one calculation unless the one with the same ``calc_key`` is stored already.

        ``calc_key`` identifies one press of *Calculate*: saving it again (a double click, a
        rerun, another process at the same moment) stores nothing. Returns True when a row
        was written.
        """
        try:
            with self.transaction() as cur:
                seen = cur.execute(
                    "SELECT 1 FROM batches WHERE content_hash = ? AND source = ? LIMIT 1",
                    [calc_key, source],
                ).fetchone()
                if seen:
                    return False
                batch_no, now = self._batch_number(cur)
                self._record_batch(
                    cur,
                    batch_no,
                    now,
                    rows=1,
                    source=source,
                    author=author,
                    currency=calculation.get("currency") or "USD",
                    content_hash=calc_key,
                    guard=f"{source}:{calc_key}",
                    metric=calculation.get("metric") or "f1",
                )
                values = [calculation.get(name) for name in CALCULATION_COLUMNS]
                values[0] = values[0] or now
                calc_id = batch_no * ROWS_PER_BATCH
                cur.execute(
                    f"INSERT INTO calculations (id, {', '.join(CALCULATION_COLUMNS)}) "
                    f"VALUES (?, {', '.join('?' for _ in CALCULATION_COLUMNS)})",
                    [calc_id, *values],
                )
                parts = [calculation.get(name) for name in F1_INPUT_COLUMNS]
                if any(p is not None for p in parts):
                    cur.execute(
                        f"INSERT INTO f1_inputs (calculation_id, {', '.join(F1_INPUT_COLUMNS)}) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [calc_id, *parts],
                    )
                assumed = [calculation.get(name) for name in ASSUMPTION_COLUMNS]
                if any(a is not None for a in assumed):
                    columns = ", ".join(ASSUMPTION_COLUMNS)
                    cur.execute(
                        f"INSERT INTO cost_assumptions (calculation_id, {columns}) "
                        f"VALUES (?, {', '.join('?' for _ in ASSUMPTION_COLUMNS)})",
                        [calc_id, *assumed],
                    )
                _roll_up_batch(cur, self.sql, batch_no)
        except Exception as exc:
            if unique_violation(exc):
                return False  # the same press, saved by someone else a moment ago
            raise
        return True

    def append_calculations(
        self,
        chunks: pa.Table | pd.DataFrame | Iterable[pa.Table | pd.DataFrame],
        *,
        source: str,
        author: str | None = None,
        file_name: str | None = None,
        content_hash: str | Callable[[], str] | None = None,
        currency: str = "USD",
        unless_saved: bool = False,
        imported_from: str | None = None,
        metric: str | Callable[[], str] = "f1",
    ) -> int:
        """Store rows as one batch, in one transaction; returns the batch number.

        ``chunks`` is a table (or an iterable of tables, streamed) holding the five inputs
        and three ratios, and any other of :data:`CALCULATION_COLUMNS`,
        :data:`F1_INPUT_COLUMNS` and :data:`ASSUMPTION_COLUMNS`; when it has a boolean
        :data:`KEEP` column, only rows where it is true are stored. Either every row is
        stored or none is.

        ``content_hash`` may be a callable, asked once the rows are written: a file's hash
        can then be computed while its rows are scored and stored, not before. With
        ``unless_saved``, a batch of the same content hash already in the history (looked
        up inside this transaction, just before it commits, and held by a unique index
        against another process saving it at the same moment) stores nothing and raises
        :class:`~mlprod.errors.AlreadySaved`. With ``imported_from`` (a tracking server's
        address), each run id is recorded as imported from there: a run someone else
        imported at the same moment makes this batch store nothing (AlreadySaved).
        ``metric`` is the quality every row is scored on (:mod:`mlprod.quality`), or a
        callable asked once the rows are written.
        """
        if isinstance(chunks, pa.Table | pd.DataFrame):
            chunks = [chunks]
        digest: str | None = None
        quality: str | None = None
        try:
            with self.transaction() as cur:
                batch_no, now = self._batch_number(cur)
                stored = self._store_rows(cur, batch_no, now, chunks)
                digest = content_hash() if callable(content_hash) else content_hash
                quality = metric() if callable(metric) else metric
                if unless_saved and digest is not None:
                    previous = _saved_before(cur, digest, batch_no, quality)
                    if previous is not None:
                        raise AlreadySaved(_saved_before_text(file_name, previous), previous)
                self._record_batch(
                    cur,
                    batch_no,
                    now,
                    rows=stored,
                    source=source,
                    author=author,
                    currency=currency,
                    file_name=file_name,
                    content_hash=digest,
                    guard=_file_guard(digest, quality) if unless_saved and digest else None,
                    metric=quality,
                )
                if imported_from is not None:
                    cur.execute(
                        "INSERT INTO imported_runs (source, origin, run_id) SELECT DISTINCT ?, ?, "
                        f"run_id FROM calculations WHERE {_batch_rows(batch_no)} "
                        "AND run_id IS NOT NULL",
                        [source, imported_from],
                    )
                if not self.sql.copies_blocks:  # a server's was copied in with it
                    _roll_up_batch(cur, self.sql, batch_no)
        except Exception as exc:
            if not unique_violation(exc):
                raise
            previous = _saved_before_now(self, digest, quality) if digest and unless_saved else None
            if previous is not None:
                raise AlreadySaved(_saved_before_text(file_name, previous), previous) from None
            raise AlreadySaved(
                "Some of these runs were stored by someone else at the same moment; nothing "
                "of this batch was stored. Import again to add the runs that are still new.",
                {},
            ) from None
        return batch_no

    def _store_rows(
        self,
        cur: Any,
        batch_no: int,
        now: datetime,
        chunks: Iterable[pa.Table | pd.DataFrame],
    ) -> int:
        stamp = f"TIMESTAMP '{now.isoformat(sep=' ')}'"  # ours, not user input
        ids = CalculationIds(batch_no)
        stored = 0
        if self.sql.copies_blocks:
            copy = ServerCopy(cur, self._server_types(cur))
            try:
                for _, run in SameShapeRuns(chunks):
                    for table in grouped(run, INSERT_ROWS):
                        stored += copy.block(ids.add_to(table), stamp)
                copy.finish()
            finally:
                copy.close()
            return stored
        for given, run in SameShapeRuns(chunks):
            if given & SIDE_COLUMNS:
                # Rows with F1 parts or cost assumptions also go to the side tables:
                # three statements per block, each reading the block again.
                for table in grouped(run, INSERT_ROWS):
                    stored += insert_block(cur, ids.add_to(table), stamp)
            else:
                stored += insert_stream(cur, map(ids.add_to, run), given, stamp)
        return stored

    def find_batch(self, content_hash: str, metric: str | None = None) -> dict[str, Any] | None:
        """The newest batch stored from a file with this content hash (scored on ``metric``
        when one is named), if any."""
        with self.cursor() as cur:
            return _saved_before(cur, content_hash, metric=metric)

    def soft_delete(
        self, ids: list[int], *, by: str | None = None, who: Person | None = None
    ) -> list[int]:
        """Mark calculations deleted (they stay restorable); returns the ids this call
        deleted (not those someone had deleted already). ``who`` (default: the local
        operator) must edit every project these runs are in, else
        :class:`~mlprod.errors.NotAllowed` and nothing changes."""
        return self._mark(ids, deleted=True, by=by, who=who)

    def restore(
        self, ids: list[int], *, by: str | None = None, who: Person | None = None
    ) -> list[int]:
        """Undo :meth:`soft_delete`; returns the ids this call brought back (``who`` as
        for :meth:`soft_delete`)."""
        return self._mark(ids, deleted=False, by=by, who=who)

    def _mark(
        self, ids: list[int], *, deleted: bool, by: str | None, who: Person | None
    ) -> list[int]:
        if who is not None:
            by = who.name or by
            with self.cursor() as cur:
                projects = [
                    r[0]
                    for r in cur.execute(
                        "SELECT DISTINCT project FROM calculations "
                        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
                        [list(ids)],
                    ).fetchall()
                ]
            who.require_change(projects)
        now = utc_now()
        state = "deleted_at IS NULL" if deleted else "deleted_at IS NOT NULL"
        attempts = 6
        for attempt in range(attempts):
            try:
                with self.transaction() as cur:
                    changed = cur.execute(
                        f"UPDATE calculations SET deleted_at = ? WHERE {state} "
                        "AND id IN (SELECT unnest(?::BIGINT[])) RETURNING id",
                        [now if deleted else None, ids],
                    ).fetchall()
                    if changed:
                        action = "delete" if deleted else "restore"
                        cur.execute(
                            "INSERT INTO deletions (calculation_id, action, happened_at, done_by) "
                            "SELECT unnest(?::BIGINT[]), ?, ?, ?",
                            [[r[0] for r in changed], action, now, by],
                        )
                        _roll_up_again(cur, self.sql, [r[0] for r in changed])
                return sorted(int(r[0]) for r in changed)
            except Exception as exc:
                if not _conflict(exc):
                    raise
                # Someone is changing the same rows right now: wait for them to finish and
                # look again; rows they deleted (or restored) no longer match, so they are
                # not counted twice.
                if attempt == attempts - 1:
                    raise DatabaseBusy(
                        "Someone else kept changing these runs at the same moment; nothing "
                        "was changed. Try again."
                    ) from None
                sleep(0.02 * 2**attempt)
        return []


def _conflict(exc: BaseException) -> bool:
    """Two transactions changed the same rows (DuckDB's optimistic check; a server's
    serialization failure or deadlock): worth trying again."""
    if isinstance(exc, duckdb.TransactionException):
        return True
    return str(getattr(exc, "sqlstate", "")) in ("40001", "40P01")


def _saved_before_now(store: Writes, digest: str, metric: str | None) -> dict[str, Any] | None:
    with store.cursor() as cur:
        return _saved_before(cur, digest, metric=metric)
