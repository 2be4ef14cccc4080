"""Backups of the history database, and bringing one back.

DuckDB lets one process hold a database file at a time, and each mlprod process holds it
only while it works. A backup therefore works in one of two ways:

- the file is free within a moment: hold it (taking the lock), ``CHECKPOINT``, copy it;
- another process keeps it (a long save): copy the file and its write-ahead log as they
  are, and keep the copy only if neither changed while it was being made (DuckDB writes
  both on every commit and checkpoint, so an unchanged pair is a committed state).
  Otherwise try again.

A history on a PostgreSQL server is backed up to a DuckDB file too (beside ``pg_dump``, which
the server's own tools offer): every table is read in one repeatable-read transaction (a
consistent state while others keep saving) and streamed into a new DuckDB file as Arrow.

Either way the copy is then opened on its own, its log folded in, and checked: every batch
must hold exactly the rows it recorded. Only a copy that passes is moved to ``DEST``.
A restore checks its source the same way, refuses while the database is in use, and keeps
the database it replaces beside it (``*.before-restore-<time>.duckdb``): nothing is lost.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlprod.config import refuse_to_overwrite_a_history
from mlprod.errors import CannotWrite, DatabaseError, DatabaseLocked
from mlprod.store import Store
from mlprod.store.connection import backend_of

__all__ = ["Copied", "backup", "restore"]

ATTEMPTS = 50  # a snapshot is retried while the dashboard keeps writing
BUSY_SECONDS = 2.0  # how long a backup waits for the file before copying it as it is


@dataclass(frozen=True)
class Copied:
    """What a backup or restore wrote, and what it holds."""

    path: Path
    calculations: int
    batches: int
    method: str  # "checkpoint", "snapshot" or "restore"
    attempts: int = 1
    kept: Path | None = None  # restore: where the replaced database was kept
    stale_log: Path | None = None  # restore: a log found without its database, kept aside


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _state(path: Path) -> tuple[tuple[int, int] | None, ...]:
    """Size and modification time of the file and of its log (absent: None)."""
    found: list[tuple[int, int] | None] = []
    for p in (path, _wal(path)):
        try:
            st = p.stat()
        except FileNotFoundError:
            found.append(None)
        else:
            found.append((st.st_size, st.st_mtime_ns))
    return tuple(found)


def _copy_pair(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    if _wal(source).exists():
        shutil.copyfile(_wal(source), _wal(target))
    else:
        _wal(target).unlink(missing_ok=True)


def _verified(copy: Path) -> dict[str, int]:
    """Open the copy alone, fold its log in and check it; raise if it is not whole."""
    with Store(copy) as store:
        store.checkpoint()
        found = store.integrity()
    _wal(copy).unlink(missing_ok=True)  # folded in by the checkpoint
    if found["broken_batches"]:
        raise DatabaseError(
            f"The copy of the database has {found['broken_batches']} incomplete batch(es)."
        )
    if found["rollup_mismatches"]:
        raise DatabaseError(
            f"The copy of the database has {found['rollup_mismatches']} history summary "
            "group(s) that do not match its calculations."
        )
    return found


def _snapshot(database: Path, temp: Path) -> int:
    """Copy a database another process holds; returns the attempts it took."""
    for attempt in range(1, ATTEMPTS + 1):
        before = _state(database)
        _copy_pair(database, temp)
        if _state(database) == before:
            return attempt
        time.sleep(min(0.05 * attempt, 0.5))  # it was written meanwhile: try again
    raise DatabaseLocked(
        f"{database} kept changing during {ATTEMPTS} attempts to copy it; try again when "
        "the dashboard is less busy."
    )


def _placed(path: Path, expected: dict[str, int]) -> None:
    """Open a file just put in place as the dashboard will, and check it holds what was
    verified: a foreign log beside it, say, would be replayed into it on opening."""
    try:
        with Store(path) as store:
            found = store.integrity()
    except DatabaseError as exc:
        raise DatabaseError(f"{path} was written but does not open: {exc}") from None
    for key in ("calculations", "batches", "broken_batches", "rollup_mismatches"):
        if found[key] != expected[key]:
            raise DatabaseError(
                f"{path} was written but does not hold what was copied ({key}: "
                f"{found[key]:,} instead of {expected[key]:,}); do not use it."
            )


def _from_server(uri: str, temp: Path) -> None:
    """Copy every table of a history on a server into a new DuckDB file at ``temp``."""
    with Store(uri) as source, Store(temp) as copy:
        source.copy_into(copy)


def backup(database: str | Path, dest: str | Path) -> Copied:
    """Write a consistent, checked copy of ``database`` (a DuckDB file or a PostgreSQL
    server) to ``dest`` (a new DuckDB file)."""
    server = backend_of(str(database)) == "postgresql"
    dest = Path(dest).expanduser()
    refuse_to_overwrite_a_history(dest, str(database))
    if server:
        return _server_backup(str(database), dest)
    database = Path(database).expanduser()
    if not database.is_file():
        raise DatabaseError(f"There is no database at {database} to back up.")
    _check_dest(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mlprod-backup-", dir=dest.parent) as folder:
        temp = Path(folder) / "copy.duckdb"
        try:
            with Store(database, wait=BUSY_SECONDS) as store, store.held():
                # ours alone while held: nothing changes under the copy
                if not store.read_only:
                    store.checkpoint()
                _copy_pair(database, temp)
            method, attempts = "checkpoint", 1
        except DatabaseLocked:
            method, attempts = "snapshot", _snapshot(database, temp)
        found = _verified(temp)
        os.replace(temp, dest)
    _placed(dest, found)
    return Copied(dest, found["calculations"], found["batches"], method, attempts)


def _server_backup(uri: str, dest: Path) -> Copied:
    _check_dest(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mlprod-backup-", dir=dest.parent) as folder:
        temp = Path(folder) / "copy.duckdb"
        _from_server(uri, temp)
        found = _verified(temp)
        os.replace(temp, dest)
    _placed(dest, found)
    return Copied(dest, found["calculations"], found["batches"], "server")


def _check_dest(dest: Path) -> None:
    if dest.exists():
        raise DatabaseError(f"{dest} exists already; choose a new file name for the backup.")
    if _wal(dest).exists():
        raise DatabaseError(
            f"{_wal(dest)} exists: the log of another database, which would be read into "
            "the backup. Remove it or choose a new file name for the backup."
        )


def restore(source: str | Path, database: str | Path) -> Copied:
    """Make ``source`` (a backup) the database again; the replaced one is kept beside it."""
    source, database = Path(source).expanduser(), Path(database).expanduser()
    if not source.is_file():
        raise DatabaseError(f"There is no backup at {source}.")
    for own in (database, _wal(database)):
        if own.exists() and os.path.samefile(source, own):
            raise CannotWrite(
                f"{source} is the history database itself ({database}), not a backup of it. "
                "Name a backup made by `mlprod backup`; nothing was replaced."
            )
    database.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mlprod-restore-", dir=database.parent) as folder:
        temp = Path(folder) / "restore.duckdb"
        _copy_pair(source, temp)  # the backup itself is only read
        found = _verified(temp)
        kept = stale = None
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        if not database.exists() and _wal(database).exists():
            # A log without its database (of a lost or deleted file) would be replayed
            # into the restored one: keep it aside, named so.
            stale = database.with_name(f"{database.name}.wal.stale-{stamp}")
            os.replace(_wal(database), stale)
        if database.exists():
            kept = database.with_name(f"{database.stem}.before-restore-{stamp}.duckdb")
            try:
                # Held while the files are swapped: a process that opens the database
                # meanwhile waits, then finds the restored one.
                with Store(database, wait=BUSY_SECONDS) as store, store.held():
                    os.replace(database, kept)
                    if _wal(database).exists():
                        os.replace(_wal(database), _wal(kept))
                    os.replace(temp, database)
            except DatabaseLocked as exc:
                raise DatabaseLocked(f"{exc} Stop the dashboard, then restore.") from None
        else:
            os.replace(temp, database)
    _placed(database, found)
    return Copied(
        database, found["calculations"], found["batches"], "restore", kept=kept, stale_log=stale
    )
