"""The history store: the only module that writes SQL.

One :class:`Store` per process holds one DuckDB connection; every operation runs on its
own ``cursor()`` so Streamlit's script threads never share a bare connection. Writes that
belong together run in one explicit ``BEGIN``/``COMMIT`` transaction. Schema changes are
numbered migrations recorded in ``schema_version``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from mlprod.errors import DatabaseError, DatabaseLocked

__all__ = ["CALCULATION_COLUMNS", "SCHEMA_VERSION", "Store"]

#: Columns a caller may give for a calculation (the store adds id, author, source, ...).
CALCULATION_COLUMNS: tuple[str, ...] = (
    "created_at",
    "model_name",
    "run_id",
    "project",
    "tags",
    "notes",
    "f1",
    "precision",
    "recall",
    "tp",
    "fp",
    "fn",
    "training_cost",
    "inference_cost",
    "currency",
    "training_hours",
    "latency_ms",
    "cer",
    "ter",
    "psr",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE SEQUENCE calculation_id START 1",
        """
        CREATE TABLE batches (
            batch_id     VARCHAR PRIMARY KEY,
            created_at   TIMESTAMP NOT NULL,
            author       VARCHAR,
            source       VARCHAR NOT NULL,
            file_name    VARCHAR,
            content_hash VARCHAR,
            row_count    BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE calculations (
            id             BIGINT NOT NULL DEFAULT nextval('calculation_id'),
            created_at     TIMESTAMP NOT NULL,
            model_name     VARCHAR,
            run_id         VARCHAR,
            project        VARCHAR,
            tags           VARCHAR,
            notes          VARCHAR,
            f1             DOUBLE NOT NULL,
            precision      DOUBLE,
            recall         DOUBLE,
            tp             DOUBLE,
            fp             DOUBLE,
            fn             DOUBLE,
            training_cost  DOUBLE NOT NULL,
            inference_cost DOUBLE NOT NULL,
            currency       VARCHAR NOT NULL DEFAULT 'USD',
            training_hours DOUBLE NOT NULL,
            latency_ms     DOUBLE NOT NULL,
            cer            DOUBLE NOT NULL,
            ter            DOUBLE NOT NULL,
            psr            DOUBLE NOT NULL,
            author         VARCHAR,
            source         VARCHAR NOT NULL,
            batch_id       VARCHAR,
            calc_key       VARCHAR,
            deleted_at     TIMESTAMP,
            deleted_by     VARCHAR
        )
        """,
    ),
}
SCHEMA_VERSION = max(MIGRATIONS)

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?)(?:\. See also|$)")


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


class Store:
    """The team's history of calculations in a DuckDB database.

    Parameters
    ----------
    database : str or Path
        A DuckDB file path (created with its folder on first use) or ``":memory:"``.

    Raises
    ------
    DatabaseLocked
        Another process holds the file.
    DatabaseError
        The file is not a DuckDB database, or was written by a newer mlprod.
    """

    def __init__(self, database: str | Path) -> None:
        self.database = str(database)
        if self.database != ":memory:" and not self.database.startswith("md:"):
            Path(self.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.database)
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
        """A cursor inside ``BEGIN``/``COMMIT``; rolled back if anything raises."""
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
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
        for version in sorted(v for v in MIGRATIONS if v > current):
            with self.transaction() as cur:
                for statement in MIGRATIONS[version]:
                    cur.execute(statement)
                cur.execute("INSERT INTO schema_version VALUES (?, ?)", [version, _utc_now()])
        return max(current, SCHEMA_VERSION)

    # -- writes -------------------------------------------------------------------------
    def save_calculation(
        self,
        calculation: Mapping[str, Any],
        *,
        calc_key: str,
        author: str | None = None,
        source: str = "calculator",
    ) -> bool:
        """Store one calculation unless one with the same ``calc_key`` is already stored.

        ``calc_key`` identifies one press of *Calculate*: saving it again (a double click, a
        rerun) stores nothing. Returns True when a row was written.
        """
        values = {name: calculation.get(name) for name in CALCULATION_COLUMNS}
        values["created_at"] = values["created_at"] or _utc_now()
        values["currency"] = values["currency"] or "USD"
        columns = [*CALCULATION_COLUMNS, "author", "source", "calc_key"]
        params = [*values.values(), author, source, calc_key, calc_key]
        placeholders = ", ".join("?" for _ in columns)
        with self.transaction() as cur:
            cur.execute(
                f"INSERT INTO calculations ({', '.join(columns)}) "
                f"SELECT {placeholders} "
                "WHERE NOT EXISTS (SELECT 1 FROM calculations WHERE calc_key = ?)",
                params,
            )
            written = cur.fetchone()
        return bool(written and written[0])

    def append_calculations(
        self,
        frame: pd.DataFrame,
        *,
        source: str,
        author: str | None = None,
        file_name: str | None = None,
        content_hash: str | None = None,
    ) -> str:
        """Store scored rows as one batch in one transaction; returns the batch id.

        ``frame`` holds any of :data:`CALCULATION_COLUMNS` (the five inputs and three
        ratios are required). Either every row is stored or none is.
        """
        batch_id = uuid.uuid4().hex
        now = _utc_now()
        present = [c for c in CALCULATION_COLUMNS if c in frame.columns and c != "created_at"]
        created = "coalesce(created_at, ?)" if "created_at" in frame.columns else "?"
        with self.transaction() as cur:
            cur.register("incoming", frame)
            cur.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                [batch_id, now, author, source, file_name, content_hash, len(frame)],
            )
            cur.execute(
                f"INSERT INTO calculations (created_at, {', '.join(present)}, author, source, "
                f"batch_id) SELECT {created}, {', '.join(present)}, ?, ?, ? FROM incoming",
                [now, author, source, batch_id],
            )
            cur.unregister("incoming")
        return batch_id

    def soft_delete(self, ids: list[int], *, by: str | None = None) -> int:
        """Mark calculations deleted (they stay restorable); returns how many changed."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE calculations SET deleted_at = ?, deleted_by = ? "
                "WHERE id IN (SELECT unnest(?::BIGINT[])) AND deleted_at IS NULL",
                [_utc_now(), by, ids],
            )
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def restore(self, ids: list[int]) -> int:
        """Undo :meth:`soft_delete`; returns how many calculations came back."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE calculations SET deleted_at = NULL, deleted_by = NULL "
                "WHERE id IN (SELECT unnest(?::BIGINT[])) AND deleted_at IS NOT NULL",
                [ids],
            )
            row = cur.fetchone()
        return int(row[0]) if row else 0

    # -- reads --------------------------------------------------------------------------
    def count(self, *, include_deleted: bool = False) -> int:
        where = "" if include_deleted else " WHERE deleted_at IS NULL"
        with self.cursor() as cur:
            row = cur.execute(f"SELECT count(*) FROM calculations{where}").fetchone()
        return int(row[0]) if row else 0

    def recent(self, limit: int = 20, *, include_deleted: bool = False) -> pd.DataFrame:
        """The newest calculations first."""
        where = "" if include_deleted else "WHERE deleted_at IS NULL"
        with self.cursor() as cur:
            return cur.execute(
                f"SELECT * FROM calculations {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                [limit],
            ).df()
