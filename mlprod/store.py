"""The history store: the only module that writes SQL.

One :class:`Store` per process holds one DuckDB connection; every operation runs on its
own ``cursor()`` so Streamlit's script threads never share a bare connection. Writes that
belong together run in one explicit ``BEGIN``/``COMMIT`` transaction. Schema changes are
numbered migrations recorded in ``schema_version``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import sleep
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from mlprod import config
from mlprod.errors import DatabaseError, DatabaseLocked, DatabaseReadOnly

__all__ = ["CALCULATION_COLUMNS", "SCHEMA_VERSION", "Store"]

#: Columns of one calculation that a caller gives (the store adds id, batch and audit).
CALCULATION_COLUMNS: tuple[str, ...] = (
    "created_at",
    "run_id",
    "run_name",
    "model_name",
    "project",
    "tags",
    "notes",
    "f1",
    "training_cost",
    "inference_cost",
    "training_hours",
    "latency_ms",
    "cer",
    "ter",
    "psr",
)
#: Where an F1 came from, when it was not given directly (kept in ``f1_inputs``).
F1_INPUT_COLUMNS: tuple[str, ...] = ("precision", "recall", "tp", "fp", "fn")

# A calculation's id is its batch number times this plus its row in the batch: ids are
# unique and ordered without a per-row sequence call (which costs ~0.25 s per 1M rows).
INSERT_ROWS = 256 * 1024  # rows gathered into one INSERT (see _grouped)
ROWS_PER_BATCH = 1_000_000_000  # also spelled out in the history view

# Every save is a batch (a calculator save is a batch of one): who, when, from where and in
# which currency live once per batch, not once per row. Rarely-given columns live in side
# tables, because every all-NULL column still costs DuckDB time on a million-row insert.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE SEQUENCE batch_no START 1",
        """
        CREATE TABLE batches (
            batch_no     BIGINT PRIMARY KEY,
            saved_at     TIMESTAMP NOT NULL,
            author       VARCHAR,
            source       VARCHAR NOT NULL,
            file_name    VARCHAR,
            content_hash VARCHAR,
            currency     VARCHAR NOT NULL,
            row_count    BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE calculations (
            id             BIGINT NOT NULL,  -- batch_no * ROWS_PER_BATCH + row in batch
            created_at     TIMESTAMP NOT NULL,
            run_id         VARCHAR,
            run_name       VARCHAR,
            model_name     VARCHAR,
            project        VARCHAR,
            tags           VARCHAR,
            notes          VARCHAR,
            f1             DOUBLE NOT NULL,
            training_cost  DOUBLE NOT NULL,
            inference_cost DOUBLE NOT NULL,
            training_hours DOUBLE NOT NULL,
            latency_ms     DOUBLE NOT NULL,
            cer            DOUBLE NOT NULL,
            ter            DOUBLE NOT NULL,
            psr            DOUBLE NOT NULL,
            deleted_at     TIMESTAMP
        )
        """,
        """
        CREATE TABLE f1_inputs (
            calculation_id BIGINT NOT NULL,
            precision      DOUBLE,
            recall         DOUBLE,
            tp             DOUBLE,
            fp             DOUBLE,
            fn             DOUBLE
        )
        """,
        """
        CREATE TABLE deletions (
            calculation_id BIGINT NOT NULL,
            action         VARCHAR NOT NULL,
            happened_at    TIMESTAMP NOT NULL,
            done_by        VARCHAR
        )
        """,
        """
        CREATE VIEW history AS
        SELECT c.*, b.batch_no, b.author, b.source, b.currency, b.file_name, b.saved_at
        FROM calculations c JOIN batches b ON b.batch_no = c.id // 1000000000
        """,
    ),
}
MIGRATIONS[2] = (
    # Where a cost came from (GPU prices, traffic, tokens): issue #6. One row per
    # calculation whose cost was built rather than typed.
    """
    CREATE TABLE cost_assumptions (
        calculation_id       BIGINT NOT NULL,
        gpu_model            VARCHAR,
        gpu_count            DOUBLE,
        gpu_hours            DOUBLE,
        price_per_gpu_hour   DOUBLE,
        price_kind           VARCHAR,
        price_provider       VARCHAR,
        price_as_of          DATE,
        extra_costs          DOUBLE,
        inference_mode       VARCHAR,
        months               DOUBLE,
        requests_per_month   DOUBLE,
        cost_per_1k_requests DOUBLE,
        tokens_in_per_month  DOUBLE,
        tokens_out_per_month DOUBLE,
        price_in_per_1m      DOUBLE,
        price_out_per_1m     DOUBLE,
        fx_rate              DOUBLE
    )
    """,
)
#: The assumptions behind a built cost, kept in ``cost_assumptions``.
ASSUMPTION_COLUMNS: tuple[str, ...] = (
    "gpu_model", "gpu_count", "gpu_hours", "price_per_gpu_hour", "price_kind", "price_provider",
    "price_as_of", "extra_costs", "inference_mode", "months", "requests_per_month",
    "cost_per_1k_requests", "tokens_in_per_month", "tokens_out_per_month", "price_in_per_1m",
    "price_out_per_1m", "fx_rate",
)  # fmt: skip

# The live calculations summed up per batch, day, model, project and tags (issue #5): the
# history's summary, trend and best runs read this small table instead of every row
# (~10x fewer rows at 1M runs). Kept right in the same transaction as every write:
# a save adds its batch's groups, a delete or restore recomputes the groups it touched.
_ROLLUP_SELECT = f"""
    SELECT id // {ROWS_PER_BATCH} AS batch_no, CAST(created_at AS DATE) AS day, model_name,
           project, tags, count(*) AS runs, min(created_at) AS first_at,
           max(created_at) AS last_at, sum(cer) AS sum_cer, sum(ter) AS sum_ter,
           sum(psr) AS sum_psr, max(cer) AS max_cer, arg_max(id, cer) AS max_cer_id,
           max(ter) AS max_ter, arg_max(id, ter) AS max_ter_id, max(psr) AS max_psr,
           arg_max(id, psr) AS max_psr_id, max(f1) AS max_f1
    FROM calculations WHERE deleted_at IS NULL AND {{rows}} GROUP BY ALL
"""
MIGRATIONS[3] = (
    """
    CREATE TABLE rollup (
        batch_no   BIGINT NOT NULL,
        day        DATE NOT NULL,
        model_name VARCHAR,
        project    VARCHAR,
        tags       VARCHAR,
        runs       BIGINT NOT NULL,
        first_at   TIMESTAMP NOT NULL,
        last_at    TIMESTAMP NOT NULL,
        sum_cer    DOUBLE NOT NULL,
        sum_ter    DOUBLE NOT NULL,
        sum_psr    DOUBLE NOT NULL,
        max_cer    DOUBLE NOT NULL,
        max_cer_id BIGINT NOT NULL,
        max_ter    DOUBLE NOT NULL,
        max_ter_id BIGINT NOT NULL,
        max_psr    DOUBLE NOT NULL,
        max_psr_id BIGINT NOT NULL,
        max_f1     DOUBLE NOT NULL
    )
    """,
    f"INSERT INTO rollup {_ROLLUP_SELECT.format(rows='true')}",
)
SCHEMA_VERSION = max(MIGRATIONS)

# Day and week buckets by integer arithmetic on microseconds (date_trunc does calendar work
# per row: ~30% slower at 1M rows). 1970-01-01 was a Thursday: shift 3 days so weeks start
# on Monday.
_DAY_US, _WEEK_US, _MONDAY_SHIFT_US = 86_400_000_000, 604_800_000_000, 259_200_000_000
_BUCKETS = {
    "day": f"make_timestamp(epoch_us(created_at) // {_DAY_US} * {_DAY_US})",
    "week": f"make_timestamp((epoch_us(created_at) + {_MONDAY_SHIFT_US}) // {_WEEK_US} "
    f"* {_WEEK_US} - {_MONDAY_SHIFT_US})",
    "month": "date_trunc('month', created_at)",
}

_X_COLUMNS = {
    "total_cost": "(training_cost + inference_cost)",
    "latency_ms": "latency_ms",
}

# Runs saved without a model name still belong in the trend and the best runs.
NO_MODEL = "(no model name)"
_MODEL = f"coalesce(model_name, '{NO_MODEL}')"

_RUN_DETAILS = ("model_name", "run_id", "run_name", "created_at")
# What an answer to one of the history questions shows: its name and its numbers.
_ANSWER_COLUMNS = (*_RUN_DETAILS, "f1", "training_cost", "inference_cost", "latency_ms")


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


def _only_ok(table: pa.Table) -> str:
    # Scored files carry their bad rows too: DuckDB skips them while it scans, which is
    # cheaper than copying the good rows into a new Arrow table first.
    return "status = 'ok'" if "status" in table.column_names else "true"


def _calculations_insert(given: frozenset[str], stamp: str, ok: str) -> str:
    """The INSERT of ``incoming``'s good rows into calculations (only the given columns;
    a row without its own date gets the save's time ``stamp``)."""
    present = [c for c in CALCULATION_COLUMNS[1:] if c in given]
    created = f"coalesce(created_at, {stamp})" if "created_at" in given else stamp
    return (
        f"INSERT INTO calculations (id, created_at, {', '.join(present)}) "
        f"SELECT id, {created}, {', '.join(present)} FROM incoming WHERE {ok}"
    )


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
            cur.from_arrow(reader), _calculations_insert(given, stamp, _only_ok(first))
        ).fetchall()  # DML runs once, in query(); this reads its row count
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    return int(inserted[0][0]) if inserted else 0


