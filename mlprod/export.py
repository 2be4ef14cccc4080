"""Bytes out: formula-safe CSV (OWASP CSV injection) and, later, chart images.

Text cells that begin with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a
leading ``'`` so a spreadsheet shows them as text instead of running them. Numeric columns
are never touched: ``-5`` stays a number.
"""

from __future__ import annotations

import io
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["CsvOut", "csv_bytes", "formula_safe"]

_DANGEROUS_START = r"^([=+\-@\t\r])"


def formula_safe(table: pa.Table | pd.DataFrame) -> pa.Table:
    """The table with every risky text cell prefixed by ``'``.

    >>> t = formula_safe(pa.table({"name": ["=1+1", "ok", "-x"], "n": [-5.0, 1.0, 2.0]}))
    >>> t.to_pydict()
    {'name': ["'=1+1", 'ok', "'-x"], 'n': [-5.0, 1.0, 2.0]}
    """
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.replace_substring_regex(
                column, pattern=_DANGEROUS_START, replacement=r"'\1"
            )
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def csv_bytes(table: pa.Table | pd.DataFrame) -> bytes:
    """A formula-safe CSV file (UTF-8, header, comma separated) as bytes."""
    buffer = io.BytesIO()
    pacsv.write_csv(formula_safe(table), buffer)
    return buffer.getvalue()


class CsvOut:
    """Write formula-safe CSV block by block (for files too large to hold at once)."""

    def __init__(self, sink: str | IO[bytes]) -> None:
        self._sink = sink
        self._writer: pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        safe = formula_safe(table)
        if self._writer is None:
            self._writer = pacsv.CSVWriter(self._sink, safe.schema)
        self._writer.write_table(safe)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
