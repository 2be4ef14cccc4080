"""What the history database holds: tables, numbered migrations, and their promises.

Schema changes are numbered migrations recorded in ``schema_version``; :meth:`Schema.migrate`
applies the ones a database lacks, each in its own transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlprod.errors import DatabaseError, DatabaseReadOnly
from mlprod.store.connection import Connection
from mlprod.store.dialect import DUCKDB, ROWS_PER_BATCH, Dialect

__all__ = [
    "ASSUMPTION_COLUMNS",
    "CALCULATION_COLUMNS",
    "F1_INPUT_COLUMNS",
    "FRONTIER_AXES",
    "MIGRATIONS",
    "ROWS_PER_BATCH",
    "SCHEMA_VERSION",
]

#: The tables and views the migrations make (a database holding one of them without
#: ``schema_version`` is another application's).
OUR_TABLES = frozenset(
    (
        "batches",
        "calculations",
        "f1_inputs",
        "deletions",
        "history",
        "cost_assumptions",
        "rollup",
        "imported_runs",
        "frontier_runs",
        "team_pricing",
        "production_marks",
        "alert_log",
        "schema_version",
    )
)

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

#: The assumptions behind a built cost, kept in ``cost_assumptions``.
ASSUMPTION_COLUMNS: tuple[str, ...] = (
    "gpu_model",
    "gpu_count",
    "gpu_hours",
    "price_per_gpu_hour",
    "price_kind",
    "price_provider",
    "price_as_of",
    "extra_costs",
    "inference_mode",
    "months",
    "requests_per_month",
    "cost_per_1k_requests",
    "tokens_in_per_month",
    "tokens_out_per_month",
    "price_in_per_1m",
    "price_out_per_1m",
    "fx_rate",
)
#: Self-hosted serving and API models from the price book (issue #17): what they assumed.
SERVING_COLUMNS = (
    ("llm_model", "VARCHAR"),
    ("llm_provider", "VARCHAR"),
    ("llm_prices_as_of", "DATE"),
    ("serving_gpu", "VARCHAR"),
    ("serving_gpus", "DOUBLE"),
    ("replicas", "DOUBLE"),
    ("hours_per_month", "DOUBLE"),
    ("requests_per_s_per_replica", "DOUBLE"),
    ("serving_price_per_gpu_hour", "DOUBLE"),
    ("serving_price_kind", "VARCHAR"),
    ("serving_provider", "VARCHAR"),
    ("serving_price_as_of", "DATE"),
)
ASSUMPTION_COLUMNS += tuple(name for name, _ in SERVING_COLUMNS)
#: A team's pricing (issue #33): the discount off list price a GPU-priced run paid.
ASSUMPTION_COLUMNS += ("price_discount",)
#: The price book in full (issue #33): cached input tokens and batch pricing.
BOOK_COLUMNS = (
    ("cached_input_share", "DOUBLE"),
    ("price_cached_per_1m", "DOUBLE"),
    ("batch_share", "DOUBLE"),
    ("llm_batch_discount", "DOUBLE"),
)
ASSUMPTION_COLUMNS += tuple(name for name, _ in BOOK_COLUMNS)
#: The energy a run's training used, where it was measured (issue #36), kept with what
#: its cost assumed: both are rarely given, and read with the run.
ENERGY_COLUMNS = (("energy_kwh", "DOUBLE"), ("co2_kg", "DOUBLE"))
ASSUMPTION_COLUMNS += tuple(name for name, _ in ENERGY_COLUMNS)

_ROLLUP_KEYS = "batch_no, day, model_name, project, tags"


def rollup_select(d: Dialect, rows: str, source: str = "calculations") -> str:
    """The live calculations matching ``rows`` summed up per batch, day, model, project
    and tags (issue #5): the history's summary, trend and best runs read this small table
    instead of every row (an order of magnitude fewer rows: history.py). Kept right in
    the same transaction as every write: a save adds its batch's groups, a delete or
    restore recomputes the groups it touched."""
    return (
        f"SELECT {d.batch_of('id')} AS batch_no, CAST(created_at AS DATE) AS day, model_name, "
        "project, tags, count(*) AS runs, min(created_at) AS first_at, "
        "max(created_at) AS last_at, sum(cer) AS sum_cer, sum(ter) AS sum_ter, "
        f"sum(psr) AS sum_psr, max(cer) AS max_cer, {d.arg_max('id', 'cer')} AS max_cer_id, "
        f"max(ter) AS max_ter, {d.arg_max('id', 'ter')} AS max_ter_id, max(psr) AS max_psr, "
        f"{d.arg_max('id', 'psr')} AS max_psr_id, max(f1) AS max_f1 "
        f"FROM {source} WHERE deleted_at IS NULL AND {rows} GROUP BY {_ROLLUP_KEYS}"
    )


#: The groups of ``frontier_runs``: what the History filters pick, but for dates.
FRONTIER_KEYS = "batch_no, model_name, project, tags"

#: The two axes of the history's frontiers: what a run costs, how long it takes to answer.
FRONTIER_AXES = {"total_cost": "training_cost + inference_cost", "latency_ms": "latency_ms"}


def frontier_select(d: Dialect, rows: str, source: str = "calculations") -> str:
    """The live calculations matching ``rows`` that are on the F1 frontier of their group
    (batch, model, project, tags) against total cost or against latency: the history
    page's frontiers under any filter of those (no dates, no text search) are the
    frontiers of these few runs (a run on the frontier of a set of groups is on its own
    group's frontier), so such a filter reads a few hundred rows where it read every
    matching run. Kept up with every write; a superset (a batch copied in block by block
    keeps each block's) gives the same frontiers. Not per day, as the rollup is: runs
    spread over two years then fall into groups of a few runs, half of which are on
    their group's frontier (the saves of run.py grew by most of their length).

    Per group, sorted by x (ties: higher F1 first, then id), a run is on the frontier when
    its F1 is above every F1 before it. Before that sort the runs are cut in 1,024 slices
    of x: a run whose F1 is at most the best F1 of a lower slice of its group is beaten, so
    only the others are sorted (once, when they are saved: run.py's ``store_only``).
    """
    keys = FRONTIER_KEYS.split(", ")
    text = ("model_name", "project", "tags")
    # Each group numbered once (``grp``), so that the slices are summed up and joined on
    # integers (faster than on text): its keys are matched with "=" (a hash join on
    # both databases), text with NULL as its own value by a mask of which are NULL.
    nulls = " + ".join(f"CASE WHEN {k} IS NULL THEN {2**i} ELSE 0 END" for i, k in enumerate(text))
    same = " AND ".join(
        ["k.batch_no = g.batch_no"]
        + [f"coalesce(k.{k}, '') = coalesce(g.{k}, '')" for k in text]
        + ["k.nulls = g.nulls"]
    )
    steps = [
        f"g AS MATERIALIZED (SELECT {d.batch_of('id')} AS batch_no, model_name, project, "
        f"tags, {nulls} AS nulls, id, f1, "
        f"{FRONTIER_AXES['total_cost']} AS total_cost, latency_ms FROM {source} "
        f"WHERE deleted_at IS NULL AND {rows})",
        "groups AS MATERIALIZED (SELECT *, row_number() OVER () AS grp FROM "
        f"(SELECT DISTINCT {', '.join(keys)}, nulls FROM g) named)",
        "n AS MATERIALIZED (SELECT k.grp, g.id, g.f1, g.total_cost, g.latency_ms FROM g "
        f"JOIN groups k ON {same})",
    ]
    for x in FRONTIER_AXES:
        steps += [
            f"{x}_span AS (SELECT min({x}) AS lo, max({x}) AS hi FROM n)",
            f"{x}_cut AS (SELECT n.*, coalesce(floor((n.{x} - s.lo) * 1024.0 / "
            f"nullif(s.hi - s.lo, 0)), 0) AS cut FROM n CROSS JOIN {x}_span s)",
            f"{x}_beaten AS (SELECT grp, cut, max(max(f1)) OVER (PARTITION BY grp ORDER BY cut "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS best_below FROM {x}_cut "
            "GROUP BY grp, cut)",
            f"{x}_left AS (SELECT c.*, max(c.f1) OVER (PARTITION BY c.grp ORDER BY c.{x}, "
            "c.f1 DESC, c.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS best_before "
            f"FROM {x}_cut c JOIN {x}_beaten b ON b.grp = c.grp AND b.cut = c.cut "
            "WHERE b.best_below IS NULL OR c.f1 > b.best_below)",
        ]
    fronts = " UNION ".join(
        f"SELECT grp, id, f1, total_cost, latency_ms FROM {x}_left "
        "WHERE best_before IS NULL OR f1 > best_before"
        for x in FRONTIER_AXES
    )
    return (
        f"WITH {', '.join(steps)} SELECT {', '.join(f'k.{k}' for k in keys)}, f.id, f.f1, "
        f"f.total_cost, f.latency_ms FROM ({fronts}) f JOIN groups k ON k.grp = f.grp"
    )


#: Rollup rows of parts of one batch (``parts``) summed up into the batch's rollup rows.
ROLLUP_OF_PARTS = (
    f"SELECT {_ROLLUP_KEYS}, sum(runs) AS runs, min(first_at) AS first_at, "
    "max(last_at) AS last_at, sum(sum_cer) AS sum_cer, sum(sum_ter) AS sum_ter, "
    "sum(sum_psr) AS sum_psr, max(max_cer) AS max_cer, arg_max(max_cer_id, max_cer) AS max_cer_id, "
    "max(max_ter) AS max_ter, arg_max(max_ter_id, max_ter) AS max_ter_id, "
    "max(max_psr) AS max_psr, arg_max(max_psr_id, max_psr) AS max_psr_id, "
    f"max(max_f1) AS max_f1 FROM parts GROUP BY {_ROLLUP_KEYS}"
)


# Tags are stored as "a, b, c" (see mlprod.saving.normalize_tags): earlier CLI and batch
# saves kept them as written ("a,b", "a , b"). The same patterns, then the rollup, which
# groups by tags, summed up again.
TAGS_SQL = (
    "nullif(regexp_replace(regexp_replace({column}, '\\s*,[\\s,]*', ', ', 'g'), "
    "'^\\s*(, )?|(, )?\\s*$', '', 'g'), '')"
)


def migrations(d: Dialect) -> dict[int, tuple[str, ...]]:
    """The numbered schema changes, as ``d``'s database spells them.

    Every save is a batch (a calculator save is a batch of one): who, when, from where and
    in which currency live once per batch, not once per row. Rarely-given columns live in
    side tables, because every all-NULL column still costs DuckDB time on a million-row
    insert.
    """
    steps: dict[int, tuple[str, ...]] = {
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
            f"""
            CREATE VIEW history AS
            SELECT c.*, b.batch_no, b.author, b.source, b.currency, b.file_name, b.saved_at
            FROM calculations c JOIN batches b ON b.batch_no = {d.batch_of("c.id")}
            """,
        ),
        # Where a cost came from (GPU prices, traffic, tokens): issue #6. One row per
        # calculation whose cost was built rather than typed.
        2: (
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
        ),
        3: (
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
            f"INSERT INTO rollup {rollup_select(d, 'true')}",
        ),
        4: (
            f"UPDATE calculations SET tags = {TAGS_SQL.format(column='tags')} "
            f"WHERE tags IS DISTINCT FROM {TAGS_SQL.format(column='tags')}",
            "DELETE FROM rollup",
            f"INSERT INTO rollup {rollup_select(d, 'true')}",
        ),
        5: tuple(
            f"ALTER TABLE cost_assumptions ADD COLUMN {name} {kind}"
            for name, kind in SERVING_COLUMNS
        ),
        # Many writers (issue #15): "this file was saved" and "this run was imported" as
        # database constraints, so two processes saving the same at once cannot both win.
        # A batch's guard is its content hash when saved "unless saved before", or the
        # calculator's key; NULL when saved again on purpose.
        6: (
            "ALTER TABLE batches ADD COLUMN guard VARCHAR",
            "CREATE UNIQUE INDEX batches_guard ON batches (guard)",
            """
            CREATE TABLE imported_runs (
                source  VARCHAR NOT NULL,
                origin  VARCHAR NOT NULL,
                run_id  VARCHAR NOT NULL,
                PRIMARY KEY (source, origin, run_id)
            )
            """,
            "INSERT INTO imported_runs SELECT DISTINCT b.source, b.file_name, c.run_id "
            f"FROM calculations c JOIN batches b ON b.batch_no = {d.batch_of('c.id')} "
            "WHERE b.source = 'mlflow' AND b.file_name IS NOT NULL AND c.run_id IS NOT NULL",
        ),
    }
    # The runs on each rollup group's frontiers (issue #18): see frontier_select.
    steps[7] = (
        """
        CREATE TABLE frontier_runs (
            batch_no   BIGINT NOT NULL,
            model_name VARCHAR,
            project    VARCHAR,
            tags       VARCHAR,
            id         BIGINT NOT NULL,
            f1         DOUBLE NOT NULL,
            total_cost DOUBLE NOT NULL,
            latency_ms DOUBLE NOT NULL
        )
        """,
        # A server's history: every live run, a superset (read sliced, as runs are), each
        # batch narrowed to its frontier runs at its next delete or restore; its planner
        # gave up on frontier_select past a few hundred thousand runs (postgres.py).
        f"INSERT INTO frontier_runs {frontier_select(d, 'true')}"
        if not d.frontier_in_process
        else f"INSERT INTO frontier_runs SELECT {d.batch_of('id')}, model_name, project, tags, "
        f"id, f1, {FRONTIER_AXES['total_cost']}, latency_ms FROM calculations "
        "WHERE deleted_at IS NULL",
    )
    # A team's pricing (issue #33): each change kept with who and when; the newest holds.
    steps[8] = (
        "ALTER TABLE cost_assumptions ADD COLUMN price_discount DOUBLE",
        *(f"ALTER TABLE cost_assumptions ADD COLUMN {name} {kind}" for name, kind in BOOK_COLUMNS),
        """
        CREATE TABLE team_pricing (
            set_at     TIMESTAMP NOT NULL,
            set_by     VARCHAR NOT NULL,
            provider   VARCHAR,
            spot       BOOLEAN NOT NULL,
            discount   DOUBLE NOT NULL,
            gpu_prices VARCHAR NOT NULL
        )
        """,
    )
    # The run in production for a model or a project (issue #37): every mark and unmark kept
    # with who, when and a note; the newest for a scope holds.
    steps[9] = (
        """
        CREATE TABLE production_marks (
            marked_at  TIMESTAMP NOT NULL,
            marked_by  VARCHAR NOT NULL,
            scope_kind VARCHAR NOT NULL,
            scope      VARCHAR NOT NULL,
            side       VARCHAR,
            note       VARCHAR
        )
        """,
    )
    # The quality metric a batch's runs are scored on (issue #35): NULL (every batch saved
    # before) is F1. The history view shows it on each run.
    steps[10] = (
        "ALTER TABLE batches ADD COLUMN metric VARCHAR",
        "DROP VIEW history",
        f"""
        CREATE VIEW history AS
        SELECT c.*, b.batch_no, b.author, b.source, b.currency, b.file_name, b.saved_at,
               coalesce(b.metric, 'f1') AS metric
        FROM calculations c JOIN batches b ON b.batch_no = {d.batch_of("c.id")}
        """,
    )
    # The energy a run used, where measured (issue #36).
    steps[11] = tuple(
        f"ALTER TABLE cost_assumptions ADD COLUMN {name} {kind}" for name, kind in ENERGY_COLUMNS
    )
    # Alerts (issue #37): every event once (its key), pending until a webhook took it.
    steps[12] = (
        """
        CREATE TABLE alert_log (
            event_key  VARCHAR PRIMARY KEY,
            kind       VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            payload    VARCHAR NOT NULL,
            status     VARCHAR NOT NULL,
            attempts   INTEGER NOT NULL,
            last_error VARCHAR,
            sent_at    TIMESTAMP
        )
        """,
    )
    # What DuckDB finds by scanning its zone maps, a row store finds through indexes.
    steps[6] += d.indexes()
    steps[7] += d.frontier_indexes()
    return {v: tuple(d.ddl(s) for s in statements) for v, statements in steps.items()}


#: The migrations of the embedded DuckDB file.
MIGRATIONS = migrations(DUCKDB)
SCHEMA_VERSION = max(MIGRATIONS)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Schema(Connection):
    """Schema version, migrations and the integrity check (mixed into ``Store``)."""

    def integrity(self) -> dict[str, int]:
        """Counts; how many batches do not hold exactly the rows they recorded, and how
        many (batch, day) groups of the rollup do not sum up the live rows they stand for
        (both 0 in a consistent database: each is written in one transaction with the rows)."""
        batch = self.sql.batch_of("id")
        with self.cursor() as cur:
            row = cur.execute(
                f"WITH found AS (SELECT {batch} AS batch_no, count(*) AS n FROM calculations "
                f"GROUP BY {batch}) SELECT count(*), "
                "CAST(coalesce(sum(b.row_count), 0) AS BIGINT), "
                "count(*) FILTER (WHERE b.row_count IS DISTINCT FROM coalesce(f.n, 0)) "
                "FROM batches b LEFT JOIN found f USING (batch_no)"
            ).fetchone()
            orphans = cur.execute(
                f"SELECT count(*) FROM calculations WHERE {batch} NOT IN "
                "(SELECT batch_no FROM batches)"
            ).fetchone()
            # The rollup against the rows it sums up: runs per batch and day.
            rollup_off = cur.execute(
                f"WITH live AS (SELECT {batch} AS batch_no, "
                "CAST(created_at AS DATE) AS day, count(*) AS n FROM calculations "
                f"WHERE deleted_at IS NULL GROUP BY {batch}, CAST(created_at AS DATE)), "
                "rolled AS (SELECT batch_no, day, sum(runs) AS n FROM rollup "
                "GROUP BY batch_no, day) "
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

    def _known_version(self, cur: Any) -> int | None:
        """The schema version recorded, or None before the version table exists."""
        known = cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone()
        if not (known and known[0]):
            return None
        row = cur.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def schema_version(self) -> int:
        with self.cursor() as cur:
            return self._known_version(cur) or 0

    def _refuse_another_applications_database(self) -> None:
        """A database without mlprod's version table that holds tables is another
        application's: refused, untouched (a DuckDB file with any table; on a server, one
        whose tables share a name with ours, since a server database may hold others)."""
        with self.cursor() as cur:
            found = {
                str(name)
                for (name,) in cur.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                ).fetchall()
            }
        if "schema_version" in found:
            return  # another process has just made it ours (servers: processes start at once)
        clash = found if self.backend == "duckdb" else found & OUR_TABLES
        if clash:
            shown = ", ".join(sorted(clash)[:5]) + (", …" if len(clash) > 5 else "")
            raise DatabaseError(
                f"{self.database} is not an mlprod history: it holds another application's "
                f"tables ({shown}) and no mlprod schema version. Point MLPROD_DB at an mlprod "
                "history, or at a new path to create one; the database was left untouched."
            )

    def migrate(self) -> int:
        """Apply every migration newer than the database; returns the version reached.

        Each runs in its own transaction. On a server, processes starting at once take
        turns (an advisory lock held by the transaction): the first applies a migration,
        the others find it recorded and skip it.
        """
        current = self.schema_version()
        if not current:
            self._refuse_another_applications_database()
        if current > SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.database} was written by a newer mlprod (schema version {current}; "
                f"this one knows up to {SCHEMA_VERSION}). Upgrade mlprod; the database was "
                "left untouched."
            )
        pending = [v for v in sorted(MIGRATIONS) if v > current]
        if pending and self.read_only:
            raise DatabaseReadOnly(
                f"{self.database} is read-only and was written by an older mlprod (schema "
                f"version {current}); it needs an upgrade to version {SCHEMA_VERSION}. Make "
                "it writable once so mlprod can upgrade it; the file was left untouched."
            )
        steps = migrations(self.sql) if pending else {}
        for version in pending:
            with self.transaction() as cur:
                self.sql.lock_schema(cur)
                found = self._known_version(cur)
                if found is None:
                    cur.execute(
                        "CREATE TABLE schema_version "
                        "(version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
                    )
                elif found >= version:
                    continue  # another process applied it while this one waited
                for statement in steps[version]:
                    cur.execute(statement)
                cur.execute("INSERT INTO schema_version VALUES (?, ?)", [version, utc_now()])
        return max(current, SCHEMA_VERSION)
