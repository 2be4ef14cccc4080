"""The connection to the history database: opening, hardening, cursors, transactions.

A DuckDB file has one process at a time, and a team has several: the dashboard, a CLI in
CI, a notebook, a cron import. So a ``Store`` holds the file only while it works: the
first operation opens it, the last one to finish closes it, and an opening that finds
another process at work waits for it (up to ``MLPROD_DB_WAIT`` seconds, by default 60)
instead of failing. Inside one process every operation runs on its own ``cursor()`` so
Streamlit's script threads never share a bare connection. Writes that belong together run
in one explicit ``BEGIN``/``COMMIT`` transaction.

The database setting picks the backend here (:func:`backend_of`): a DuckDB file (the
embedded default, one process) or a PostgreSQL server (:mod:`~mlprod.store.postgres`, many
processes). The schema, writes and queries run on whatever :meth:`Connection.cursor` hands
out, in SQL both run, with the few differences from :attr:`Connection.sql` (a
:class:`~mlprod.store.dialect.Dialect`).
"""

from __future__ import annotations

import atexit
import os
import re
import stat
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Self

import duckdb

from mlprod import config
from mlprod.errors import DatabaseError, DatabaseLocked, DatabaseReadOnly
from mlprod.store.dialect import DUCKDB, POSTGRES, Dialect
from mlprod.store.postgres import PostgresCursor, PostgresPool, connection_lost, hide_password

