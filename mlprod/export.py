"""Bytes out: formula-safe CSV (OWASP CSV injection) and, later, chart images.

Text cells that begin with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a
leading ``'`` so a spreadsheet shows them as text instead of running them. Numeric columns
are never touched: ``-5`` stays a number.
"""

from __future__ import annotations

import io
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

if TYPE_CHECKING:  # pandas is loaded only for a DataFrame (`score` to a file needs none)
    import pandas as pd

__all__ = ["CsvOut", "ParquetOut", "csv_bytes", "for_csv", "formula_safe", "scored_out"]

_DANGEROUS_START = r"^([=+\-@\t\r])"


_DANGEROUS_FIRST = pa.array(["=", "+", "-", "@", "\t", "\r"])


def _risky(column: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any cell begins with a dangerous character: a first-character lookup is ~3x
    cheaper than the regex replace, which then runs only where it changes something."""
    first = pc.utf8_slice_codeunits(column, 0, 1)
    return bool(pc.any(pc.is_in(first, value_set=_DANGEROUS_FIRST)).as_py())


def formula_safe(table: pa.Table | pd.DataFrame) -> pa.Table:
    """The table with every risky text cell prefixed by ``'``.

    >>> t = formula_safe(pa.table({"name": ["=1+1", "ok", "-x"], "n": [-5.0, 1.0, 2.0]}))
    >>> t.to_pydict()
    {'name': ["'=1+1", 'ok', "'-x"], 'n': [-5.0, 1.0, 2.0]}
    """
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    columns = []
    for column in table.columns:
        if (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and (
            _risky(column)
        ):
            column = pc.replace_substring_regex(
                column, pattern=_DANGEROUS_START, replacement=r"'\1"
            )
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


#: Headers a spreadsheet reader could misread, said as what they hold: the hours a run's
#: GPUs each ran (a reviewer multiplying "GPU hours" by the price got the cost wrong).
CSV_HEADERS = {"gpu_hours": "hours_per_gpu"}


def for_csv(table: pa.Table | pd.DataFrame) -> pa.Table:
    """:func:`formula_safe`, and no number that is not one: a ratio a bad row has no value
    for is an empty cell, not ``nan`` (spreadsheets show that as text). Hours per GPU are
    headed so, followed by the GPU-hours they make (GPUs × hours).

    >>> for_csv(pa.table({"cer": [0.5, float("nan")]})).to_pydict()
    {'cer': [0.5, None]}
    >>> for_csv(pa.table({"gpu_count": [8.0], "gpu_hours": [2.5]})).to_pydict()
    {'gpu_count': [8.0], 'hours_per_gpu': [2.5], 'gpu_hours_total': [20.0]}
    """
    table = formula_safe(table)
    columns, names = [], []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_floating(column.type):
            nan = pc.is_nan(column)
            if pc.any(nan).as_py():
                column = pc.if_else(nan, pa.scalar(None, column.type), column)
        columns.append(column)
        names.append(CSV_HEADERS.get(name, name))
        if name == "gpu_hours" and "gpu_count" in table.column_names:
            columns.append(pc.multiply(table["gpu_count"], column))
            names.append("gpu_hours_total")
    return pa.Table.from_arrays(columns, names=names)


def csv_bytes(table: pa.Table | pd.DataFrame) -> bytes:
    """A formula-safe CSV file (UTF-8, header, comma separated) as bytes."""
    buffer = io.BytesIO()
    pacsv.write_csv(for_csv(table), buffer)
    return buffer.getvalue()


class CsvOut:
    """Write formula-safe CSV block by block (for files too large to hold at once); a
    path ending in ``.gz`` is written gzip-compressed."""

    def __init__(self, sink: str | IO[bytes], *, gzip: bool | None = None) -> None:
        if gzip is None:
            gzip = isinstance(sink, str) and sink.lower().endswith(".gz")
        self._stream = pa.output_stream(sink, compression="gzip") if gzip else None
        self._sink = self._stream if self._stream is not None else sink
        self._writer: pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        safe = for_csv(table)
        if self._writer is None:
            self._writer = pacsv.CSVWriter(self._sink, safe.schema)
        self._writer.write_table(safe)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._stream is not None:
            self._stream.close()


class ParquetOut:
    """Write a Parquet file (zstd) block by block; the types stay (no formulas to escape)."""

    def __init__(self, sink: str | IO[bytes]) -> None:
        self._sink = sink
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self._sink, table.schema, compression="zstd")
        self._writer.write_table(table.cast(self._writer.schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def scored_out(sink: str | IO[bytes], *, name: str | None = None) -> CsvOut | ParquetOut:
    """The writer for a scored file, by its name (``name``, else the sink's): Parquet for
    ``.parquet``, gzip CSV for ``.csv.gz``, CSV otherwise (and for a stream such as stdout).

    >>> type(scored_out("runs.scored.parquet")).__name__, type(scored_out("x.csv")).__name__
    ('ParquetOut', 'CsvOut')
    """
    name = (name or (sink if isinstance(sink, str) else "")).lower()
    if isinstance(sink, str) and name.endswith(".parquet"):
        return ParquetOut(sink)
    return CsvOut(sink, gzip=isinstance(sink, str) and name.endswith(".gz"))


def png_bytes(chart: Any, *, scale: float = 2.0) -> bytes:
    """The chart as a PNG rendered on the server (vl-convert), ``scale`` x its CSS size."""
    import vl_convert as vlc

    return bytes(vlc.vegalite_to_png(_spec(chart), scale=scale))


def card_png(chart: Any, *, size: tuple[int, int] = (1280, 720), scale: float = 2.0) -> bytes:
    """A PNG of exactly ``size`` x ``scale`` pixels: the chart, shrunk to fit if needed,
    on a white canvas — what a slide placeholder expects."""
    from PIL import Image

    rendered = Image.open(io.BytesIO(png_bytes(chart, scale=scale))).convert("RGB")
    width, height = int(size[0] * scale), int(size[1] * scale)
    if rendered.width > width or rendered.height > height:
        rendered.thumbnail((width, height), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(rendered, ((width - rendered.width) // 2, (height - rendered.height) // 2))
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def svg_text(chart: Any) -> str:
    """The chart as SVG text rendered on the server (vl-convert)."""
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(_spec(chart)))


def warm_up() -> bytes:
    """Render a one-dot chart: the first PNG of a process starts vl-convert's JavaScript
    engine and loads PIL, which a person's first Download PNG then does not wait
    for. Returns the PNG.

    >>> warm_up()[1:4]  # a PNG's signature
    b'PNG'
    """
    from PIL import Image  # noqa: F401  (card_png needs it)

    dot = {"mark": "point", "width": 20, "height": 20, "data": {"values": [{}]}}
    return png_bytes(dot, scale=1)


def _spec(chart: Any) -> dict[str, Any]:
    return chart if isinstance(chart, dict) else chart.to_dict()
