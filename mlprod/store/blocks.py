"""A batch's blocks, shaped and inserted: the streamed Arrow INSERT into the DuckDB file,
and the binary COPY into a database server (with the batch's rollup rows summed up on the
way). What a block is (ids, good rows, given columns) is decided here once for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from mlprod.store.dialect import DUCKDB
from mlprod.store.postgres import PostgresCursor
from mlprod.store.schema import (
    ASSUMPTION_COLUMNS,
    CALCULATION_COLUMNS,
    F1_INPUT_COLUMNS,
    ROLLUP_OF_PARTS,
    ROWS_PER_BATCH,
    frontier_select,
    rollup_select,
)

__all__ = [
    "INSERT_ROWS",
    "KEEP",
    "SIDE_COLUMNS",
    "CalculationIds",
    "SameShapeRuns",
    "ServerCopy",
    "grouped",
    "insert_block",
    "insert_stream",
    "select_over",
]

INSERT_ROWS = 256 * 1024  # rows gathered into one INSERT (see grouped)
#: A boolean column a caller may add to the rows it saves: rows where it is false are not
#: stored. A scored file carries its bad rows too; DuckDB skips them while it scans, which
#: is cheaper than copying the good rows into a new Arrow table first.
KEEP = "keep"


def grouped(chunks: Iterable[pa.Table | pd.DataFrame], rows: int) -> Iterator[pa.Table]:
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


SIDE_COLUMNS = frozenset(F1_INPUT_COLUMNS) | frozenset(ASSUMPTION_COLUMNS)
_STORED = frozenset(CALCULATION_COLUMNS) | SIDE_COLUMNS


def _given(table: pa.Table) -> frozenset[str]:
    """Stored columns holding at least one value; all-null ones are left to their default
    (NULL) rather than scanned and written value by value."""
    return frozenset(
        c for c in table.column_names if c in _STORED and table[c].null_count < table.num_rows
    )


class SameShapeRuns:
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


class CalculationIds:
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


def insert_stream(
    cur: duckdb.DuckDBPyConnection, tables: Iterator[pa.Table], given: frozenset[str], stamp: str
) -> int:
    """Insert tables of one schema with ONE statement reading them as an Arrow stream.

    DuckDB pulls the next block on its own threads while it writes the last (so parsing
    a file overlaps storing it); one statement for the whole stream is faster than one per
    block (run.py's ``store_only``). Returns the number of rows stored.
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


def insert_block(cur: duckdb.DuckDBPyConnection, table: pa.Table, stamp: str) -> int:
    """Insert one block (with ids) into calculations and its side tables."""
    given = _given(table)
    ok = _kept(table)
    incoming = cur.from_arrow(table)
    inserted = _query(incoming, _insert("calculations", _calculations_select(given, stamp, ok)))
    for name, shape in (
        ("f1_inputs", _f1_inputs_select(given, ok)),
        ("cost_assumptions", _assumptions_select(given, ok)),
    ):
        if shape is not None:
            _query(incoming, _insert(name, shape))
    rows = inserted.fetchall()
    return int(rows[0][0]) if rows else 0


class ServerCopy:
    """A batch's blocks written to a database server by binary COPY from Arrow.

    An in-process DuckDB shapes each block as the embedded database's INSERTs do (the
    same SELECTs: good rows only, the save's time for rows without a date, side-table
    rows only where a value was given), cast to the server's column types, and the
    server's driver copies the result in (PostgreSQL: ``COPY ... FROM STDIN BINARY``).
    The batch's rollup rows are summed up here too, block by block, and copied in at the
    end with each block's frontier runs (:meth:`finish`): a server's row store is slow to
    group rows it was just sent (postgres.py).
    """

    def __init__(self, cur: PostgresCursor, types: Mapping[str, Mapping[str, str]]) -> None:
        self._cur = cur
        self._types = types
        self._local = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        self._parts: list[pa.Table] = []
        self._fronts: list[pa.Table] = []  # each block's frontier runs: a superset

    def block(self, table: pa.Table, stamp: str) -> int:
        given = _given(table)
        ok = _kept(table)
        incoming = self._local.from_arrow(table)
        stored = 0
        for name, shape in (
            ("calculations", _calculations_select(given, stamp, ok)),
            ("f1_inputs", _f1_inputs_select(given, ok)),
            ("cost_assumptions", _assumptions_select(given, ok)),
        ):
            if shape is None:
                continue
            columns, select = shape
            kinds = self._types[name]
            cast = ", ".join(f"CAST({c} AS {kinds[c]}) AS {c}" for c in columns)
            rows = select_over(
                incoming, "incoming", f"SELECT {cast} FROM ({select})"
            ).to_arrow_table()
            copied = self._cur.ingest(name, rows)
            if name == "calculations":
                stored = copied
                absent = [
                    f"CAST(NULL AS VARCHAR) AS {c}"
                    for c in ("model_name", "project", "tags")
                    if c not in columns
                ]
                live = select_over(
                    self._local.from_arrow(rows),
                    "block",
                    f"SELECT *, {', '.join([*absent, 'CAST(NULL AS TIMESTAMP) AS deleted_at'])} "
                    "FROM block",
                )
                self._parts.append(
                    select_over(
                        live, "live", rollup_select(DUCKDB, "true", "live")
                    ).to_arrow_table()
                )
                self._fronts.append(
                    select_over(
                        live, "live", frontier_select(DUCKDB, "true", "live")
                    ).to_arrow_table()
                )
        return stored

    def finish(self) -> None:
        """Copy the batch's rollup rows and frontier runs in (after its last block)."""
        if not self._parts:
            return
        parts = self._local.from_arrow(pa.concat_tables(self._parts))
        rolled = select_over(parts, "parts", ROLLUP_OF_PARTS)
        kinds = self._types["rollup"]
        cast = ", ".join(f"CAST({c} AS {kinds[c]}) AS {c}" for c in rolled.columns)
        self._cur.ingest(
            "rollup", select_over(rolled, "rolled", f"SELECT {cast} FROM rolled").to_arrow_table()
        )
        fronts = self._local.from_arrow(pa.concat_tables(self._fronts))
        kinds = self._types["frontier_runs"]
        cast = ", ".join(f"CAST({c} AS {kinds[c]}) AS {c}" for c in fronts.columns)
        self._cur.ingest(
            "frontier_runs",
            select_over(fronts, "fronts", f"SELECT {cast} FROM fronts").to_arrow_table(),
        )

    def close(self) -> None:
        self._local.close()


def select_over(relation: duckdb.DuckDBPyRelation, name: str, sql: str) -> duckdb.DuckDBPyRelation:
    """``sql`` over ``relation``, which it reads as the table ``name`` (a query always
    gives a relation; DuckDB's types allow None for a statement that returns nothing)."""
    result = relation.query(name, sql)
    assert result is not None
    return result


def _query(incoming: duckdb.DuckDBPyRelation, sql: str) -> duckdb.DuckDBPyRelation:
    """Run ``sql`` (DML: it runs once, here) with the relation readable as ``incoming``.

    Inside a transaction, DuckDB 2.0 reports a failed statement as "Current transaction is
    aborted" and keeps the real reason (a constraint, say) as the context: raise that.
    """
    try:
        return select_over(incoming, "incoming", sql)
    except duckdb.TransactionException as exc:
        if isinstance(exc.__context__, duckdb.Error):
            raise exc.__context__ from None
        raise
