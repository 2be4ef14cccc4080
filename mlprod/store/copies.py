"""A whole history copied from one database into another (a server's into a new DuckDB
file, for ``mlprod backup``), in one consistent snapshot of the source."""

from __future__ import annotations

from mlprod.store.connection import Connection

__all__ = ["COPIED_TABLES"]

#: Every table of a history, in an order their rows can be written.
COPIED_TABLES = (
    "batches",
    "calculations",
    "f1_inputs",
    "cost_assumptions",
    "deletions",
    "rollup",
    "imported_runs",
    "frontier_runs",
    "team_pricing",
    "production_marks",
    "alert_log",
)


class Copies(Connection):
    """Copying the history out (mixed into ``Store``)."""

    def copy_into(self, target: Connection) -> None:
        """Write every row of this history into ``target`` (a new, empty DuckDB history of
        the same schema version), read in one repeatable-read snapshot while others may
        keep saving; the target's batch numbers carry on after the source's last."""
        with self.cursor() as read:
            read.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                with target.transaction() as write:
                    for table in COPIED_TABLES:
                        rows = read.execute(f"SELECT * FROM {table}").arrow()
                        names = ", ".join(rows.column_names)
                        write.from_arrow(rows).query(
                            "rows", f"INSERT INTO {table} ({names}) SELECT {names} FROM rows"
                        )
                    (last,) = read.execute(
                        "SELECT coalesce(max(batch_no), 0) FROM batches"
                    ).fetchall()
                    write.execute("DROP SEQUENCE batch_no")
                    write.execute(f"CREATE SEQUENCE batch_no START {int(last[0]) + 1}")
            finally:
                read.execute("ROLLBACK")
