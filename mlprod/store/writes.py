"""Writes: batches of calculations, soft delete and restore, and the rollup they keep.

Every save is a batch (a calculator save is a batch of one), stored in one transaction:
after a crash the batch is all there or not there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, time, timedelta
from time import sleep
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from mlprod.errors import AlreadySaved, DatabaseBusy
from mlprod.store.connection import Connection
from mlprod.store.dialect import DUCKDB, Dialect
from mlprod.store.postgres import PostgresCursor, unique_violation
from mlprod.store.schema import (
    ASSUMPTION_COLUMNS,
    CALCULATION_COLUMNS,
    F1_INPUT_COLUMNS,
    ROLLUP_OF_PARTS,
    ROWS_PER_BATCH,
    rollup_select,
    utc_now,
)

__all__ = ["KEEP"]

INSERT_ROWS = 256 * 1024  # rows gathered into one INSERT (see _grouped)
#: A boolean column a caller may add to the rows it saves: rows where it is false are not
#: stored. A scored file carries its bad rows too; DuckDB skips them while it scans, which
#: is cheaper than copying the good rows into a new Arrow table first.
KEEP = "keep"


def _grouped(chunks: Iterable[pa.Table | pd.DataFrame], rows: int) -> Iterator[pa.Table]:
    """Non-empty tables of at least ``rows`` rows (the last may be smaller) from chunks.

    DuckDB scans a one-batch Arrow table on one thread; a table of two blocks is scanned
    on both cores, and the statement overhead is paid half as often.
    """
    pending: list[pa.Table] = []
    held = 0
    for chunk in chunks:
        table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pandas(chunk)
        if table.num_rows == 0:
            continue
        if pending and table.schema != pending[0].schema:
            yield pa.concat_tables(pending)
            pending, held = [], 0
        pending.append(table)
        held += table.num_rows
        if held >= rows:
            yield pa.concat_tables(pending)
            pending, held = [], 0
    if pending:
        yield pa.concat_tables(pending)


_SIDE_COLUMNS = frozenset(F1_INPUT_COLUMNS) | frozenset(ASSUMPTION_COLUMNS)
_STORED = frozenset(CALCULATION_COLUMNS) | _SIDE_COLUMNS


def _given(table: pa.Table) -> frozenset[str]:
    """Stored columns holding at least one value; all-null ones are left to their default
    (NULL) rather than scanned and written value by value."""
    return frozenset(
        c for c in table.column_names if c in _STORED and table[c].null_count < table.num_rows
    )


class _Runs:
    """Chunks split into runs that one INSERT can read as one Arrow stream: the same
    schema, and no values in a column the run's first table left empty (that starts a new
    run). Each run must be read to its end before the next is asked for."""

    def __init__(self, chunks: Iterable[pa.Table | pd.DataFrame]) -> None:
        tables = (c if isinstance(c, pa.Table) else pa.Table.from_pandas(c) for c in chunks)
        self._tables = (t for t in tables if t.num_rows)
        self._head = next(self._tables, None)

    def __iter__(self) -> Iterator[tuple[frozenset[str], Iterator[pa.Table]]]:
        while self._head is not None:
            first, self._head = self._head, None
            given = _given(first)
            yield given, self._run(first, given)

    def _run(self, first: pa.Table, given: frozenset[str]) -> Iterator[pa.Table]:
        yield first
        for table in self._tables:
            if table.schema != first.schema or not _given(table) <= given:
                self._head = table
                return
            yield table


class _Ids:
    """A calculation's id: its batch number times ROWS_PER_BATCH plus its row in the batch
    (bad rows count too, so an id also tells the row's place in the file)."""

    def __init__(self, batch_no: int) -> None:
        self.next = batch_no * ROWS_PER_BATCH

    def add_to(self, table: pa.Table) -> pa.Table:
        ids = np.arange(self.next, self.next + table.num_rows, dtype=np.int64)
        self.next += table.num_rows
        return table.append_column("id", pa.array(ids))


def _kept(table: pa.Table) -> str:
    return KEEP if KEEP in table.column_names else "true"


def _calculations_select(given: frozenset[str], stamp: str, ok: str) -> tuple[list[str], str]:
    """The columns and SELECT of ``incoming``'s good rows for calculations (only the given
    columns; a row without its own date gets the save's time ``stamp``)."""
    present = [c for c in CALCULATION_COLUMNS[1:] if c in given]
    created = f"coalesce(created_at, {stamp})" if "created_at" in given else stamp
    columns = ["id", "created_at", *present]
    return (
        columns,
        f"SELECT id, {created} AS created_at, {', '.join(present)} FROM incoming WHERE {ok}",
    )


def _f1_inputs_select(given: frozenset[str], ok: str) -> tuple[list[str], str] | None:
    parts = [c for c in F1_INPUT_COLUMNS if c in given]
    if not parts:
        return None
    any_part = " OR ".join(f"{c} IS NOT NULL AND NOT isnan({c})" for c in parts)
    return (
        ["calculation_id", *parts],
        f"SELECT id AS calculation_id, {', '.join(parts)} FROM incoming "
        f"WHERE ({any_part}) AND {ok}",
    )


def _assumptions_select(given: frozenset[str], ok: str) -> tuple[list[str], str] | None:
    assumed = [c for c in ASSUMPTION_COLUMNS if c in given]
    if not assumed:
        return None
    # Only rows whose cost was built (GPUs, a batch scenario) carry assumptions.
    marks = [c for c in ("gpu_model", "inference_mode") if c in assumed]
    rows = " OR ".join(f"{c} IS NOT NULL" for c in marks) if marks else "true"
    return (
        ["calculation_id", *assumed],
        f"SELECT id AS calculation_id, {', '.join(assumed)} FROM incoming WHERE ({rows}) AND {ok}",
    )


def _insert(table: str, shape: tuple[list[str], str]) -> str:
    columns, select = shape
    return f"INSERT INTO {table} ({', '.join(columns)}) {select}"


def _insert_stream(
    cur: duckdb.DuckDBPyConnection, tables: Iterator[pa.Table], given: frozenset[str], stamp: str
) -> int:
    """Insert tables of one schema with ONE statement reading them as an Arrow stream.

    DuckDB pulls the next block on its own threads while it writes the last (so parsing
    a file overlaps storing it), and a single statement writes 1M rows in ~0.40 s where
    one statement per 256k-row block took ~0.60 s. Returns the number of rows stored.
    """
    first = next(tables)
    failure: list[Exception] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from first.to_batches()
            for table in tables:
                yield from table.to_batches()
        except Exception as exc:  # DuckDB sees a failed stream; the caller sees this
            failure.append(exc)
            raise

    reader = pa.RecordBatchReader.from_batches(first.schema, batches())
    try:
        # The SQL reads the stream as a relation on this cursor: no replacement scan
        # (external access is off) and nothing registered that outlives the statement.
        inserted = _query(
            cur.from_arrow(reader),
            _insert("calculations", _calculations_select(given, stamp, _kept(first))),
        ).fetchall()  # DML runs once, in query(); this reads its row count
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    return int(inserted[0][0]) if inserted else 0


def _insert_block(cur: duckdb.DuckDBPyConnection, table: pa.Table, stamp: str) -> int:
    """Insert one block (with ids) into calculations and its side tables."""
    given = _given(table)
    ok = _kept(table)
    incoming = cur.from_arrow(table)
    inserted = _query(incoming, _insert("calculations", _calculations_select(given, stamp, ok)))
    for name, shape in (("f1_inputs", _f1_inputs_select(given, ok)),
                        ("cost_assumptions", _assumptions_select(given, ok))):  # fmt: skip
        if shape is not None:
            _query(incoming, _insert(name, shape))
    rows = inserted.fetchall()
    return int(rows[0][0]) if rows else 0


class _ServerCopy:
    """A batch's blocks written to a database server by binary COPY from Arrow.

    An in-process DuckDB shapes each block as the embedded database's INSERTs do (the
    same SELECTs: good rows only, the save's time for rows without a date, side-table
    rows only where a value was given), cast to the server's column types, and the
    server's driver copies the result in (PostgreSQL: ``COPY ... FROM STDIN BINARY``).
    The batch's rollup rows are summed up here too, block by block, and copied in at the
    end (:meth:`finish`): a server's row store took ~4 s to group 1M rows it was just sent.
    """

    def __init__(self, cur: PostgresCursor, types: Mapping[str, Mapping[str, str]]) -> None:
        self._cur = cur
        self._types = types
        self._local = duckdb.connect(config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})  # fmt: skip
        self._parts: list[pa.Table] = []

    def block(self, table: pa.Table, stamp: str) -> int:
        given = _given(table)
        ok = _kept(table)
        incoming = self._local.from_arrow(table)
        stored = 0
        for name, shape in (("calculations", _calculations_select(given, stamp, ok)),
                            ("f1_inputs", _f1_inputs_select(given, ok)),
                            ("cost_assumptions", _assumptions_select(given, ok))):  # fmt: skip
            if shape is None:
                continue
            columns, select = shape
            kinds = self._types[name]
            cast = ", ".join(f"CAST({c} AS {kinds[c]}) AS {c}" for c in columns)
            rows = incoming.query("incoming", f"SELECT {cast} FROM ({select})").to_arrow_table()
            copied = self._cur.ingest(name, rows)
            if name == "calculations":
                stored = copied
                absent = [f"CAST(NULL AS VARCHAR) AS {c}" for c in ("model_name", "project", "tags")
                          if c not in columns]  # fmt: skip
                live = self._local.from_arrow(rows).query(
                    "block",
                    f"SELECT *, {', '.join([*absent, 'CAST(NULL AS TIMESTAMP) AS deleted_at'])} "
                    "FROM block",
                )
                self._parts.append(
                    live.query("live", rollup_select(DUCKDB, "true", "live")).to_arrow_table()
                )
        return stored

    def finish(self) -> None:
        """Copy the batch's rollup rows in (after its last block)."""
        if not self._parts:
            return
        parts = self._local.from_arrow(pa.concat_tables(self._parts))
        rolled = parts.query("parts", ROLLUP_OF_PARTS)
        kinds = self._types["rollup"]
        cast = ", ".join(f"CAST({c} AS {kinds[c]}) AS {c}" for c in rolled.columns)
        self._cur.ingest(
            "rollup", rolled.query("rolled", f"SELECT {cast} FROM rolled").to_arrow_table()
        )

    def close(self) -> None:
        self._local.close()


