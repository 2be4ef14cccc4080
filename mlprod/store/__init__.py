"""The history store: the only package that writes SQL.

``Store`` is one facade over the parts, each in its own module by reason to change:

- :mod:`~mlprod.store.connection`: choosing the backend (a DuckDB file, or PostgreSQL:
  :mod:`~mlprod.store.postgres`), opening, hardening, cursors, transactions; the SQL
  the two spell differently is in :mod:`~mlprod.store.dialect`;
- :mod:`~mlprod.store.schema`: tables, numbered migrations, the integrity check;
- :mod:`~mlprod.store.writes`: saving batches, soft delete and restore, the rollup;
  :mod:`~mlprod.store.blocks`: a batch's blocks shaped and inserted (or copied in);
- :mod:`~mlprod.store.copies`: a whole history copied out (backups of a server);
- :mod:`~mlprod.store.lookups`: single runs for Compare and tooltips;
- :mod:`~mlprod.store.filters` and :mod:`~mlprod.store.history`: the history page's
  questions;
- :mod:`~mlprod.store.team`: the team's settings (its pricing, the run in production for
  each model), each change kept.
"""

from __future__ import annotations

from pathlib import Path

from mlprod.store.alerts import AlertLog
from mlprod.store.copies import Copies
from mlprod.store.exports import Exports
from mlprod.store.filters import HistoryFilter, HistoryOverview, bucket_for
from mlprod.store.groups import Groups
from mlprod.store.history import NO_MODEL, with_run_names
from mlprod.store.schema import (
    ASSUMPTION_COLUMNS,
    CALCULATION_COLUMNS,
    F1_INPUT_COLUMNS,
    MIGRATIONS,
    ROWS_PER_BATCH,
    SCHEMA_VERSION,
    Schema,
)
from mlprod.store.team import ProductionMark, ProductionMarks, TeamSettings
from mlprod.store.writes import KEEP, Writes

__all__ = [
    "ASSUMPTION_COLUMNS",
    "CALCULATION_COLUMNS",
    "F1_INPUT_COLUMNS",
    "KEEP",
    "MIGRATIONS",
    "NO_MODEL",
    "ROWS_PER_BATCH",
    "SCHEMA_VERSION",
    "HistoryFilter",
    "HistoryOverview",
    "ProductionMark",
    "Store",
    "bucket_for",
    "with_run_names",
]


class Store(Schema, Writes, Exports, Groups, Copies, TeamSettings, ProductionMarks, AlertLog):
    """The team's history of calculations.

    Parameters
    ----------
    database : str or Path
        A DuckDB file path (created with its folder on first use) or ``":memory:"``.
    memory_limit : str, optional
        DuckDB's memory cap for this process (``"512MB"``, ``"2GB"``; by default
        ``MLPROD_DB_MEMORY`` or 512MB); beyond it DuckDB spills to a temp folder.

    wait : float, optional
        How long (seconds) an operation waits while another process works on the file
        (by default ``MLPROD_DB_WAIT`` or 60). The file is held only while an operation
        runs (:meth:`held` keeps it for a block).

    Raises
    ------
    DatabaseLocked
        Another process held the file for longer than ``wait``.
    DatabaseError
        The file is not a DuckDB database, or was written by a newer mlprod.
    """

    def __init__(
        self, database: str | Path, *, memory_limit: str | None = None, wait: float | None = None
    ) -> None:
        super().__init__(database, memory_limit=memory_limit, wait=wait)
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise
