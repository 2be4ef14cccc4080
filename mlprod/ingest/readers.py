"""Readers: the rows of a file as Arrow record batches, given the file's facts.

A reader takes :class:`FileFacts` (what :func:`~mlprod.ingest.inspection.inspect` found out:
path, kind, encoding, delimiter, decimal mark, columns), never the whole inspection.
Files are streamed in blocks so memory stays flat on large files; a file that fits in
memory is read whole on every core.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlprod.errors import BadFile

__all__ = ["BATCH_ROWS", "DEFAULT_BLOCK_BYTES", "WHOLE_FILE_BYTES", "FileFacts", "record_batches"]

DEFAULT_BLOCK_BYTES = 4 << 20  # pyarrow's streaming reader holds many blocks at once
#: The block a streamed read is retried with when one row is longer than a block.
LONG_ROW_BLOCK_BYTES = 64 << 20
BATCH_ROWS = 128 * 1024
# Files up to this size are parsed in one go on every core; larger ones are streamed.
WHOLE_FILE_BYTES = 256 << 20


@dataclass(frozen=True)
class FileFacts:
    """What a reader needs to know about a file of runs."""

    path: Path
    kind: str  # "csv" or "parquet"
    size: int
    encoding: str  # "utf-8", "latin-1" ("binary" for Parquet)
    delimiter: str
    columns: tuple[str, ...]
    decimal: str = "."  # "," when the file writes 0,9 for 0.9


def is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def gzipped(path: Path) -> bool:
    with path.open("rb") as fh:
        return is_gzip(fh.read(2))


# -- turning text into values --------------------------------------------------------------


def open_csv(
    path: Path,
    encoding: str,
    delimiter: str,
    column_types: dict[str, pa.DataType],
    *,
    include: list[str] | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    on_ragged: Callable[[Any], str] | None = None,
    use_threads: bool = True,
) -> pacsv.CSVStreamingReader:
    compression = "gzip" if gzipped(path) else None
    return pacsv.open_csv(
        pa.input_stream(str(path), compression=compression),
        read_options=pacsv.ReadOptions(
            block_size=block_bytes,
            encoding="latin1" if encoding == "latin-1" else "utf8",
            use_threads=use_threads,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_ragged
        ),
        convert_options=_convert_options(column_types, include),
    )


def _convert_options(
    column_types: dict[str, pa.DataType], include: list[str] | None
) -> pacsv.ConvertOptions:
    # Only an empty cell is null: "NA", "nan" and "-" stay text so each gets its own reason.
    return pacsv.ConvertOptions(
        column_types=column_types,
        include_columns=include,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )


class RowTooLong(BadFile):
    """One row of a streamed file is longer than the read's block."""


def record_batches(
    facts: FileFacts,
    columns: list[str],
    numeric: set[str],
    block_bytes: int,
    on_ragged: Callable[[Any], str],
    stream: bool = False,
) -> Iterator[pa.RecordBatch]:
    """The ``columns`` of a file as record batches of about :data:`BATCH_ROWS` rows, text
    (``numeric`` ones may come as numbers); a row that cannot be split into fields goes to
    ``on_ragged``. ``stream=True`` reads block by block even when the file would fit."""
    if facts.kind == "parquet":
        parquet = pq.ParquetFile(facts.path)
        try:
            yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)
        except (OSError, pa.ArrowException) as exc:  # a corrupt page, a truncated file
            raise BadFile(
                f"{facts.path.name} is a damaged Parquet file ({exc}); nothing of it was "
                "stored. Export it again."
            ) from None
        return
    fits = facts.size <= WHOLE_FILE_BYTES and not gzipped(facts.path)
    if fits and not stream:
        yield from _read_whole(facts, columns, numeric, on_ragged)
        return
    reader = open_csv(
        facts.path,
        facts.encoding,
        facts.delimiter,
        {c: pa.string() for c in columns},
        include=columns,
        block_bytes=block_bytes,
        on_ragged=on_ragged,
        use_threads=False,  # so a skipped row knows its line number; no slower here
    )
    pending: list[pa.RecordBatch] = []
    rows = 0
    try:
        for batch in reader:  # small blocks keep the reader's memory low; score bigger ones
            pending.append(batch)
            rows += batch.num_rows
            if rows >= BATCH_ROWS:
                yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
                pending, rows = [], 0
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):  # pyarrow: "straddling object straddles two block ..."
            raise RowTooLong(
                f"{facts.path.name} has a row longer than {block_bytes / 1e6:,.0f} MB (a very "
                "long cell); rows that long cannot be read. Shorten that cell."
            ) from None
        raise BadFile(f"{facts.path.name} stopped being readable as CSV: {exc}") from None
    except OSError as exc:
        raise BadFile(f"{facts.path.name} could not be read to the end: {exc}") from None
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _read_whole(
    facts: FileFacts,
    columns: list[str],
    numeric: set[str],
    on_ragged: Callable[[Any], str],
) -> Iterator[pa.RecordBatch]:
    """Read a file that fits in memory with every core, then hand it out in blocks.

    Number columns are parsed as numbers straight away (no strings to allocate and cast);
    a column holding something else ("NA", "1,234.5", "'-5") is read again as text and
    cleaned cell by cell later.
    """
    typed = numeric if facts.decimal == "." else set()  # "1.000" is 1000 there
    types = {c: pa.float64() if c in typed else pa.string() for c in columns}
    read = pacsv.ReadOptions(
        encoding="latin1" if facts.encoding == "latin-1" else "utf8",
        block_size=16 << 20,  # big blocks: each becomes one insert, and small ones cost more
    )
    seen: list[Any] = []

    def note(row: Any) -> str:
        seen.append(row)
        return "skip"

    parse = pacsv.ParseOptions(
        delimiter=facts.delimiter, newlines_in_values=True, invalid_row_handler=note
    )
    while True:
        convert = _convert_options(types, columns)
        try:
            table = pacsv.read_csv(
                facts.path, read_options=read, parse_options=parse, convert_options=convert
            )
            break
        except pa.ArrowInvalid as exc:
            dirty = re.match(r"In CSV column #(\d+): CSV conversion error", str(exc))
            column = facts.columns[int(dirty.group(1))] if dirty else None
            if column is None or types.get(column) == pa.string():
                raise BadFile(f"{facts.path.name} cannot be read as CSV: {exc}") from None
            types[column] = pa.string()
            seen.clear()
    if seen:  # the parallel reader cannot tell their line numbers: read again in order
        read.use_threads = False
        parse.invalid_row_handler = on_ragged
        table = pacsv.read_csv(
            facts.path, read_options=read, parse_options=parse, convert_options=convert
        )
    yield from table.to_batches(max_chunksize=BATCH_ROWS)