def _batch_rows(batch_no: int) -> str:
    """The calculations of one batch, as a range DuckDB prunes row groups with."""
    first = batch_no * ROWS_PER_BATCH
    return f"id BETWEEN {first} AND {first + ROWS_PER_BATCH - 1}"  # our integers


def _roll_up_batch(cur: Any, d: Dialect, batch_no: int) -> None:
    """Add a new batch's groups to the rollup (its rows were just written)."""
    cur.execute(f"INSERT INTO rollup {rollup_select(d, _batch_rows(batch_no))}")


def _roll_up_again(cur: Any, d: Dialect, ids: list[int]) -> None:
    """Recompute the rollup groups of every batch and day these calculations are in (after
    they were deleted or restored): the same superset is removed and summed up again."""
    touched = cur.execute(
        f"SELECT DISTINCT {d.batch_of('id')}, CAST(created_at AS DATE) FROM calculations "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    ).fetchall()
    if not touched:
        return
    batches = sorted({int(b) for b, _ in touched})
    days = sorted({d_ for _, d_ in touched})
    cur.execute(
        "DELETE FROM rollup WHERE batch_no IN (SELECT unnest(?::BIGINT[])) "
        "AND day IN (SELECT unnest(?::DATE[]))",
        [batches, days],
    )
    rows = (
        f"({' OR '.join(_batch_rows(b) for b in batches)}) "
        "AND created_at >= ? AND created_at < ? "
        "AND CAST(created_at AS DATE) IN (SELECT unnest(?::DATE[]))"
    )
    cur.execute(
        f"INSERT INTO rollup {rollup_select(d, rows)}",
        [datetime.combine(days[0], time.min),
         datetime.combine(days[-1] + timedelta(days=1), time.min), days],
    )  # fmt: skip


