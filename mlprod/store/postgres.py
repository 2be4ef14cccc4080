"""A PostgreSQL server as the history database (``MLPROD_DB=postgresql://...``).

Through ADBC's libpq driver (``adbc-driver-postgresql``): results come back as Arrow (then
pandas, typed as DuckDB's answers are), and a batch is written with binary ``COPY`` from
Arrow. Any number of processes may write at once; PostgreSQL orders their transactions.

A process keeps a small pool of connections: each operation borrows one (Streamlit runs
every session's script on its own thread, and the history page runs queries side by
side), checks it still answers, and gives it back. A connection that fails (the server
restarted, the network dropped) is thrown away and the next operation opens a new one, so
the dashboard carries on once the server is back, without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from queue import Empty, LifoQueue
from typing import Any, Self

import pandas as pd
import pyarrow as pa

from mlprod.errors import DatabaseError
from mlprod.store.dialect import numbered_placeholders

__all__ = ["PostgresCursor", "PostgresPool", "connection_lost", "hide_password"]

#: How many connections one process keeps open at most (more operations wait their turn,
#: up to WAIT_SECONDS).
POOL_SIZE = 8
WAIT_SECONDS = 120.0


def hide_password(uri: str) -> str:
    """The URI as it may be shown: without its password.

    >>> hide_password("postgresql://ml:secret@db:5432/mlprod")
    'postgresql://ml:***@db:5432/mlprod'
    """
    scheme, _, rest = uri.partition("://")
    user_part, at, host_part = rest.rpartition("@")
    if not at or ":" not in user_part:
        return uri
    return f"{scheme}://{user_part.split(':', 1)[0]}:***@{host_part}"


def _driver() -> Any:
    try:
        import adbc_driver_postgresql.dbapi as dbapi
    except ImportError:
        raise DatabaseError(
            "MLPROD_DB names a PostgreSQL server, but its driver is not installed: "
            "pip install adbc-driver-postgresql"
        ) from None
    return dbapi


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(exc, "sqlstate", "") or "")


_LOST_WORDS = (
    "server closed the connection",
    "terminating connection",
    "no connection to the server",
    "connection refused",
    "could not connect",
    "connection to server",
    "broken pipe",
    "could not receive data",
    "could not send data",
    "the database system is shutting down",
    "the database system is starting up",
    "ssl syscall error",
)


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the server went away (as opposed to a refused statement)."""
    state = _sqlstate(exc)
    if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return True
    text = str(exc).lower()
    return any(words in text for words in _LOST_WORDS)


def unique_violation(exc: BaseException) -> bool:
    return _sqlstate(exc) == "23505" or "duplicate key value" in str(exc)


def _errors() -> tuple[type[BaseException], ...]:
    import adbc_driver_manager

    return (adbc_driver_manager.Error,)


class PostgresCursor:
    """One operation's cursor, with the calls the store makes of DuckDB's: ``execute``
    (``?`` placeholders) returning itself, ``fetchone``, ``fetchall``, ``df``, ``arrow``;
    and ``ingest`` (binary COPY of an Arrow table)."""

    def __init__(self, cursor: Any) -> None:
        self._cur = cursor

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Self:
        params = list(parameters) if parameters else None
        self._cur.execute(numbered_placeholders(sql), params)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Self:
        if rows:
            # One statement with a row per parameter set is one round trip (and one typed
            # binding: ADBC types a column of parameters from all its values at once).
            self._cur.executemany(numbered_placeholders(sql), [list(r) for r in rows])
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cur.fetchall()

    def arrow(self) -> pa.Table:
        table = self._cur.fetch_arrow_table()
        # Keep the driver's column types, not its per-field metadata.
        return table.replace_schema_metadata(None).cast(
            pa.schema([pa.field(f.name, f.type, f.nullable) for f in table.schema])
        )

    def df(self) -> pd.DataFrame:
        """The answer as DuckDB's ``df()`` gives it: dates as ``datetime64[us]``, a text
        column with no value at all as ``None`` objects."""
        table = self.arrow()
        frame = table.to_pandas(date_as_object=False)
        for field in table.schema:
            column = table[field.name]
            if pa.types.is_date(field.type):
                frame[field.name] = frame[field.name].astype("datetime64[us]")
            elif pa.types.is_string(field.type) and column.null_count == len(column) > 0:
                frame[field.name] = pd.Series([None] * len(column), dtype=object)
        return frame

    def ingest(self, table_name: str, data: pa.Table) -> int:
        """Append ``data``'s rows to a table by column name (binary COPY)."""
        if data.num_rows == 0:
            return 0
        self._cur.adbc_ingest(table_name, data, mode="append")
        return data.num_rows

    def close(self) -> None:
        with suppress(Exception):
            self._cur.close()


class PostgresPool:
    """Open connections to one server, lent to one operation at a time."""

    def __init__(self, uri: str, *, size: int = POOL_SIZE) -> None:
        self.uri = uri
        self._dbapi = _driver()
        self._idle: LifoQueue[Any] = LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False
        # Open one now: a wrong address or password is said at start, not at first use.
        self._idle.put(self._connect())

    def _connect(self) -> Any:
        try:
            return self._dbapi.connect(self.uri, autocommit=True)
        except _errors() as exc:
            raise DatabaseError(
                f"Cannot reach the history database {hide_password(self.uri)}: "
                f"{_first_line(exc)}. Check that the PostgreSQL server is running and the "
                "address, user and password in MLPROD_DB are right."
            ) from None

    def _alive(self, con: Any) -> bool:
        try:
            with con.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchall()
        except _errors():
            return False
        return True

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A live connection for one operation (opened anew when the pooled one died)."""
        if self._closed:
            raise DatabaseError("The history database connection was closed.")
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise DatabaseError(
                f"Every connection to the history database {hide_password(self.uri)} stayed "
                f"busy for {WAIT_SECONDS:.0f} s; nothing was changed. Try again in a moment."
            )
        try:
            con = None
            with suppress(Empty):
                con = self._idle.get_nowait()
            if con is not None and not self._alive(con):
                with suppress(Exception):
                    con.close()
                con = None
            if con is None:
                con = self._connect()
            healthy = True
            try:
                yield con
            except _errors() as exc:
                healthy = not connection_lost(exc)
                raise
            except BaseException:
                healthy = False  # interrupted mid-statement: its state is unknown
                raise
            finally:
                if healthy and not self._closed:
                    self._idle.put(con)
                else:
                    with suppress(Exception):
                        con.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                con = self._idle.get_nowait()
            except Empty:
                return
            with suppress(Exception):
                con.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("IO: ", "INVALID_ARGUMENT: ", "INVALID_DATA: "):
        text = text.removeprefix(prefix)
    return text.splitlines()[0][:300] if text else type(exc).__name__
