"""The few places where DuckDB's SQL and PostgreSQL's differ, in one module.

Every query of the store is written once, in SQL both databases run (explicit ``GROUP
BY``, column lists instead of ``* EXCLUDE``, subqueries instead of ``QUALIFY``), with
``?`` placeholders; what cannot be written the same way comes from a :class:`Dialect`:
the batch a calculation id belongs to, "the id at the maximum", tag lists, time buckets,
the scatter sample and column types. PostgreSQL's placeholders (``$1``, ``$2``, ...) are
made from the ``?`` at run time (:func:`numbered_placeholders`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DUCKDB",
    "POSTGRES",
    "ROWS_PER_BATCH",
    "Dialect",
    "literal_pattern",
    "numbered_placeholders",
]

# A calculation's id is its batch number times this plus its row in the batch: ids are
# unique and ordered without a per-row sequence call (run.py's ``store_only``).
ROWS_PER_BATCH = 1_000_000_000

_GROUP_TAG = "(?:^|, )group=([^,]+)"
# Day and week buckets by integer arithmetic on microseconds (date_trunc does calendar work
# per row: history.py's trend). 1970-01-01 was a Thursday: shift 3 days so
# weeks start on Monday.
_DAY_US, _WEEK_US, _MONDAY_SHIFT_US = 86_400_000_000, 604_800_000_000, 259_200_000_000


class Dialect:
    """DuckDB's SQL (the embedded default); :class:`_Postgres` overrides what differs."""

    name = "duckdb"
    #: Rows are copied to a server block by block (COPY), each block's rollup and
    #: frontier runs with them; DuckDB inserts from Arrow and sums up in SQL afterwards.
    copies_blocks = False
    #: A frontier is found by an in-process DuckDB and copied in: a server's planner
    #: gave up on ``frontier_select`` past a few hundred thousand runs (postgres.py).
    frontier_in_process = False

    def arrow(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """A query's answer as Arrow (from DuckDB through a relation: no DB-API copy)."""
        return cur.sql(sql, params=list(params)).to_arrow_table()

    def frontier_indexes(self) -> tuple[str, ...]:
        return ()

    def batch_of(self, column: str) -> str:
        """The batch number of a calculation id (integer division)."""
        return f"{column} // {ROWS_PER_BATCH}"

    def arg_max(self, value: str, by: str) -> str:
        """The id ``value`` of the row where ``by`` is largest (an aggregate)."""
        return f"arg_max({value}, {by})"

    def arg_min(self, value: str, by: str) -> str:
        return f"arg_min({value}, {by})"

    def latest(self, value: str, by: str) -> str:
        """``value`` (any type) of the row where ``by`` is largest; for ids use
        :meth:`arg_max`."""
        return f"arg_max({value}, {by})"

    def distinct_values(self, column: str) -> str:
        """About how many distinct values ``column`` has (an aggregate; DuckDB's estimate
        is one cheap pass)."""
        return f"approx_count_distinct({column})"

    def minimum_per_group(self, key: str, measures: dict[str, str], where: str) -> str:
        """Per value of ``key`` among ``calculations c`` rows matching ``where``: for each
        ``name: expression`` of ``measures``, its minimum (``name``) and the id of a row
        that has it (``name_id``); one scan."""
        picks = [
            f"min({expr}) AS {x}, {self.arg_min('id', expr)} AS {x}_id"
            for x, expr in measures.items()
        ]
        return f"SELECT {key}, {', '.join(picks)} FROM calculations c WHERE {where} GROUP BY {key}"

    def tag_list(self, column: str) -> str:
        """Tags stored as ``"a, b, c"``, as a list."""
        return f"string_split({column}, ', ')"

    def has_any_tag(self, column: str) -> str:
        """Whether the row has any of the tags given as one list parameter."""
        return f"list_has_any({self.tag_list(column)}, ?::VARCHAR[])"

    def group_tag(self, column: str) -> str:
        """The NAME of a ``group=NAME`` tag ('' or NULL when there is none)."""
        return f"regexp_extract({column}, '{_GROUP_TAG}', 1)"

    def holds_text(self, columns: tuple[str, ...]) -> str:
        """Whether any of ``columns`` holds the text of one :func:`literal_pattern`
        parameter per column, case-insensitively (the same in both databases)."""
        return "(" + " OR ".join(f"{c} ILIKE ? ESCAPE '\\'" for c in columns) + ")"

    def bucket(self, kind: str, column: str = "created_at") -> str:
        """The start of the day, week (from Monday) or month a timestamp is in."""
        if kind == "day":
            return f"make_timestamp(epoch_us({column}) // {_DAY_US} * {_DAY_US})"
        if kind == "week":
            return (
                f"make_timestamp((epoch_us({column}) + {_MONDAY_SHIFT_US}) // {_WEEK_US} "
                f"* {_WEEK_US} - {_MONDAY_SHIFT_US})"
            )
        return f"date_trunc('month', {column})"

    def table_rows(self) -> str:
        """An estimate of the calculations table's size, cheap at any size."""
        return "SELECT estimated_size FROM duckdb_tables() WHERE table_name = 'calculations'"

    def sample(self, select: str, where: str, share: float, limit: int) -> str:
        """About ``limit`` rows of ``select`` (columns of ``calculations c``) matching
        ``where``, drawn from roughly ``share`` of the table's blocks: block sampling
        reads only the sampled vectors, then a reservoir keeps ``limit`` of them."""
        return (
            f"SELECT * FROM (SELECT {select} FROM calculations c TABLESAMPLE "
            f"{100 * share:.6f}% (system, 7) WHERE {where}) "
            f"USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE (7)"
        )

    def row_sample(self, select: str, where: str, share: float) -> str:
        """Rows of ``select`` matching ``where``, each kept with probability ``share``
        (repeatably); the caller adds ``LIMIT ?``."""
        return (
            f"SELECT {select} FROM calculations c TABLESAMPLE "
            f"{min(100.0, 100 * share):.6f}% (bernoulli, 7) WHERE {where} LIMIT ?"
        )

    def ddl(self, statement: str) -> str:
        """A schema statement as this database spells its types."""
        return statement

    def indexes(self) -> tuple[str, ...]:
        """Indexes this database needs for the store's queries (DuckDB: none; its zone
        maps prune the id ranges and dates)."""
        return ()

    def lock_schema(self, cur: Any) -> None:
        """Inside a migration's transaction: wait for any other process migrating (one
        process per DuckDB file: nothing to wait for)."""

    def lock_batches(self, cur: Any, batches: list[int]) -> None:
        """Inside a delete's or restore's transaction: wait for any other transaction
        recounting these batches (DuckDB's optimistic check refuses the second writer of
        a rollup row instead: retried by the caller)."""


class _Postgres(Dialect):
    name = "postgresql"
    copies_blocks = True
    frontier_in_process = True

    def arrow(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return cur.execute(sql, params).arrow()

    def frontier_indexes(self) -> tuple[str, ...]:
        return ("CREATE INDEX frontier_runs_batch ON frontier_runs (batch_no)",)

    def batch_of(self, column: str) -> str:
        return f"{column} / {ROWS_PER_BATCH}"  # BIGINT / BIGINT divides whole numbers

    def arg_max(self, value: str, by: str) -> str:
        # No arg_max in PostgreSQL: the largest [by, id] pair (arrays compare element by
        # element) is one pass of a hash aggregate, where array_agg(... ORDER BY) sorted
        # every group (postgres.py). Ids stay exact as doubles below 2**53.
        return f"CAST((max(ARRAY[CAST({by} AS DOUBLE PRECISION), {value}]))[2] AS BIGINT)"

    def arg_min(self, value: str, by: str) -> str:
        return f"CAST((min(ARRAY[CAST({by} AS DOUBLE PRECISION), {value}]))[2] AS BIGINT)"

    def latest(self, value: str, by: str) -> str:
        return f"(array_agg({value} ORDER BY {by} DESC))[1]"

    def distinct_values(self, column: str) -> str:
        return f"count(DISTINCT {column})"  # no estimate built in

    def tag_list(self, column: str) -> str:
        return f"string_to_array({column}, ', ')"

    def has_any_tag(self, column: str) -> str:
        return f"{self.tag_list(column)} && ?::TEXT[]"

    def group_tag(self, column: str) -> str:
        return f"substring({column} from '{_GROUP_TAG}')"

    def bucket(self, kind: str, column: str = "created_at") -> str:
        return f"date_trunc('{kind}', {column})"  # PostgreSQL's weeks start on Monday

    def table_rows(self) -> str:
        return (
            "SELECT CAST(greatest(reltuples, 0) AS BIGINT) FROM pg_class "
            "WHERE oid = 'calculations'::regclass"
        )

    def sample(self, select: str, where: str, share: float, limit: int) -> str:
        return (
            f"SELECT {select} FROM calculations c TABLESAMPLE SYSTEM ({100 * share:.6f}) "
            f"REPEATABLE (7) WHERE {where} ORDER BY hashint8(c.id) LIMIT {int(limit)}"
        )

    def row_sample(self, select: str, where: str, share: float) -> str:
        return (
            f"SELECT {select} FROM calculations c TABLESAMPLE BERNOULLI "
            f"({min(100.0, 100 * share):.6f}) REPEATABLE (7) WHERE {where} LIMIT ?"
        )

    def ddl(self, statement: str) -> str:
        return re.sub(r"\bDOUBLE\b(?! PRECISION)", "DOUBLE PRECISION", statement)

    def indexes(self) -> tuple[str, ...]:
        # No index on created_at: kept up by every COPY (rows of a batch land all over
        # it), it cost more than the rest of the save (postgres.py).
        return (
            "CREATE INDEX calculations_id ON calculations (id)",
            # Deleted runs are few: a partial index is not touched by a save.
            "CREATE INDEX calculations_deleted ON calculations (created_at DESC, id DESC) "
            "WHERE deleted_at IS NOT NULL",
            "CREATE INDEX f1_inputs_id ON f1_inputs (calculation_id)",
            "CREATE INDEX cost_assumptions_id ON cost_assumptions (calculation_id)",
            "CREATE INDEX deletions_id ON deletions (calculation_id)",
            "CREATE INDEX rollup_batch_day ON rollup (batch_no, day)",
        )

    def lock_schema(self, cur: Any) -> None:
        # Held until the transaction ends; the number is mlprod's own ("mlpr" in ASCII).
        cur.execute("SELECT pg_advisory_xact_lock(1835823218)").fetchall()

    def lock_batches(self, cur: Any, batches: list[int]) -> None:
        # Recounting a batch deletes its rollup groups and frontier runs and inserts them
        # again. Under READ COMMITTED a second recount of the same batch would not see
        # the first one's new rows and would leave both: the recounts of one batch take
        # turns (one lock per batch, taken in order: no deadlock), held until commit.
        cur.execute(
            "SELECT count(pg_advisory_xact_lock(1835823219, CAST(b % 2147483647 AS INTEGER))) "
            "FROM unnest(?::BIGINT[]) AS t(b)",
            [sorted(batches)],
        ).fetchall()


def literal_pattern(text: str) -> str:
    r"""A LIKE pattern for ``text`` anywhere, as typed: ``%``, ``_`` and ``\`` match only
    themselves (with ``ESCAPE '\'``, as :meth:`Dialect.holds_text` writes it).

    >>> print(literal_pattern("v1_0"), literal_pattern("100%"), literal_pattern("a\\b"))
    %v1\_0% %100\%% %a\\b%
    """
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


DUCKDB = Dialect()
POSTGRES = _Postgres()

_STRING_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?")


def numbered_placeholders(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``, ... (not inside string literals).

    >>> numbered_placeholders("SELECT ? WHERE x ~ '(?:a)' AND y IN (?, ?)")
    "SELECT $1 WHERE x ~ '(?:a)' AND y IN ($2, $3)"
    """
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _STRING_OR_MARK.sub(number, sql)