def _saved_before(
    cur: Any, content_hash: str, other_than: int | None = None
) -> dict[str, Any] | None:
    """The newest batch (other than ``other_than``) stored with this content hash."""
    row = cur.execute(
        "SELECT batch_no, saved_at, author, file_name, row_count FROM batches "
        "WHERE content_hash = ? AND batch_no IS DISTINCT FROM ? "
        "ORDER BY saved_at DESC, batch_no DESC LIMIT 1",
        [content_hash, other_than],
    ).fetchone()
    if row is None:
        return None
    return dict(zip(("batch_no", "saved_at", "author", "file_name", "rows"), row, strict=True))


def _saved_before_text(file_name: str | None, previous: Mapping[str, Any]) -> str:
    return (
        f"{file_name or 'This file'} was saved before: {previous['rows']:,} rows on "
        f"{previous['saved_at']:%Y-%m-%d %H:%M} UTC by {previous['author'] or 'someone'} "
        f"(batch {previous['batch_no']})."
    )


def _query(incoming: duckdb.DuckDBPyRelation, sql: str) -> duckdb.DuckDBPyRelation:
    """Run ``sql`` (DML: it runs once, here) with the relation readable as ``incoming``.

    Inside a transaction, DuckDB 2.0 reports a failed statement as "Current transaction is
    aborted" and keeps the real reason (a constraint, say) as the context: raise that.
    """
    try:
        return incoming.query("incoming", sql)
    except duckdb.TransactionException as exc:
        if isinstance(exc.__context__, duckdb.Error):
            raise exc.__context__ from None
        raise