def _insert_block(cur: duckdb.DuckDBPyConnection, table: pa.Table, stamp: str) -> int:
    """Insert one block (with ids) into calculations and its side tables."""
    given = _given(table)
    ok = _only_ok(table)
    incoming = cur.from_arrow(table)
    inserted = _query(incoming, _calculations_insert(given, stamp, ok)).fetchall()
    parts = [c for c in F1_INPUT_COLUMNS if c in given]
    if parts:
        any_part = " OR ".join(f"{c} IS NOT NULL AND NOT isnan({c})" for c in parts)
        _query(
            incoming,
            f"INSERT INTO f1_inputs (calculation_id, {', '.join(parts)}) "
            f"SELECT id, {', '.join(parts)} FROM incoming WHERE ({any_part}) AND {ok}",
        )
    assumed = [c for c in ASSUMPTION_COLUMNS if c in given]
    if assumed:  # only rows whose cost was built from a GPU carry assumptions
        rows = "gpu_model IS NOT NULL" if "gpu_model" in assumed else "true"
        _query(
            incoming,
            f"INSERT INTO cost_assumptions (calculation_id, {', '.join(assumed)}) "
            f"SELECT id, {', '.join(assumed)} FROM incoming WHERE {rows} AND {ok}",
        )
    return int(inserted[0][0]) if inserted else 0


def _batch_rows(batch_no: int) -> str:
    """The calculations of one batch, as a range DuckDB prunes row groups with."""
    first = batch_no * ROWS_PER_BATCH
    return f"id BETWEEN {first} AND {first + ROWS_PER_BATCH - 1}"  # our integers


def _roll_up_batch(cur: duckdb.DuckDBPyConnection, batch_no: int) -> None:
    """Add a new batch's groups to the rollup (its rows were just written)."""
    cur.execute(f"INSERT INTO rollup {_ROLLUP_SELECT.format(rows=_batch_rows(batch_no))}")