__all__ = ["Connection", "backend_of"]

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?)(?:\. See also|$)")


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
_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _refuse_foreign_file(path: Path) -> None:
    """Refuse, before DuckDB touches it, anything at ``path`` that is not a DuckDB file."""
    if path.is_dir():
        raise DatabaseError(
            f"{path} is a folder, not a database file. Point MLPROD_DB at a file, e.g. "
            f"{path / 'mlprod.duckdb'}; nothing in the folder was touched."
        )
    try:  # stat, never open, first: opening a FIFO waits for a writer that may never come
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise DatabaseError(f"Cannot read the history database {path}: {exc.strerror}.") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise DatabaseError(
            f"{path} is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a database "
            "file. Point MLPROD_DB at a DuckDB file (or at a new path to create one); it was "
            "left untouched."
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


def _write_failure(exc: BaseException) -> bool:
    """A write the disk or the file system refused (full, too large, read-only), as
    opposed to a conflict between two writers (retried elsewhere) or a bug."""
    if isinstance(exc, duckdb.IOException | duckdb.PermissionException):
        return True
    text = str(exc)
    return isinstance(exc, duckdb.Error) and any(
        words in text
        for words in (
            "IO Error",
            "No space left",
            "File too large",
            "Read-only file system",
            "Permission denied",
            "Operation not permitted",
            "Disk quota exceeded",
            "Failed to commit",
        )
    )


_SERVERS = ("postgresql", "postgres")

#: How long a process keeps the DuckDB file after its last operation (seconds).
LINGER_SECONDS = 0.2


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def backend_of(database: str) -> str:
    """Which backend a database setting names: ``"duckdb"`` (a file or ``:memory:``) or
    ``"postgresql"`` (a libpq URI).

    >>> backend_of("data/mlprod.duckdb"), backend_of("postgresql://ml@db.internal/mlprod")
    ('duckdb', 'postgresql')
    >>> backend_of("mysql://db/mlprod")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlprod.errors.DatabaseError: mysql://... is a database server mlprod cannot use: ...
    """
    scheme = database.split("://", 1)[0].lower() if "://" in database else ""
    if scheme in _SERVERS:
        return "postgresql"
    if scheme:
        raise DatabaseError(
            f"{scheme}://... is a database server mlprod cannot use: point MLPROD_DB at a "
            "DuckDB file path or at a PostgreSQL server (postgresql://user@host:5432/dbname)."
        )
    return "duckdb"


#: The DuckDB files this process opens between bursts of use, each closed before the
#: interpreter ends: a let-go timer that fired while it ended would close one from a
#: dying thread, and DuckDB's close aborts the whole process there ("FATAL: exception
#: not rethrown", exit 134: tests/test_store.py).
_SHARED_FILES: weakref.WeakSet[Connection] = weakref.WeakSet()


@atexit.register
def _close_shared_files() -> None:
    for connection in list(_SHARED_FILES):
        connection.close_if_idle()


class Connection:
    """The database connection a ``Store`` works through (its parameters and errors are
    :class:`~mlprod.store.Store`'s): one per process, a cursor per operation."""

    #: The SQL this backend speaks where the two differ.
    sql: Dialect = DUCKDB
    #: Fold a DuckDB file's log in after each write (see :meth:`transaction`).
    fold_log_after_writes = True

    def __init__(
        self, database: str | Path, *, memory_limit: str | None = None, wait: float | None = None
    ) -> None:
        self.database = str(database)
        self.read_only = False
        self._pool: PostgresPool | None = None
        if backend_of(self.database) == "postgresql":
            self.sql = POSTGRES
            self._pool = PostgresPool(self.database)
            self.database = hide_password(self.database)  # as messages show it
            return
        self._memory_limit = memory_limit or config.memory_limit()
        self._wait = config.lock_wait() if wait is None else max(0.0, wait)
        # A file is held only while someone works on it (see the module's docstring); a
        # database in memory lives as long as its connection.
        self._shared_file = self.database != ":memory:" and not self.database.startswith("md:")
        self._guard = threading.Lock()
        self._users = 0
        self._turn = 0
        self._con: duckdb.DuckDBPyConnection | None = None
        self._broken = False
        if self._shared_file:
            path = Path(self.database).expanduser()
            _refuse_foreign_file(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.read_only = path.exists() and not _writable(path)
            _SHARED_FILES.add(self)
        else:
            self._con = self._open()

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Open the database, waiting while another process holds the file."""
        deadline = time.monotonic() + self._wait
        pause = 0.005
        while True:
            try:
                # Capped below DuckDB's default (80% of RAM), which let its page cache and
                # checkpoints grow the process after large batches (tests/benchmarks/
                # memory.py); it spills to disk past the cap.
                con = duckdb.connect(
                    self.database,
                    read_only=self.read_only,
                    config={
                        "memory_limit": self._memory_limit,
                        # SQL reaches no file outside the database's folder (the file, its
                        # WAL and DuckDB's spill folder live there), no extension is fetched
                        # or loaded (httpfs would give SQL the network), and no query can
                        # change these settings later.
                        "autoinstall_known_extensions": False,
                        "autoload_known_extensions": False,
                    },
                )
                _harden(con, self.database)
                return con
            except duckdb.Error as exc:
                error = _open_error(self.database, exc)
                if not isinstance(error, DatabaseLocked):
                    raise error from None
                if time.monotonic() + pause > deadline:
                    if self._wait:
                        raise DatabaseLocked(
                            f"{error} (waited {self._wait:g} s; MLPROD_DB_WAIT or --wait "
                            "sets how long)"
                        ) from None
                    raise error from None
            time.sleep(pause)  # another process is at work: its saves take seconds at most
            pause = min(pause * 2, 0.05)

    @contextmanager
    def held(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """The file, ours for as long as this block runs (nested uses share it); closed
        when the last user is done, so other processes can take their turn."""
        if self._pool is not None or not self._shared_file:
            yield self._con
            return
        with self._guard:
            self._turn += 1  # a pending let-go is off
            if self._broken:  # dead for every user: each op of theirs fails anyway
                self._close_now()
            if self._con is None:
                self._con = self._open()
            self._users += 1
            con = self._con
        try:
            yield con
        except duckdb.FatalException:
            # DuckDB ends a connection after a fatal error (a checkpoint the file system
            # refused): it is closed, and the next operation opens the file afresh.
            self._broken = True
            raise
        finally:
            with self._guard:
                self._users -= 1
                if self._users == 0 and self._con is not None:
                    self._let_go_after(LINGER_SECONDS)

    def _close_now(self) -> None:
        """Close the file at once (the guard held)."""
        if self._con is not None:
            with suppress(duckdb.Error):
                self._con.close()
        self._con, self._broken = None, False

    def file_stamp(self) -> str | None:
        """Size and modification time of the DuckDB file and of its write-ahead log: every
        commit, by any process, writes one of them (reads write neither), so the stamp
        moves with every write, with no need to open the file. ``None`` for a server or
        a database in memory."""
        if self._pool is not None or not self._shared_file:
            return None
        path = Path(self.database).expanduser()
        parts = []
        for file in (path, path.with_name(path.name + ".wal")):
            try:
                found = file.stat()
            except FileNotFoundError:
                parts.append("-")
            else:
                parts.append(f"{found.st_size}:{found.st_mtime_ns}")
        return "/".join(parts)

    def _let_go_after(self, seconds: float) -> None:
        """Close the file once nobody here has used it for ``seconds``: a page's queries
        come in bursts (one open per burst, not per query: tests/benchmarks/sharing.py and
        docs/ARCHITECTURE.md), and between bursts another process gets in."""
        turn = self._turn

        def let_go() -> None:
            with self._guard:
                if self._turn == turn and self._users == 0 and self._con is not None:
                    self._con.close()
                    self._con = None

        timer = threading.Timer(seconds, let_go)
        timer.daemon = True
        timer.start()

    @property
    def backend(self) -> str:
        return self.sql.name

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor of its own for one operation; closed afterwards."""
        if self._pool is not None:
            with self._server_cursor() as server:
                yield server
            return
        with self.held() as con:
            assert con is not None
            cur = con.cursor()
            try:
                yield cur
            finally:
                cur.close()

    @contextmanager
    def _server_cursor(self) -> Iterator[PostgresCursor]:
        assert self._pool is not None
        try:
            with self._pool.connection() as con:
                cur = PostgresCursor(con.cursor())
                try:
                    yield cur
                finally:
                    cur.close()
        except Exception as exc:
            if connection_lost(exc):
                raise DatabaseError(
                    f"The connection to the history database {self.database} was lost "
                    f"({_reason(exc)}); nothing of this change was stored. Try again in a "
                    "moment: mlprod reconnects by itself once the server answers."
                ) from None
            raise

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
            except BaseException as exc:
                with suppress(Exception):  # the failure itself may have ended it
                    cur.execute("ROLLBACK")
                if _write_failure(exc):
                    raise self._not_written(exc) from None
                raise
            try:
                cur.execute("COMMIT")
            except Exception as exc:
                if _write_failure(exc):
                    raise self._not_written(exc) from None
                raise
            if self._pool is None and self._shared_file and self.fold_log_after_writes:
                # Fold the log into the file now, not when the file is let go: the file's
                # stamp then moves once per write, not a second time at the let-go. Another
                # thread's open transaction may refuse it: the close then does it.
                try:
                    cur.execute("CHECKPOINT")
                except duckdb.FatalException:  # the file refused it: the commit stands (in
                    self._broken = True  # the log); the file is opened afresh next time
                except duckdb.Error:
                    pass

    def _not_written(self, exc: BaseException) -> DatabaseError:
        reason = _reason(exc)
        return DatabaseError(
            f"The history database {self.database} could not be written ({reason}); nothing "
            "of this change was stored. Free disk space, or fix the folder's permissions, "
            "and try again."
        )

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file, so the file alone holds everything (a
        server keeps its own log: nothing to do)."""
        if self._pool is not None:
            return
        with self.cursor() as cur:
            cur.execute("CHECKPOINT")

    def require_writable(self) -> None:
        """Raise :class:`DatabaseReadOnly` (in words) when nothing can be written."""
        if self.read_only:
            raise DatabaseReadOnly(
                f"The history database {self.database} is read-only (file or folder "
                "permissions): the history can be viewed, but nothing can be saved or "
                "deleted. Make it writable, or point MLPROD_DB at a writable file."
            )

    def close_if_idle(self) -> None:
        """Close the file unless a thread is at work on it (at exit: a daemon thread
        mid-query keeps it; closing under it would abort as well)."""
        with self._guard:
            self._turn += 1  # a pending let-go is off
            if self._users == 0:
                self._close_now()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            return
        with self._guard:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