class _Writes(Connection):
    """Saving batches, deleting and restoring (mixed into ``Store``)."""

    _column_types: dict[str, dict[str, str]] | None = None

    def _server_types(self, cur: Any) -> dict[str, dict[str, str]]:
        """The server's column types of the tables a batch is copied into, as DuckDB
        spells them (read once per process, on the saving transaction's own cursor: a
        second connection per save could leave every pooled one waiting for another)."""
        if self._column_types is None:
            spelled = {"double precision": "DOUBLE", "bigint": "BIGINT", "date": "DATE",
                       "timestamp without time zone": "TIMESTAMP", "integer": "INTEGER",
                       "character varying": "VARCHAR", "text": "VARCHAR"}  # fmt: skip
            found = cur.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_name IN ('calculations', 'f1_inputs', 'cost_assumptions', 'rollup') "
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
    ) -> None:
        cur.execute(
            "INSERT INTO batches (batch_no, saved_at, author, source, file_name, content_hash, "
            "currency, row_count, guard) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_no, now, author, source, file_name, content_hash, currency, rows, guard],
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
                    cur, batch_no, now, rows=1, source=source, author=author,
                    currency=calculation.get("currency") or "USD", content_hash=calc_key,
                    guard=f"{source}:{calc_key}",
                )  # fmt: skip
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
        """
        if isinstance(chunks, pa.Table | pd.DataFrame):
            chunks = [chunks]
        digest: str | None = None
        try:
            with self.transaction() as cur:
                batch_no, now = self._batch_number(cur)
                stored = self._store_rows(cur, batch_no, now, chunks)
                digest = content_hash() if callable(content_hash) else content_hash
                if unless_saved and digest is not None:
                    previous = _saved_before(cur, digest, batch_no)
                    if previous is not None:
                        raise AlreadySaved(_saved_before_text(file_name, previous), previous)
                self._record_batch(
                    cur, batch_no, now, rows=stored, source=source, author=author,
                    currency=currency, file_name=file_name, content_hash=digest,
                    guard=digest if unless_saved else None,
                )  # fmt: skip
                if imported_from is not None:
                    cur.execute(
                        "INSERT INTO imported_runs (source, origin, run_id) SELECT DISTINCT ?, ?, "
                        f"run_id FROM calculations WHERE {_batch_rows(batch_no)} "
                        "AND run_id IS NOT NULL",
                        [source, imported_from],
                    )
                if not isinstance(cur, PostgresCursor):  # a server's was copied in with it
                    _roll_up_batch(cur, self.sql, batch_no)
        except Exception as exc:
            if not unique_violation(exc):
                raise
            previous = _saved_before_now(self, digest) if digest and unless_saved else None
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
        ids = _Ids(batch_no)
        stored = 0
        if isinstance(cur, PostgresCursor):
            copy = _ServerCopy(cur, self._server_types(cur))
            try:
                for _, run in _Runs(chunks):
                    for table in _grouped(run, INSERT_ROWS):
                        stored += copy.block(ids.add_to(table), stamp)
                copy.finish()
            finally:
                copy.close()
            return stored
        for given, run in _Runs(chunks):
            if given & _SIDE_COLUMNS:
                # Rows with F1 parts or cost assumptions also go to the side tables:
                # three statements per block, each reading the block again.
                for table in _grouped(run, INSERT_ROWS):
                    stored += _insert_block(cur, ids.add_to(table), stamp)
            else:
                stored += _insert_stream(cur, map(ids.add_to, run), given, stamp)
        return stored

    def find_batch(self, content_hash: str) -> dict[str, Any] | None:
        """The newest batch stored from a file with this content hash, if any."""
        with self.cursor() as cur:
            return _saved_before(cur, content_hash)

    def soft_delete(self, ids: list[int], *, by: str | None = None) -> int:
        """Mark calculations deleted (they stay restorable); returns how many changed."""
        return self._mark(ids, deleted=True, by=by)

    def restore(self, ids: list[int], *, by: str | None = None) -> int:
        """Undo :meth:`soft_delete`; returns how many calculations came back."""
        return self._mark(ids, deleted=False, by=by)

    def _mark(self, ids: list[int], *, deleted: bool, by: str | None) -> int:
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
                return len(changed)
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
        return 0


def _conflict(exc: BaseException) -> bool:
    """Two transactions changed the same rows (DuckDB's optimistic check; a server's
    serialization failure or deadlock): worth trying again."""
    if isinstance(exc, duckdb.TransactionException):
        return True
    return str(getattr(exc, "sqlstate", "")) in ("40001", "40P01")


def _saved_before_now(store: _Writes, digest: str) -> dict[str, Any] | None:
    with store.cursor() as cur:
        return _saved_before(cur, digest)