def _roll_up_again(cur: duckdb.DuckDBPyConnection, ids: list[int]) -> None:
    """Recompute the rollup groups of every batch and day these calculations are in (after
    they were deleted or restored): the same superset is removed and summed up again."""
    touched = cur.execute(
        f"SELECT DISTINCT id // {ROWS_PER_BATCH}, CAST(created_at AS DATE) FROM calculations "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    ).fetchall()
    if not touched:
        return
    batches = sorted({int(b) for b, _ in touched})
    days = sorted({d for _, d in touched})
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
        f"INSERT INTO rollup {_ROLLUP_SELECT.format(rows=rows)}",
        [datetime.combine(days[0], time.min),
         datetime.combine(days[-1] + timedelta(days=1), time.min), days],
    )  # fmt: skip


def _pareto(cheapest: pd.DataFrame, x: str) -> pd.DataFrame:
    """Rows of (f1, x, x_id) that no other row beats: sorted by x (ties: higher F1 first),
    a row is on the frontier when its F1 is above every F1 before it."""
    f1 = cheapest["f1"].to_numpy()
    xs = cheapest[x].to_numpy()
    order = np.lexsort((-f1, xs))  # by x, then by F1 descending
    f1_sorted = f1[order]
    best_before = np.maximum.accumulate(np.concatenate([[-np.inf], f1_sorted[:-1]]))
    keep = order[f1_sorted > best_before]
    return pd.DataFrame({"id": cheapest[f"{x}_id"].to_numpy()[keep], "f1": f1[keep], "x": xs[keep]})


def _cheapest_within_id(
    groups: pd.DataFrame, f1_gap: float, best_f1: float | None = None
) -> int | None:
    """From :meth:`Store.f1_groups`: the cheapest run with F1 >= best - gap (of equal
    cost, the higher F1)."""
    if groups.empty:
        return None
    top = groups["f1"].max() if best_f1 is None else best_f1
    near = groups[groups["f1"] >= top - f1_gap]
    if near.empty:
        return None
    pick = near.sort_values(["total_cost", "f1"], ascending=[True, False]).iloc[0]
    return int(pick["total_cost_id"])


def with_run_names(best: pd.DataFrame, names: pd.DataFrame) -> pd.DataFrame:
    """Best runs with a ``run`` label: the run's name, else its id."""
    label = names.set_index("id")
    run = label["run_name"].fillna(label["run_id"]) if len(label) else pd.Series(dtype=object)
    return best.assign(run=best["id"].map(run))


def _rows_by_id(
    cur: duckdb.DuckDBPyConnection, ids: list[int], columns: tuple[str, ...]
) -> pd.DataFrame:
    """A few calculations by id: a hash join against the id list (measured at 1M rows:
    ~6 ms, where ``id IN (literal list)`` took ~16 ms)."""
    if not ids:
        return pd.DataFrame(columns=["id", *columns])
    return cur.execute(
        f"SELECT id, {', '.join(columns)} FROM calculations "
        "JOIN (SELECT unnest(?::BIGINT[]) AS id) USING (id)",
        [sorted({int(i) for i in ids})],
    ).df()


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?)(?:\. See also|$)")


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

    def where(self, deleted: bool = False, *, rollup: bool = False) -> tuple[str, list[Any]]:
        """A WHERE clause on ``calculations c`` and its parameters; with ``rollup``, on
        ``rollup r`` (live calculations only; no text search)."""
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
            clauses.append(
                f"list_has_any(string_split(replace({a}.tags, ', ', ','), ','), ?::VARCHAR[])"
            )
            params.append(list(self.tags))
        batch_rules = []
        for column, values in (("author", self.authors), ("source", self.sources)):
            if values:
                batch_rules.append(f"{column} IN (SELECT unnest(?::VARCHAR[]))")
                params.append(list(values))
        if batch_rules:  # batch-level filters: a semi-join on the small batches table
            batch = "r.batch_no" if rollup else f"c.id // {ROWS_PER_BATCH}"
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
            like = f"%{self.text.strip()}%"
            clauses.append(
                "(c.model_name ILIKE ? OR c.run_id ILIKE ? OR c.run_name ILIKE ? "
                "OR c.project ILIKE ? OR c.tags ILIKE ? OR c.notes ILIKE ?)"
            )
            params += [like] * 6
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


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _open_error(database: str, exc: duckdb.Error) -> DatabaseError:
    text = str(exc)
    if "Could not set lock" in text:
        match = _LOCK_HOLDER.search(text)
        holder = match.group("holder") if match else "another process"
        return DatabaseLocked(
            f"The history database {database} is in use by {holder}. "
            "Only one process can write to it at a time: stop that process or try again "
            "when it is done."
        )
    if "not a valid DuckDB database file" in text:
        return DatabaseError(
            f"{database} is not a DuckDB database. Point MLPROD_DB at a DuckDB file "
            "(or at a new path to create one); the file was left untouched."
        )
    return DatabaseError(f"Cannot open the history database {database}: {text}")


def _allowed_directories(database: str) -> list[str]:
    """The one folder SQL may touch: the database's own (file, WAL, spill folder)."""
    if database == ":memory:" or database.startswith("md:"):
        return []
    return [str(Path(database).expanduser().resolve().parent) + os.sep]


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _refuse_foreign_file(path: Path) -> None:
    """Refuse, before DuckDB touches it, anything at ``path`` that is not a DuckDB file."""
    if path.is_dir():
        raise DatabaseError(
            f"{path} is a folder, not a database file. Point MLPROD_DB at a file, e.g. "
            f"{path / 'mlprod.duckdb'}; nothing in the folder was touched."
        )
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except FileNotFoundError:
        return  # a new database
    except OSError as exc:
        raise DatabaseError(f"Cannot read the history database {path}: {exc.strerror}.") from None
    if not head:
        return  # an empty file: DuckDB makes it a new database
    if head.startswith(_SQLITE_MAGIC):
        kind = "a SQLite database"
    elif len(head) < 12 or head[8:12] != b"DUCK":  # DuckDB's header: checksum, then DUCK
        kind = "not a DuckDB database"
    else:
        return
    raise DatabaseError(
        f"{path} is {kind}. Point MLPROD_DB at a DuckDB file (or at a new path to create "
        "one); the file was left untouched."
    )


def _writable(path: Path) -> bool:
    """Whether the file and its folder may be written: by permissions, and by the file's
    own write bits (root may write anything, but a file made read-only stays so here)."""
    bits = path.stat().st_mode & 0o222
    return bool(bits) and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _harden(con: duckdb.DuckDBPyConnection, database: str) -> None:
    """Limit SQL to the database's folder and lock the settings (settable only once the
    database has started; a second connection in this process shares the locked ones)."""
    locked = con.execute("SELECT current_setting('lock_configuration')").fetchone()
    if locked and locked[0]:
        return
    con.execute("SET allowed_directories = ?", [_allowed_directories(database)])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


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


class Store:
    """The team's history of calculations in a DuckDB database.

    Parameters
    ----------
    database : str or Path
        A DuckDB file path (created with its folder on first use) or ``":memory:"``.
    memory_limit : str, optional
        DuckDB's memory cap for this process (``"512MB"``, ``"2GB"``; by default
        ``MLPROD_DB_MEMORY`` or 512MB); beyond it DuckDB spills to a temp folder.

    Raises
    ------
    DatabaseLocked
        Another process holds the file.
    DatabaseError
        The file is not a DuckDB database, or was written by a newer mlprod.
    """

    def __init__(self, database: str | Path, *, memory_limit: str | None = None) -> None:
        self.database = str(database)
        self.read_only = False
        if self.database != ":memory:" and not self.database.startswith("md:"):
            path = Path(self.database).expanduser()
            _refuse_foreign_file(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.read_only = path.exists() and not _writable(path)
        try:
            # DuckDB's default cap is 80% of RAM; its page cache and checkpoints then grow
            # the process by ~1 GB after a 10M-row batch. It spills to disk past the cap.
            self._con = duckdb.connect(
                self.database,
                read_only=self.read_only,
                config={
                    "memory_limit": memory_limit or config.memory_limit(),
                    # SQL reaches no file outside the database's folder (the file, its WAL
                    # and DuckDB's spill folder live there), no extension is fetched or
                    # loaded (httpfs would give SQL the network), and no query can change
                    # these settings later.
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                },
            )
            _harden(self._con, self.database)
        except duckdb.Error as exc:
            raise _open_error(self.database, exc) from None
        try:
            self.migrate()
        except BaseException:
            self._con.close()
            raise

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for one operation; closed afterwards."""
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside ``BEGIN``/``COMMIT``; rolled back if anything raises.

        Every write goes through here, so a read-only database refuses it here, in words.
        """
        self.require_writable()
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file, so the file alone holds everything."""
        with self.cursor() as cur:
            cur.execute("CHECKPOINT")

    def integrity(self) -> dict[str, int]:
        """Counts; how many batches do not hold exactly the rows they recorded, and how
        many (batch, day) groups of the rollup do not sum up the live rows they stand for
        (both 0 in a consistent database: each is written in one transaction with the rows)."""
        with self.cursor() as cur:
            row = cur.execute(
                "WITH found AS (SELECT id // ? AS batch_no, count(*) AS n FROM calculations "
                "GROUP BY ALL) SELECT count(*), coalesce(sum(b.row_count), 0), "
                "count(*) FILTER (WHERE b.row_count IS DISTINCT FROM coalesce(f.n, 0)) "
                "FROM batches b LEFT JOIN found f USING (batch_no)",
                [ROWS_PER_BATCH],
            ).fetchone()
            orphans = cur.execute(
                "SELECT count(*) FROM calculations WHERE id // ? NOT IN "
                "(SELECT batch_no FROM batches)",
                [ROWS_PER_BATCH],
            ).fetchone()
            # The rollup against the rows it sums up: runs per batch and day.
            rollup_off = cur.execute(
                f"WITH live AS (SELECT id // {ROWS_PER_BATCH} AS batch_no, "
                "CAST(created_at AS DATE) AS day, count(*) AS n FROM calculations "
                "WHERE deleted_at IS NULL GROUP BY ALL), "
                "rolled AS (SELECT batch_no, day, sum(runs) AS n FROM rollup GROUP BY ALL) "
                "SELECT count(*) FROM live FULL JOIN rolled USING (batch_no, day) "
                "WHERE live.n IS DISTINCT FROM rolled.n"
            ).fetchone()
        batches, calculations, broken = row if row else (0, 0, 0)
        return {
            "batches": int(batches),
            "calculations": int(calculations),
            "broken_batches": int(broken) + int(orphans[0] if orphans else 0),
            "rollup_mismatches": int(rollup_off[0]) if rollup_off else 0,
            "schema_version": self.schema_version(),
        }

    def require_writable(self) -> None:
        """Raise :class:`DatabaseReadOnly` (in words) when nothing can be written."""
        if self.read_only:
            raise DatabaseReadOnly(
                f"The history database {self.database} is read-only (file or folder "
                "permissions): the history can be viewed, but nothing can be saved or "
                "deleted. Make it writable, or point MLPROD_DB at a writable file."
            )

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self.cursor() as cur:
            known = cur.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version'"
            ).fetchone()
            if not (known and known[0]):
                if self.read_only:
                    return 0
                cur.execute(
                    "CREATE TABLE schema_version "
                    "(version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
                )
            row = cur.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def migrate(self) -> int:
        """Apply every migration newer than the database; returns the version reached."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.database} was written by a newer mlprod (schema version {current}; "
                f"this one knows up to {SCHEMA_VERSION}). Upgrade mlprod; the file was "
                "left untouched."
            )
        pending = sorted(v for v in MIGRATIONS if v > current)
        if pending and self.read_only:
            raise DatabaseReadOnly(
                f"{self.database} is read-only and was written by an older mlprod (schema "
                f"version {current}); it needs an upgrade to version {SCHEMA_VERSION}. Make "
                "it writable once so mlprod can upgrade it; the file was left untouched."
            )
        for version in pending:
            with self.transaction() as cur:
                for statement in MIGRATIONS[version]:
                    cur.execute(statement)
                cur.execute("INSERT INTO schema_version VALUES (?, ?)", [version, _utc_now()])
        return max(current, SCHEMA_VERSION)

    # -- writes -------------------------------------------------------------------------
    def _new_batch(
        self,
        cur: duckdb.DuckDBPyConnection,
        *,
        rows: int,
        source: str,
        author: str | None,
        currency: str,
        file_name: str | None = None,
        content_hash: str | None = None,
    ) -> tuple[int, datetime]:
        row = cur.execute("SELECT nextval('batch_no')").fetchone()
        assert row is not None
        batch_no, now = int(row[0]), _utc_now()
        cur.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_no, now, author, source, file_name, content_hash, currency, rows],
        )
        return batch_no, now

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
        rerun) stores nothing. Returns True when a row was written.
        """
        with self.transaction() as cur:
            seen = cur.execute(
                "SELECT 1 FROM batches WHERE content_hash = ? AND source = ? LIMIT 1",
                [calc_key, source],
            ).fetchone()
            if seen:
                return False
            batch_no, now = self._new_batch(
                cur,
                rows=1,
                source=source,
                author=author,
                currency=calculation.get("currency") or "USD",
                content_hash=calc_key,
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
                cur.execute("INSERT INTO f1_inputs VALUES (?, ?, ?, ?, ?, ?)", [calc_id, *parts])
            assumed = [calculation.get(name) for name in ASSUMPTION_COLUMNS]
            if any(a is not None for a in assumed):
                columns = ", ".join(ASSUMPTION_COLUMNS)
                cur.execute(
                    f"INSERT INTO cost_assumptions (calculation_id, {columns}) "
                    f"VALUES (?, {', '.join('?' for _ in ASSUMPTION_COLUMNS)})",
                    [calc_id, *assumed],
                )
            _roll_up_batch(cur, batch_no)
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
    ) -> int:
        """Store scored rows as one batch, in one transaction; returns the batch number.

        ``chunks`` is a table (or an iterable of tables, streamed) holding the five inputs
        and three ratios, and any other of :data:`CALCULATION_COLUMNS` and
        :data:`F1_INPUT_COLUMNS`; when it has a ``status`` column, only rows whose status
        is ``"ok"`` are stored. Either every row is stored or none is.

        ``content_hash`` may be a callable, asked once the rows are written: a file's hash
        can then be computed while its rows are scored and stored, not before.
        """
        if isinstance(chunks, pa.Table | pd.DataFrame):
            chunks = [chunks]
        with self.transaction() as cur:
            batch_no, now = self._new_batch(
                cur,
                rows=0,
                source=source,
                author=author,
                currency=currency,
                file_name=file_name,
                content_hash=None if callable(content_hash) else content_hash,
            )
            stamp = f"TIMESTAMP '{now.isoformat(sep=' ')}'"  # ours, not user input
            ids = _Ids(batch_no)
            stored = 0
            for given, run in _Runs(chunks):
                if given & _SIDE_COLUMNS:
                    # Rows with F1 parts or cost assumptions also go to the side tables:
                    # three statements per block, each reading the block again.
                    for table in _grouped(run, INSERT_ROWS):
                        stored += _insert_block(cur, ids.add_to(table), stamp)
                else:
                    stored += _insert_stream(cur, map(ids.add_to, run), given, stamp)
            cur.execute(
                "UPDATE batches SET row_count = ?, content_hash = coalesce(content_hash, ?) "
                "WHERE batch_no = ?",
                [stored, content_hash() if callable(content_hash) else None, batch_no],
            )
            _roll_up_batch(cur, batch_no)
        return batch_no

    def find_batch(self, content_hash: str) -> dict[str, Any] | None:
        """The newest batch stored from a file with this content hash, if any."""
        with self.cursor() as cur:
            row = cur.execute(
                "SELECT batch_no, saved_at, author, file_name, row_count FROM batches "
                "WHERE content_hash = ? ORDER BY saved_at DESC LIMIT 1",
                [content_hash],
            ).fetchone()
        if row is None:
            return None
        return dict(zip(("batch_no", "saved_at", "author", "file_name", "rows"), row, strict=True))

    def soft_delete(self, ids: list[int], *, by: str | None = None) -> int:
        """Mark calculations deleted (they stay restorable); returns how many changed."""
        return self._mark(ids, deleted=True, by=by)

    def restore(self, ids: list[int], *, by: str | None = None) -> int:
        """Undo :meth:`soft_delete`; returns how many calculations came back."""
        return self._mark(ids, deleted=False, by=by)

    def _mark(self, ids: list[int], *, deleted: bool, by: str | None) -> int:
        now = _utc_now()
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
                        cur.executemany(
                            "INSERT INTO deletions VALUES (?, ?, ?, ?)",
                            [[r[0], "delete" if deleted else "restore", now, by] for r in changed],
                        )
                        _roll_up_again(cur, [r[0] for r in changed])
                return len(changed)
            except duckdb.TransactionException:
                # Someone is changing the same rows right now: wait for them to finish and
                # look again; rows they deleted (or restored) no longer match, so they are
                # not counted twice.
                if attempt == attempts - 1:
                    raise
                sleep(0.02 * 2**attempt)
        return 0

    # -- reads --------------------------------------------------------------------------
    #: Read the summary, trend and best runs from the rollup when the filter allows it
    #: (tests switch it off to check the rollup against the calculations themselves).
    use_rollup = True

    def _rolled_up(self, f: HistoryFilter) -> bool:
        return self.use_rollup and not f.searches

    def count(self, *, include_deleted: bool = False) -> int:
        where = "" if include_deleted else " WHERE deleted_at IS NULL"
        with self.cursor() as cur:
            row = cur.execute(f"SELECT count(*) FROM calculations{where}").fetchone()
        return int(row[0]) if row else 0

    def recent(self, limit: int = 20, *, include_deleted: bool = False) -> pd.DataFrame:
        """The newest calculations first, with who saved them and how."""
        where = "" if include_deleted else "WHERE deleted_at IS NULL"
        with self.cursor() as cur:
            return cur.execute(
                f"SELECT h.*, f.precision, f.recall, f.tp, f.fp, f.fn, "
                "a.* EXCLUDE (calculation_id) FROM history h "
                "LEFT JOIN f1_inputs f ON f.calculation_id = h.id "
                f"LEFT JOIN cost_assumptions a ON a.calculation_id = h.id {where} "
                "ORDER BY h.created_at DESC, h.id DESC LIMIT ?",
                [limit],
            ).df()

    def search(self, text: str = "", *, limit: int = 200) -> pd.DataFrame:
        """Calculations whose model, run id or name, project or tags contain ``text``
        (case-insensitive), newest first."""
        like = f"%{text.strip()}%"
        with self.cursor() as cur:
            return cur.execute(
                "SELECT id, created_at, model_name, run_id, run_name, project, tags, f1, "
                "training_cost, inference_cost, training_hours, latency_ms, cer, ter, psr, "
                "currency, author, source FROM history WHERE deleted_at IS NULL AND ("
                "? = '%%' OR model_name ILIKE ? OR run_id ILIKE ? OR run_name ILIKE ? "
                "OR project ILIKE ? OR tags ILIKE ?) "
                "ORDER BY created_at DESC, id DESC LIMIT ?",
                [like, like, like, like, like, like, limit],
            ).df()

    def calculations_by_id(self, ids: list[int]) -> pd.DataFrame:
        """The calculations with these ids (deleted ones too), in the order asked."""
        with self.cursor() as cur:
            found = cur.execute(
                "SELECT h.*, a.* EXCLUDE (calculation_id) FROM history h "
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
                "SELECT * FROM history WHERE deleted_at IS NULL AND model_name IS NOT NULL "
                "QUALIFY row_number() OVER (PARTITION BY model_name "
                "ORDER BY created_at DESC, id DESC) = 1 "
                "ORDER BY created_at DESC, id DESC LIMIT ?",
                [models],
            ).df()

    # -- the history page ---------------------------------------------------------------
    # Every query filters `calculations` first and joins the small `batches` table only
    # for the rows it returns, so a page of 50 never drags 10M rows through a join.

    def history_page(
        self, f: HistoryFilter, *, page: int = 0, page_size: int = 50, deleted: bool = False
    ) -> pd.DataFrame:
        """One page of matching calculations, newest first (deleted ones with ``deleted``)."""
        where, params = f.where(deleted=deleted)
        with self.cursor() as cur:
            return cur.execute(
                f"WITH page AS (SELECT c.* FROM calculations c WHERE {where} "
                "ORDER BY c.created_at DESC, c.id DESC LIMIT ? OFFSET ?) "
                f"SELECT page.*, page.training_cost + page.inference_cost AS total_cost, "
                "b.author, b.source, b.currency, b.file_name, d.done_by AS deleted_by, "
                "a.* EXCLUDE (calculation_id) "
                f"FROM page JOIN batches b ON b.batch_no = page.id // {ROWS_PER_BATCH} "
                "LEFT JOIN cost_assumptions a ON a.calculation_id = page.id "
                "LEFT JOIN (SELECT calculation_id, arg_max(done_by, happened_at) AS done_by "
                "FROM deletions WHERE action = 'delete' GROUP BY ALL) d "
                "ON d.calculation_id = page.id "
                "ORDER BY page.created_at DESC, page.id DESC",
                [*params, page_size, page * page_size],
            ).df()

    def summary(self, f: HistoryFilter) -> dict[str, Any]:
        """The count, the date span and the best of each ratio and of F1 among matching
        calculations."""
        if self._rolled_up(f):
            where, params = f.where(rollup=True)
            sql = (
                "SELECT CAST(coalesce(sum(runs), 0) AS BIGINT), min(first_at), max(last_at), "
                f"max(max_cer), max(max_ter), max(max_psr), max(max_f1) FROM rollup r WHERE {where}"
            )
        else:
            where, params = f.where()
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

    def currencies(self) -> list[str]:
        """The currencies the history's costs are in (one per batch)."""
        with self.cursor() as cur:
            return [r[0] for r in cur.execute(
                "SELECT DISTINCT currency FROM batches ORDER BY 1").fetchall()]  # fmt: skip

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
                    "SELECT DISTINCT unnest(string_split(replace(tags, ', ', ','), ',')) "
                    f"{live} ORDER BY 1"
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
            where, params = f.where(rollup=True)
            agg = (
                f"SELECT CAST(date_trunc('{bucket}', day) AS TIMESTAMP) AS bucket, "
                f"{_MODEL} AS model_name, sum(sum_cer) / sum(runs) AS CER, "
                "sum(sum_ter) / sum(runs) AS TER, sum(sum_psr) / sum(runs) AS PSR, "
                f"CAST(sum(runs) AS BIGINT) AS runs FROM rollup r WHERE {where} GROUP BY ALL"
            )
        else:
            where, params = f.where()
            agg = (
                f"SELECT {_BUCKETS[bucket]} AS bucket, {_MODEL} AS model_name, "
                "avg(cer) AS CER, avg(ter) AS TER, avg(psr) AS PSR, count(*) AS runs "
                f"FROM calculations c WHERE {where} GROUP BY ALL"
            )
        with self.cursor() as cur:
            return cur.execute(
                f"WITH agg AS ({agg}), "
                "top AS (SELECT model_name FROM agg GROUP BY ALL "
                "ORDER BY sum(runs) DESC, model_name LIMIT ?), "
                "kept AS (SELECT * FROM agg WHERE model_name IN (SELECT model_name FROM top)) "
                "UNPIVOT kept ON CER, TER, PSR INTO NAME ratio VALUE value "
                "ORDER BY bucket, model_name, ratio",
                [*params, max_models],
            ).df()

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
    ) -> HistoryOverview:
        """Everything the history page shows above its table, for one filter.

        The independent queries run at the same time, each on its own cursor: DuckDB
        releases the GIL, and the short ones fill the gaps the long ones leave on the cores.
        """
        summary = self.summary(f)
        bucket = bucket_for(summary["first"], summary["last"])
        if not summary["runs"]:
            return HistoryOverview(summary, bucket, None, {}, None, None, None, None, None)

        def by_f1() -> tuple[dict[str, pd.DataFrame], dict[str, Any] | None]:
            groups = self.f1_groups(f)
            fronts = self.frontiers(f, details=False, groups=groups)
            on_front = [i for front in fronts.values() for i in front["id"]]
            # The cheapest run near the best F1 is the cheapest of some F1 value: one of
            # these groups. One lookup for it and the run names on both frontiers.
            runs = self._runs(_cheapest_within_id(groups, f1_gap, summary["best_f1"]), *on_front)
            unique = {int(r["id"]): r for r in runs[1:] if r}
            names = pd.DataFrame(list(unique.values()), columns=["id", *_ANSWER_COLUMNS])
            names = names[["id", *_RUN_DETAILS]]
            return {x: fr.merge(names, on="id", how="left") for x, fr in fronts.items()}, runs[0]

        # Each thread also does its lookups and pandas work, while DuckDB (which releases
        # the GIL) runs the other queries.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="mlprod-history") as pool:
            trend_job = pool.submit(self.trend, f, bucket)
            f1_job, best_job = pool.submit(by_f1), pool.submit(self.best_per_model, f)
            # Its own top-1 scan: as a FILTER aggregate in the frontier scan it cost more
            # (10M runs: +40-50 ms on that scan, which then went past 200 ms).
            under_job = pool.submit(self.best_under, f, budget=budget, latency_ms=latency_ms)
            table_job = pool.submit(self.history_page, f, page=page, page_size=page_size)
            points_job = pool.submit(self.scatter, f, limit=points, total=summary["runs"])
            trend, best, (frontiers, cheapest) = (
                trend_job.result(), best_job.result(), f1_job.result()
            )  # fmt: skip
        return HistoryOverview(
            summary=summary,
            bucket=bucket,
            trend=trend,
            frontiers=frontiers,
            points=points_job.result()[0],
            best=best,
            cheapest=cheapest,
            best_under=under_job.result(),
            table=table_job.result(),
        )

    def f1_groups(self, f: HistoryFilter) -> pd.DataFrame:
        """One row per distinct F1 among the matching runs: its cheapest run and its
        fastest run. Only these runs can be on a frontier or be the cheapest run near the
        best F1, so one scan serves all three (three scans cost ~20 ms more at 1M runs).
        """
        where, params = f.where()
        picks = [
            f"min({expr}) AS {x}, arg_min(id, {expr}) AS {x}_id" for x, expr in _X_COLUMNS.items()
        ]
        with self.cursor() as cur:
            return cur.execute(
                f"SELECT f1, {', '.join(picks)} FROM calculations c WHERE {where} GROUP BY f1",
                params,
            ).df()

    def frontiers(
        self, f: HistoryFilter, *, details: bool = True, groups: pd.DataFrame | None = None
    ) -> dict[str, pd.DataFrame]:
        """The Pareto frontiers of F1 against total cost and against latency: runs no other
        run beats on both (higher-or-equal F1 at lower-or-equal x), cheapest first.

        Only the cheapest run of each F1 value can be on a frontier, so one scan picks
        those for both axes (:meth:`f1_groups`, or ``groups`` when already fetched); the
        running maximum then runs over those few thousand rows (numpy: a SQL window over
        them cost ~5 ms more at 1M runs). ``details=False`` leaves out the run names (see
        :meth:`run_details`).
        """
        cheapest = self.f1_groups(f) if groups is None else groups
        fronts = {x: _pareto(cheapest, x) for x in _X_COLUMNS}
        if not details:
            return fronts
        names = self.run_details([i for front in fronts.values() for i in front["id"]])
        return {x: front.merge(names, on="id", how="left") for x, front in fronts.items()}

    def frontier(self, f: HistoryFilter, x: str) -> pd.DataFrame:
        """The Pareto frontier of F1 against ``x`` (``total_cost`` or ``latency_ms``)."""
        return self.frontiers(f)[x]

    def scatter(
        self, f: HistoryFilter, *, limit: int = 2000, total: int | None = None
    ) -> tuple[pd.DataFrame, int]:
        """About ``limit`` matching runs at most, with F1, total cost and latency, and how
        many runs matched (pass ``total`` when known). Beyond ``limit`` the dots are a
        repeatable random sample taken while scanning (block sampling)."""
        where, params = f.where()
        with self.cursor() as cur:
            if total is None:
                row = cur.execute(f"SELECT count(*) FROM calculations c WHERE {where}", params)
                total = int(row.fetchone()[0])  # type: ignore[index]
            sample = ""
            if total > limit:
                # Block sampling reads only the sampled blocks but is all-or-nothing on
                # small tables; below ~100 blocks sample row by row instead.
                table_rows = cur.execute(
                    "SELECT estimated_size FROM duckdb_tables() WHERE table_name = 'calculations'"
                ).fetchone()[0]  # type: ignore[index]
                method = "system" if table_rows > 200_000 else "bernoulli"
                sample = f"TABLESAMPLE {min(100.0, 120.0 * limit / total):.6f}% ({method}, 7)"
            points = cur.execute(
                "SELECT c.id, c.f1, c.training_cost + c.inference_cost AS total_cost, "
                "c.latency_ms, c.model_name, c.run_id, c.run_name, c.created_at "
                f"FROM calculations c {sample} WHERE {where} LIMIT ?",
                [*params, limit],
            ).df()
        return points, total

    def best_per_model(self, f: HistoryFilter, *, details: bool = True) -> pd.DataFrame:
        """The best run of every model for each ratio (long format: model_name, ratio,
        value, id; and ``run`` unless ``details=False``, see :meth:`run_details`)."""
        if self._rolled_up(f):
            where, params = f.where(rollup=True)
            sql = (
                f"SELECT {_MODEL} AS model_name, max(max_cer) AS CER, max(max_ter) AS TER, "
                "max(max_psr) AS PSR, arg_max(max_cer_id, max_cer) AS cer_id, "
                "arg_max(max_ter_id, max_ter) AS ter_id, arg_max(max_psr_id, max_psr) AS psr_id "
                f"FROM rollup r WHERE {where} GROUP BY ALL ORDER BY model_name"
            )
        else:
            where, params = f.where()
            sql = (
                f"SELECT {_MODEL} AS model_name, max(cer) AS CER, max(ter) AS TER, "
                "max(psr) AS PSR, arg_max(id, cer) AS cer_id, arg_max(id, ter) AS ter_id, "
                f"arg_max(id, psr) AS psr_id FROM calculations c WHERE {where} "
                "GROUP BY ALL ORDER BY model_name"
            )
        with self.cursor() as cur:
            best = cur.execute(sql, params).df()
        long = pd.concat(
            [
                pd.DataFrame({"model_name": best.model_name, "ratio": ratio,
                              "value": best[ratio], "id": best[f"{ratio.lower()}_id"]})
                for ratio in ("CER", "TER", "PSR")
            ],
            ignore_index=True,
        )  # fmt: skip
        return with_run_names(long, self.run_details(long["id"])) if details else long

    def run_details(self, ids: Iterable[int]) -> pd.DataFrame:
        """Model, run id and name and date of a few calculations (for chart tooltips)."""
        with self.cursor() as cur:
            return _rows_by_id(cur, list(ids), _RUN_DETAILS)

    def cheapest_within(
        self, f: HistoryFilter, f1_gap: float, *, best_f1: float | None = None
    ) -> dict[str, Any] | None:
        """The cheapest run whose F1 is within ``f1_gap`` of the best matching F1
        (``best_f1`` when the caller knows it already, e.g. from :meth:`summary`); of equal
        cost, the higher F1.

        Asked alone, one top-1 scan answers it (:meth:`overview` answers both questions
        from the scan it needs for the frontiers anyway).
        """
        if best_f1 is None:
            best_f1 = self.summary(f)["best_f1"]
            if best_f1 is None:
                return None
        total = _X_COLUMNS["total_cost"]
        return self._first(f, "f1 >= ?", [best_f1 - f1_gap], f"{total}, f1 DESC")

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
        where, params = f.where()
        with self.cursor() as cur:
            found = cur.execute(
                f"SELECT id, {', '.join(_ANSWER_COLUMNS)} FROM calculations c "
                f"WHERE {where} AND {condition} ORDER BY {order}, id LIMIT 1",
                [*params, *values],
            ).df()
        return found.to_dict("records")[0] if len(found) else None

    def _runs(self, *ids: int | None) -> list[dict[str, Any] | None]:
        """Calculations by id (name, F1, costs, latency), in the order asked; ``None`` for
        ``None``. Only these columns: fetching whole rows cost ~15 ms more at 1M runs."""
        with self.cursor() as cur:
            found = _rows_by_id(cur, [i for i in ids if i is not None], _ANSWER_COLUMNS)
        rows = {int(row["id"]): row for row in found.to_dict("records")}
        return [None if i is None else rows.get(int(i)) for i in ids]

    def export_filtered(self, f: HistoryFilter) -> pa.Table:
        """Every matching calculation with who saved it, as Arrow (for CSV / Parquet)."""
        where, params = f.where()
        with self.cursor() as cur:
            return cur.sql(  # a relation hands Arrow over without the DB-API copy
                "SELECT c.id, c.created_at, c.model_name, c.run_id, c.run_name, c.project, "
                "c.tags, c.notes, c.f1, c.training_cost, c.inference_cost, c.training_hours, "
                "c.latency_ms, c.cer, c.ter, c.psr, b.currency, b.author, b.source, "
                "a.* EXCLUDE (calculation_id) "
                f"FROM calculations c JOIN batches b ON b.batch_no = c.id // {ROWS_PER_BATCH} "
                "LEFT JOIN cost_assumptions a ON a.calculation_id = c.id "
                f"WHERE {where} ORDER BY c.created_at DESC, c.id DESC",
                params=params,
            ).to_arrow_table()

    def deletion_log(self) -> pd.DataFrame:
        """Who deleted or restored which calculation, and when (newest first)."""
        with self.cursor() as cur:
            return cur.execute("SELECT * FROM deletions ORDER BY happened_at DESC").df()
