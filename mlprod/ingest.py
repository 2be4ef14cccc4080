"""Files of runs in: dialect, encoding, column mapping, per-row parsing and scoring.

Reads our own CSVs, ``mlflow.search_runs()`` exports, the MLflow UI's "Download CSV",
W&B runs-table exports, ``.csv.gz`` and Parquet. A file that cannot be read at all raises
:class:`~mlprod.errors.BadFile`; a bad row never stops the others: it comes back with
``status == "error"``, its line number and the reason.

The work is columnar (pyarrow compute and numpy over whole record batches); files are
streamed in blocks so memory stays flat on large files.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlprod.costs import default_fx, default_prices
from mlprod.errors import BadFile
from mlprod.metrics import (
    LABELS,
    f1_arrays_from_counts,
    f1_arrays_from_precision_recall,
    score_arrays,
)

__all__ = [
    "FIELDS",
    "FIELD_LABELS",
    "OUTPUT_COLUMNS",
    "REQUIRED",
    "BatchSummary",
    "Inspection",
    "ScoredFile",
    "inspect",
    "normalize_header",
    "resolve_mapping",
    "score_file",
    "scored_batches",
]

NUMERIC_FIELDS = (
    "f1",
    "training_cost",
    "inference_cost",
    "training_hours",
    "latency_ms",
    "precision",
    "recall",
    "tp",
    "fp",
    "fn",
    "gpu_count",
)
#: Text columns every scored file carries (null when the file has none).
RUN_TEXT_FIELDS = ("run_id", "run_name", "model_name", "project", "tags", "notes")
TEXT_FIELDS = (*RUN_TEXT_FIELDS, "gpu_model")
FIELDS = (*NUMERIC_FIELDS, *TEXT_FIELDS, "created_at")
REQUIRED = ("f1", "training_cost", "inference_cost", "training_hours", "latency_ms")

#: Columns of a scored file, in order: where the row came from, its verdict, its values.
OUTPUT_COLUMNS = (
    "line",
    "status",
    "error",
    "run_id",
    "run_name",
    "model_name",
    "project",
    "tags",
    "notes",
    "created_at",
    "f1",
    "training_cost",
    "inference_cost",
    "training_hours",
    "latency_ms",
    "cer",
    "ter",
    "psr",
    "precision",
    "recall",
    "tp",
    "fp",
    "fn",
)

FIELD_LABELS = {
    **LABELS,
    "run_id": "Run id",
    "run_name": "Run name",
    "model_name": "Model name",
    "project": "Project",
    "tags": "Tags",
    "notes": "Notes",
    "created_at": "Date",
    "gpu_model": "GPU model",
    "gpu_count": "GPU count",
}

#: Normalised header names that mean each field (see :func:`normalize_header`).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "f1": ("f1", "f1_score", "f1score", "f_1", "val_f1", "valid_f1", "validation_f1",
           "test_f1", "eval_f1", "f1_macro", "macro_f1", "f_measure"),
    "training_cost": ("training_cost", "train_cost", "cost_training", "training_cost_usd",
                      "train_cost_usd", "training_spend"),
    "inference_cost": ("inference_cost", "infer_cost", "serving_cost", "inference_cost_usd",
                       "cost_inference", "prediction_cost"),
    "training_hours": ("training_hours", "train_hours", "training_time_hours", "training_time",
                       "train_time", "train_time_hours", "training_duration_hours", "hours"),
    "latency_ms": ("latency_ms", "latency", "inference_latency_ms", "inference_latency",
                   "p50_latency_ms", "latency_p50_ms", "avg_latency_ms", "mean_latency_ms"),
    "precision": ("precision", "val_precision", "test_precision"),
    "recall": ("recall", "val_recall", "test_recall"),
    "tp": ("tp", "true_positives"),
    "fp": ("fp", "false_positives"),
    "fn": ("fn", "false_negatives"),
    "run_id": ("run_id", "runid", "run_uuid", "id"),
    "run_name": ("run_name", "mlflow_runname", "name"),
    "model_name": ("model_name", "model", "model_id", "architecture", "arch"),
    "project": ("project", "project_name", "experiment", "experiment_name"),
    "tags": ("tags", "tag", "labels"),
    "notes": ("notes", "note", "description", "comment"),
    "created_at": ("created_at", "created", "start_time", "started_at", "timestamp", "date"),
    "gpu_model": ("gpu_model", "gpu", "gpu_type", "accelerator", "accelerator_type"),
    "gpu_count": ("gpu_count", "gpus", "num_gpus", "n_gpus", "gpu_num"),
}  # fmt: skip

# Prefixes trackers put before keys, best first for numbers (metrics) and for text.
_NUMERIC_PREFIXES = ("metrics.", "summary.", "", "params.", "config.", "tags.")
_TEXT_PREFIXES = ("", "params.", "tags.", "config.", "summary.", "metrics.")

FORMATS = {
    "mlprod": "mlprod columns",
    "mlflow": "MLflow search_runs / experiments csv export",
    "mlflow-ui": "MLflow UI 'Download CSV'",
    "wandb": "Weights & Biases runs table export",
    "parquet": "Parquet file",
}

_MISSING_TEXT = ("", "na", "n/a", "null", "none", "-", "#n/a", "nat")
_SPECIAL_NUMBERS = ("nan", "inf", "+inf", "-inf", "infinity", "-infinity", "+infinity")
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
_DOT_THOUSANDS = r"^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$"  # 1.234,5 where commas are decimal
# Decimal commas (Excel's CSV in much of Europe: "0,9", "1.234,5"): a cell is evidence of
# a decimal mark only when it cannot be read as a thousands separator ("1,234" proves
# nothing; "0,900", "12,5" and "1.234,5" do).
_NUMBER_LIKE = r"^[+-]?[\d.,]*\d[\d.,]*([eE][+-]?\d+)?$"
_COMMA_DECIMAL = r"^[+-]?(\d*,\d+|[1-9]\d{0,2}(\.\d{3})+,\d+)$"
_COMMA_GROUPED = r"^[+-]?[1-9]\d{0,2}(,\d{3})+$"
_DOT_DECIMAL = r"^[+-]?(\d*\.\d+([eE][+-]?\d+)?|[1-9]\d{0,2}(,\d{3})+\.\d+)$"
_DOT_GROUPED = r"^[+-]?[1-9]\d{0,2}(\.\d{3})+$"
_DURATION = r"^(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>ms|s|sec|min|m|h|hr|d)$"
_DURATION_HOURS = {"ms": 1 / 3_600_000, "s": 1 / 3600, "sec": 1 / 3600, "min": 1 / 60,
                   "m": 1 / 60, "h": 1.0, "hr": 1.0, "d": 24.0}  # fmt: skip
_SNIFF_BYTES = 64 * 1024
DEFAULT_BLOCK_BYTES = 4 << 20  # pyarrow's streaming reader holds many blocks at once
BATCH_ROWS = 128 * 1024
# Files up to this size are parsed in one go on every core; larger ones are streamed.
WHOLE_FILE_BYTES = 256 << 20


def normalize_header(name: str) -> str:
    """A header as matching sees it: lower case, no units in brackets, ``_`` separators.

    >>> [normalize_header(h) for h in (" F1 Score ", "Latency (ms)", "train-hours [h]")]
    ['f1_score', 'latency', 'train_hours']
    """
    text = re.sub(r"[\(\[][^\)\]]*[\)\]]", " ", name.strip().lower())
    return re.sub(r"[\s\-/.]+", "_", text).strip("_")


@dataclass(frozen=True)
class HoursFrom:
    """Where training hours come from when no column holds them."""

    kind: str  # "duration" (MLflow UI text), "seconds" (W&B Runtime), "span" (end - start)
    columns: tuple[str, ...]

    def describe(self) -> str:
        if self.kind == "duration":
            return f"from the duration in '{self.columns[0]}'"
        if self.kind == "seconds":
            return f"from the seconds in '{self.columns[0]}'"
        return f"from '{self.columns[1]}' minus '{self.columns[0]}'"


@dataclass
class Inspection:
    """What :func:`inspect` found out about a file, before anything is scored."""

    path: Path
    kind: str  # "csv" or "parquet"
    size: int
    encoding: str
    delimiter: str
    columns: list[str]
    format: str
    mapping: dict[str, str]
    hours_from: HoursFrom | None
    preview: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    decimal: str = "."  # "," when the file writes 0,9 for 0.9
    _hash: str | None = None

    @property
    def format_label(self) -> str:
        return FORMATS[self.format]

    def hash_meanwhile(self) -> Callable[[], str]:
        """Start computing :attr:`content_hash` on a thread of its own; returns the function
        that waits for it. hashlib releases the GIL, so a big file (60 MB: ~75 ms) is hashed
        while it is scored and stored instead of before."""
        if self._hash is not None:
            return lambda: self.content_hash
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlprod-hash")
        job = pool.submit(lambda: self.content_hash)
        pool.shutdown(wait=False)
        return job.result

    @property
    def content_hash(self) -> str:
        """SHA-256 of the file's bytes: the same upload twice has the same hash."""
        if self._hash is None:
            digest = hashlib.sha256()
            with self.path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            self._hash = digest.hexdigest()
        return self._hash

    def missing(self, mapping: Mapping[str, str] | None = None) -> list[str]:
        """Required fields that neither the mapping nor a derivation provides."""
        mapping = self.mapping if mapping is None else mapping
        missing = []
        has_f1 = "f1" in mapping or {"precision", "recall"} <= mapping.keys()
        if not (has_f1 or {"tp", "fp", "fn"} <= mapping.keys()):
            missing.append("f1")
        gpu_priced = {"gpu_model", "gpu_count"} <= mapping.keys()
        for name in REQUIRED[1:]:
            if name in mapping or (name == "training_hours" and self.hours_from):
                continue
            if name == "training_cost" and gpu_priced:
                continue  # priced from data/gpu_prices.csv
            missing.append(name)
        return missing


# -- finding out what a file is ------------------------------------------------------------


def _is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if _is_gzip(head):
        try:
            with gzip.open(path, "rb") as gz:
                return gz.read(_SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise BadFile(
                f"{path.name} looks gzip-compressed but cannot be opened: {exc}"
            ) from None
    return head


def _decode(head: bytes, name: str) -> tuple[str, str]:
    if b"\x00" in head:
        raise BadFile(
            f"{name} is not a text CSV file (it contains binary data). Export the runs as CSV "
            "(UTF-8) or Parquet."
        )
    try:
        # A multi-byte character may be cut at the end of the sample.
        return head.decode("utf-8-sig", errors="strict") if len(head) < _SNIFF_BYTES else (
            head[:-4].decode("utf-8-sig")
        ), "utf-8"
    except UnicodeDecodeError:
        text = head.decode("latin-1")
        if sum(not (c.isprintable() or c in "\r\n\t") for c in text) > len(text) // 20:
            raise BadFile(f"{name} is not a text CSV file (unreadable characters).") from None
        return text, "latin-1"


def _sniff_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in ",;\t|"}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _detect_format(columns: list[str], kind: str) -> str:
    names = set(columns)
    if {"Name", "State", "Runtime", "Created"} <= names:
        return "wandb"
    if {"Run ID", "Start Time", "Duration"} <= names:
        return "mlflow-ui"
    if "run_id" in names and any(c.startswith("metrics.") for c in columns):
        return "mlflow"
    return "parquet" if kind == "parquet" else "mlprod"


def _auto_mapping(columns: list[str]) -> dict[str, str]:
    by_key: dict[str, str] = {}
    for column in columns:
        prefix = next((p for p in ("metrics.", "params.", "tags.", "config.", "summary.")
                       if column.startswith(p)), "")  # fmt: skip
        by_key.setdefault(prefix + normalize_header(column[len(prefix) :]), column)
    mapping: dict[str, str] = {}
    for name, synonyms in SYNONYMS.items():
        prefixes = _NUMERIC_PREFIXES if name in NUMERIC_FIELDS else _TEXT_PREFIXES
        for prefix in prefixes:
            found = next((by_key[prefix + s] for s in synonyms if prefix + s in by_key), None)
            if found:
                mapping[name] = found
                break
    return mapping


def _hours_from(columns: list[str], fmt: str) -> HoursFrom | None:
    names = set(columns)
    if fmt == "mlflow-ui" and "Duration" in names:
        return HoursFrom("duration", ("Duration",))
    if fmt == "wandb" and "Runtime" in names:
        return HoursFrom("seconds", ("Runtime",))
    if {"start_time", "end_time"} <= names:
        return HoursFrom("span", ("start_time", "end_time"))
    return None


def inspect(
    path: str | Path, *, name: str | None = None, max_bytes: int | None = None
) -> Inspection:
    """Find the format, dialect and column mapping of a file of runs.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.csv.gz`` or ``.parquet`` file.
    name : str, optional
        The name to use in messages (an upload's original name).
    max_bytes : int, optional
        Refuse larger files.

    Raises
    ------
    BadFile
        Empty, header only, binary, duplicate headers, too large, or unparseable.
    """
    path = Path(path)
    name = name or path.name
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise BadFile(
            f"{name} is {size / 1e6:,.1f} MB; the limit is {max_bytes / 1e6:,.0f} MB. "
            "Split it, or score it with `python -m mlprod score`."
        )
    if size == 0:
        raise BadFile(f"{name} is empty.")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        return _inspect_parquet(path, name, size)

    text, encoding = _decode(_read_head(path), name)
    if not text.strip():
        raise BadFile(f"{name} is empty.")
    delimiter = _sniff_delimiter(text)
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error as exc:
        raise BadFile(f"{name} cannot be read as CSV: {exc}.") from None
    columns = list(header)
    _check_header(columns, name)
    notes = []
    if encoding == "latin-1":
        notes.append("Read as Latin-1 (the file is not UTF-8).")
    if delimiter != ",":
        notes.append(f"Columns are separated by {_DELIMITER_NAMES[delimiter]}.")
    preview, decimal = _preview_csv(path, name, encoding, delimiter, columns)
    if decimal == ",":
        notes.append("Numbers use a decimal comma (0,9 is read as 0.9; 1.234,5 as 1234.5).")
    fmt = _detect_format(columns, "csv")
    return Inspection(
        path=path,
        kind="csv",
        size=size,
        encoding=encoding,
        delimiter=delimiter,
        columns=columns,
        format=fmt,
        mapping=_auto_mapping(columns),
        hours_from=_hours_from(columns, fmt),
        preview=preview,
        notes=notes,
        decimal=decimal,
    )


_DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "pipes", ",": "commas"}


def _check_header(columns: list[str], name: str) -> None:
    if not columns or all(not c for c in columns):
        raise BadFile(f"{name} has no header row.")
    seen: dict[str, int] = {}
    for position, column in enumerate(columns, start=1):
        if column in seen:
            raise BadFile(
                f"{name} has the column '{column}' twice (columns {seen[column]} and "
                f"{position}). Rename one so it is clear which to use."
            )
        seen[column] = position


def _preview_csv(
    path: Path, name: str, encoding: str, delimiter: str, columns: list[str]
) -> tuple[pd.DataFrame, str]:
    """The first 20 rows, and the decimal mark the first block's numbers use."""
    try:
        try:  # 20 rows are shown: no need to parse megabytes (inspect: ~25 -> ~5 ms)
            reader = _open_csv(
                path, encoding, delimiter, {c: pa.string() for c in columns},
                block_bytes=1 << 18, on_ragged=lambda row: "skip",
            )  # fmt: skip
        except pa.ArrowInvalid:  # a row longer than the block (a W&B config, say)
            reader = _open_csv(
                path, encoding, delimiter, {c: pa.string() for c in columns},
                block_bytes=DEFAULT_BLOCK_BYTES, on_ragged=lambda row: "skip",
            )  # fmt: skip
        batch = reader.read_next_batch()
    except StopIteration:
        raise BadFile(f"{name} has a header but no rows of runs.") from None
    except pa.ArrowInvalid as exc:
        raise BadFile(f"{name} cannot be read as CSV: {exc}") from None
    if batch.num_rows == 0:
        raise BadFile(f"{name} has a header but no rows of runs.")
    return batch.slice(0, 20).to_pandas(), _decimal_mark(batch)


def _decimal_mark(batch: pa.RecordBatch) -> str:
    """ "," when the columns holding numbers write decimal commas and never a decimal point.

    >>> _decimal_mark(pa.record_batch({"f1": ["0,9", "0,85"], "cost": ["1.000", "12,5"]}))
    ','
    >>> _decimal_mark(pa.record_batch({"f1": ["0,9", "0.85"]}))  # mixed: points win
    '.'
    >>> _decimal_mark(pa.record_batch({"cost": ["1,234", "5,000"], "tags": ["1,5", "a"]}))
    '.'
    """
    comma = dot = 0
    for column in batch.columns:
        cells = _unescape(pc.cast(column, pa.string()))
        missing = pc.is_in(pc.utf8_lower(cells), pa.array([*_MISSING_TEXT, *_SPECIAL_NUMBERS]))
        cells = pc.drop_null(pc.if_else(missing, None, cells))
        if len(cells) == 0 or not pc.all(pc.match_substring_regex(cells, _NUMBER_LIKE)).as_py():
            continue  # text, not numbers (tags like "1,5" among words say nothing)
        comma += _evidence(cells, _COMMA_DECIMAL, _COMMA_GROUPED)
        dot += _evidence(cells, _DOT_DECIMAL, _DOT_GROUPED)
    return "," if comma and not dot else "."


def _evidence(cells: pa.Array, decimal: str, grouped: str) -> int:
    """Cells that read as a decimal number this way and cannot be a thousands group."""
    hits = pc.and_(
        pc.match_substring_regex(cells, decimal),
        pc.invert(pc.match_substring_regex(cells, grouped)),
    )
    return int(pc.sum(hits).as_py() or 0)


def _inspect_parquet(path: Path, name: str, size: int) -> Inspection:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadFile(f"{name} is not a readable Parquet file: {exc}") from None
    columns = list(parquet.schema_arrow.names)
    _check_header(columns, name)
    if parquet.metadata.num_rows == 0:
        raise BadFile(f"{name} has columns but no rows of runs.")
    preview = next(parquet.iter_batches(batch_size=20)).to_pandas()
    return Inspection(
        path=path,
        kind="parquet",
        size=size,
        encoding="binary",
        delimiter="",
        columns=columns,
        format="parquet",
        mapping=_auto_mapping(columns),
        hours_from=_hours_from(columns, "parquet"),
        preview=preview,
    )


# -- reading -------------------------------------------------------------------------------


def _open_csv(
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
    compression = "gzip" if _gzipped(path) else None
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


def _record_batches(
    inspection: Inspection,
    columns: list[str],
    numeric: set[str],
    block_bytes: int,
    on_ragged: Callable[[Any], str],
    stream: bool = False,
) -> Iterator[pa.RecordBatch]:
    if inspection.kind == "parquet":
        parquet = pq.ParquetFile(inspection.path)
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)
        return
    fits = inspection.size <= WHOLE_FILE_BYTES and not _gzipped(inspection.path)
    if fits and not stream:
        yield from _read_whole(inspection, columns, numeric, on_ragged)
        return
    reader = _open_csv(
        inspection.path,
        inspection.encoding,
        inspection.delimiter,
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
        raise BadFile(f"{inspection.path.name} stopped being readable as CSV: {exc}") from None
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _read_whole(
    inspection: Inspection,
    columns: list[str],
    numeric: set[str],
    on_ragged: Callable[[Any], str],
) -> Iterator[pa.RecordBatch]:
    """Read a file that fits in memory with every core, then hand it out in blocks.

    Number columns are parsed as numbers straight away (no strings to allocate and cast);
    a column holding something else ("NA", "1,234.5", "'-5") is read again as text and
    cleaned cell by cell later.
    """
    typed = numeric if inspection.decimal == "." else set()  # "1.000" is 1000 there
    types = {c: pa.float64() if c in typed else pa.string() for c in columns}
    read = pacsv.ReadOptions(
        encoding="latin1" if inspection.encoding == "latin-1" else "utf8",
        block_size=16 << 20,  # big blocks: each becomes one insert, and small ones cost more
    )
    seen: list[Any] = []

    def note(row: Any) -> str:
        seen.append(row)
        return "skip"

    parse = pacsv.ParseOptions(
        delimiter=inspection.delimiter, newlines_in_values=True, invalid_row_handler=note
    )
    while True:
        convert = _convert_options(types, columns)
        try:
            table = pacsv.read_csv(
                inspection.path, read_options=read, parse_options=parse, convert_options=convert
            )
            break
        except pa.ArrowInvalid as exc:
            dirty = re.match(r"In CSV column #(\d+): CSV conversion error", str(exc))
            column = inspection.columns[int(dirty.group(1))] if dirty else None
            if column is None or types.get(column) == pa.string():
                raise BadFile(f"{inspection.path.name} cannot be read as CSV: {exc}") from None
            types[column] = pa.string()
            seen.clear()
    if seen:  # the parallel reader cannot tell their line numbers: read again in order
        read.use_threads = False
        parse.invalid_row_handler = on_ragged
        table = pacsv.read_csv(
            inspection.path, read_options=read, parse_options=parse, convert_options=convert
        )
    yield from table.to_batches(max_chunksize=BATCH_ROWS)


def _gzipped(path: Path) -> bool:
    with path.open("rb") as fh:
        return _is_gzip(fh.read(2))


# -- turning text into values --------------------------------------------------------------


def _unescape(column: pa.Array) -> pa.Array:
    """Undo the MLflow UI's formula escaping ('=SUM -> =SUM) and trim spaces."""
    trimmed = pc.utf8_trim_whitespace(column)
    if not pc.any(pc.starts_with(trimmed, "'")).as_py():  # the regex is 10x the check
        return trimmed
    return pc.replace_substring_regex(trimmed, pattern=r"^'([=+\-@\t\r])", replacement=r"\1")


class _Problems:
    """The first problem of each row; messages are only ever built for bad rows."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self._message: np.ndarray | None = None

    def add(self, mask: np.ndarray, messages: Any) -> None:
        new = mask & ~self.bad
        if new.any():
            if self._message is None:
                self._message = np.full(len(self.bad), None, dtype=object)
            if isinstance(messages, str):
                self._message[new] = messages
            else:
                self._message[new] = np.asarray(messages, dtype=object)[new]
            self.bad |= new

    def column(self) -> pa.Array:
        """The messages as a string column, null for good rows."""
        n = len(self.bad)
        if self._message is None:
            return pa.nulls(n, pa.string())
        idx = np.flatnonzero(self.bad)
        return pc.replace_with_mask(
            pa.nulls(n, pa.string()), pa.array(self.bad), pa.array(self._message[idx].tolist())
        )


def _cast_clean(column: pa.Array) -> pa.Array | None:
    """Clean columns in one C-level cast; None when some cell needs a closer look."""
    try:
        return pc.cast(column, pa.float64())
    except pa.ArrowInvalid:
        return None


def _numbers(column: pa.Array, name: str, problems: _Problems, decimal: str = ".") -> np.ndarray:
    """Floats from a column of text or numbers; each bad cell gets a reason.

    ``decimal=","`` reads 0,9 as 0.9 and 1.234,5 as 1234.5 (see :func:`_decimal_mark`).
    """
    label = FIELD_LABELS[name]
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        if column.null_count:
            problems.add(np.asarray(column.is_null()), f"{label} is empty.")
        return np.asarray(values, dtype=np.float64)
    values = _cast_clean(column) if decimal == "." else None  # with ",": 1.000 is 1000
    if values is not None:
        if values.null_count == 0:
            return np.asarray(values.to_numpy(zero_copy_only=False))
        problems.add(
            np.asarray(values.is_null().to_numpy(zero_copy_only=False)), f"{label} is empty."
        )
        return np.asarray(values.fill_null(np.nan).to_numpy(zero_copy_only=False))
    text = _unescape(column)
    if decimal == ",":  # 1.234,5 -> 1234,5 -> 1234.5; a stray 1,234.5 becomes no number
        grouped = pc.match_substring_regex(text, _DOT_THOUSANDS)
        text = pc.if_else(grouped, pc.replace_substring(text, ".", ""), text)
        text = pc.replace_substring(text, ",", ".")
    lowered = pc.utf8_lower(text)
    empty = np.asarray(pc.fill_null(pc.is_in(lowered, pa.array(_MISSING_TEXT)), True))
    if decimal == ".":
        thousands = pc.fill_null(pc.match_substring_regex(text, _THOUSANDS), False)
        text = pc.if_else(thousands, pc.replace_substring(text, ",", ""), text)
    number = np.asarray(pc.fill_null(pc.match_substring_regex(text, _NUMBER), False))
    special = np.asarray(pc.fill_null(pc.is_in(lowered, pa.array(_SPECIAL_NUMBERS)), False))
    usable = number | special
    values = pc.cast(pc.if_else(pa.array(usable), text, pa.scalar(None, pa.string())), pa.float64())
    out = np.asarray(values.fill_null(np.nan).to_numpy(zero_copy_only=False))
    if empty.any():
        raw = np.asarray(column.to_pylist(), dtype=object)
        blank = np.asarray(column.is_null()) | (
            np.asarray(pc.fill_null(pc.utf8_length(text), 0)) == 0
        )
        problems.add(empty & blank, f"{label} is empty.")
        problems.add(
            empty & ~blank,
            np.array([f"{label} is '{v}': give a number." for v in raw], dtype=object)
            if (empty & ~blank).any() else "",
        )  # fmt: skip
    bad = ~usable & ~empty
    if bad.any():
        idx = np.flatnonzero(bad)
        raw_bad = column.take(pa.array(idx)).to_pylist()
        messages = np.full(len(out), None, dtype=object)
        messages[idx] = [_not_a_number(label, v) for v in raw_bad]
        problems.add(bad, messages)
    return out


def _not_a_number(label: str, value: Any) -> str:
    """Why a cell is no number; a decimal comma in a file of decimal points says so."""
    if isinstance(value, str) and re.fullmatch(_COMMA_DECIMAL, value.strip()):
        point = value.strip().replace(".", "").replace(",", ".")
        return (
            f"{label} '{_short(value)}' has a decimal comma, but this file's other numbers "
            f"use decimal points: write {point}."
        )
    return f"{label} '{_short(value)}' is not a number."


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _timestamps(column: pa.Array) -> pd.Series:
    """UTC timestamps (tz-naive) from ISO 8601-ish text; unreadable ones, and dates outside
    1900-2199 (a mangled year, e.g. "0014"), become NaT."""
    text = pd.Series(np.asarray(_unescape(column).to_pylist(), dtype=object))
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    stamps = parsed.dt.tz_localize(None).astype("datetime64[us]")
    sane = stamps.between(pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01"))
    return stamps.where(sane)


def _hours(
    batch: pa.RecordBatch, how: HoursFrom, problems: _Problems, decimal: str = "."
) -> np.ndarray:
    label = FIELD_LABELS["training_hours"]
    if how.kind == "seconds":
        seconds = _numbers(batch.column(how.columns[0]), "training_hours", problems, decimal)
        return seconds / 3600
    if how.kind == "duration":
        column = batch.column(how.columns[0])
        text = pc.utf8_lower(_unescape(column))
        parts = pc.extract_regex(text, _DURATION)
        value = pc.cast(pc.struct_field(parts, "value"), pa.float64())
        unit = pc.struct_field(parts, "unit")
        factor = pc.cast(pc.index_in(unit, pa.array(list(_DURATION_HOURS))), pa.int64()).to_numpy(
            zero_copy_only=False
        )
        factors = np.array(list(_DURATION_HOURS.values()))
        ok = np.asarray(parts.is_valid())
        hours = np.full(len(column), np.nan)
        hours[ok] = (
            np.asarray(value.to_numpy(zero_copy_only=False))[ok]
            * factors[factor[ok].astype(np.int64)]
        )
        if not ok.all():
            raw = column.to_pylist()
            problems.add(
                ~ok,
                np.array([f"{label}: '{how.columns[0]}' value '{_short(v)}' is not a duration "
                          "like 42.0s, 3.5min or 1.2h." for v in raw], dtype=object),
            )  # fmt: skip
        return hours
    start = _timestamps(batch.column(how.columns[0]))
    end = _timestamps(batch.column(how.columns[1]))
    span = ((end - start).dt.total_seconds() / 3600).to_numpy(dtype=np.float64, na_value=np.nan)
    problems.add(
        np.isnan(span), f"{label}: no hours column, and '{how.columns[0]}'/'{how.columns[1]}' "
        "do not both hold a date."
    )  # fmt: skip
    return span


def _text(column: pa.Array, name: str) -> pa.Array:
    text = _unescape(pc.cast(column, pa.string()))
    dash = pc.fill_null(pc.equal(text, "-"), False) if name == "notes" else None
    if dash is not None:  # W&B writes an empty note as "-"
        text = pc.if_else(dash, pa.scalar(None, pa.string()), text)
    empty = pc.equal(pc.binary_length(text), 0)  # from the offsets: no string is read
    if not pc.any(empty).as_py():
        return text
    return pc.if_else(empty, pa.scalar(None, pa.string()), text)


def _score_batch(
    batch: pa.RecordBatch,
    mapping: Mapping[str, str],
    hours_from: HoursFrom | None,
    lines: np.ndarray,
    currency: str = "USD",
    decimal: str = ".",
) -> pa.Table:
    n = batch.num_rows
    problems = _Problems(n)
    values: dict[str, np.ndarray] = {}
    for name in NUMERIC_FIELDS:
        if name in mapping:
            values[name] = _numbers(batch.column(mapping[name]), name, problems, decimal)
    if "training_hours" not in values and hours_from is not None:
        values["training_hours"] = _hours(batch, hours_from, problems, decimal)
    gpu_columns: dict[str, pa.Array] = {}
    if "training_cost" not in values and "gpu_model" in mapping and "training_hours" in values:
        values["training_cost"], gpu_columns = _gpu_training_cost(
            batch.column(mapping["gpu_model"]), values["gpu_count"], values["training_hours"],
            problems, default_fx().rate(currency),
        )  # fmt: skip
    if "f1" not in values:
        if "precision" in values and "recall" in values:
            f1, f1_error, _ = f1_arrays_from_precision_recall(values["precision"], values["recall"])
        else:
            f1, f1_error, _ = f1_arrays_from_counts(values["tp"], values["fp"], values["fn"])
        problems.add(np.not_equal(f1_error, None), f1_error)  # few rows: object compare ok
        values["f1"] = f1
    scored = score_arrays(*(values[name] for name in REQUIRED))
    problems.add(~scored.ok, scored.error)
    ok = ~problems.bad
    if (problems.bad & scored.ok).any():  # a row fine by the calculator's rules, bad here
        for ratio in (scored.cer, scored.ter, scored.psr):
            ratio[problems.bad] = np.nan
    out: dict[str, pa.Array] = {
        "line": pa.array(lines),
        "status": pc.if_else(pa.array(ok), "ok", "error"),
        "error": problems.column(),
    }
    for name in RUN_TEXT_FIELDS:  # gpu_model comes with the GPU pricing columns
        out[name] = (
            _text(batch.column(mapping[name]), name)
            if name in mapping
            else pa.nulls(n, pa.string())
        )
    if "created_at" in mapping:
        out["created_at"] = pa.array(_timestamps(batch.column(mapping["created_at"])))
    else:
        out["created_at"] = pa.nulls(n, pa.timestamp("us"))
    for name in REQUIRED:
        out[name] = pa.array(values[name])
    out["cer"] = pa.array(scored.cer)
    out["ter"] = pa.array(scored.ter)
    out["psr"] = pa.array(scored.psr)
    for name in ("precision", "recall", "tp", "fp", "fn"):
        out[name] = pa.array(values[name]) if name in values else pa.nulls(n, pa.float64())
    out.update(gpu_columns)  # only when the training cost was priced from GPUs
    return pa.table(out)


def _gpu_training_cost(
    gpu_models: pa.Array,
    counts: np.ndarray,
    hours: np.ndarray,
    problems: _Problems,
    fx_rate: float = 1.0,
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Training cost = GPUs × hours × the cheapest on-demand price in the price table
    (× ``fx_rate`` units of the batch's currency per US$); an unknown GPU is a row error
    naming the GPUs the table knows."""
    prices = default_prices()
    found = prices.hourly_prices(gpu_models)
    unknown = np.isnan(found["price"])
    if unknown.any():
        known = ", ".join(prices.models())
        names = np.asarray(gpu_models.to_pylist(), dtype=object)
        messages = np.full(len(names), None, dtype=object)
        messages[unknown] = [
            f"GPU '{name}' is not in the price table; known: {known}."
            if name
            else f"GPU model is empty; known: {known}."
            for name in names[unknown]
        ]
        problems.add(unknown, messages)
    price = found["price"] * fx_rate
    cost = counts * hours * price
    columns = {
        "gpu_model": _text(gpu_models, "gpu_model"),
        "gpu_count": pa.array(counts),
        "gpu_hours": pa.array(hours),
        "price_per_gpu_hour": pa.array(price),
        "price_kind": pa.array(np.where(unknown, None, "on-demand"), type=pa.string()),
        "price_provider": pa.array(found["provider"], type=pa.string()),
        "price_as_of": pa.array(found["as_of"], type=pa.date32()),
        "fx_rate": pa.array(np.full(len(price), fx_rate)),
    }
    return cost, columns


# -- the public entry points ---------------------------------------------------------------


def _ragged_table(rows: list[tuple[int | None, str]], schema: pa.Schema) -> pa.Table:
    """Rows that could not be split into fields, shaped like the scored blocks."""
    n = len(rows)
    table = {field.name: pa.nulls(n, field.type) for field in schema}
    table["line"] = pa.array([line for line, _ in rows], type=pa.int64())
    table["status"] = pa.array(["error"] * n)
    table["error"] = pa.array([reason for _, reason in rows])
    return pa.table(table, schema=schema)


def resolve_mapping(
    inspection: Inspection, overrides: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """The detected mapping with a person's corrections applied (``None`` unmaps a field).

    Raises
    ------
    BadFile
        An override names an unknown field or a column the file does not have, or a
        required field has no column.
    """
    mapping = dict(inspection.mapping)
    for name, column in (overrides or {}).items():
        if name not in FIELDS:
            raise BadFile(f"Unknown field '{name}'. Fields: {', '.join(FIELDS)}.")
        if column is None:
            mapping.pop(name, None)
        elif column not in inspection.columns:
            raise BadFile(
                f"There is no column '{column}' for {FIELD_LABELS[name]} in "
                f"{inspection.path.name}. Columns: {', '.join(inspection.columns)}."
            )
        else:
            mapping[name] = column
    missing = inspection.missing(mapping)
    if missing:
        wanted = ", ".join(f"{FIELD_LABELS[m]} ({m})" for m in missing)
        raise BadFile(
            f"No column found for {wanted}. Columns seen: {', '.join(inspection.columns)}. "
            f"Choose the column for each (e.g. --map {missing[0]}=COLUMN)."
        )
    return mapping


def scored_batches(
    inspection: Inspection,
    mapping: Mapping[str, str],
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: Callable[[int, int], None] | None = None,
    currency: str = "USD",
    stream: bool = False,
) -> Iterator[pa.Table]:
    """Score a file block by block, in input order; rows that cannot be split come last.

    Costs in the file are taken to be in ``currency``; GPU prices (US$) are converted to it.

    A file that fits in memory is read whole with every core, which scores it fastest.
    ``stream=True`` reads it block by block instead: when each block is stored as it
    comes, parsing the next block while DuckDB writes the last one wins (1M rows scored and
    stored: ~1.0 s instead of ~1.3 s).

    ``progress(bytes_done, bytes_total)`` is called after each block (approximate).
    """
    hours_from = None if "training_hours" in mapping else inspection.hours_from
    needed = sorted(
        set(mapping.values()) | (set(hours_from.columns) if hours_from else set()),
        key=inspection.columns.index,
    )
    numeric = {mapping[name] for name in NUMERIC_FIELDS if name in mapping}
    if hours_from and hours_from.kind == "seconds":
        numeric.add(hours_from.columns[0])
    ragged: list[tuple[int | None, str]] = []

    def on_ragged(row: Any) -> str:
        ragged.append(
            (row.number, f"Expected {row.expected_columns} fields, found {row.actual_columns}: "
                         f"{_short(row.text, 60)}")
        )  # fmt: skip
        return "skip"

    def read() -> Iterator[tuple[pa.RecordBatch | None, list[tuple[int | None, str]]]]:
        # Each block with the rows skipped while reading it (on_ragged runs on this thread);
        # a last (None, rows) hands over the rows skipped after the last block.
        for batch in _record_batches(inspection, needed, numeric, block_bytes, on_ragged, stream):
            yield batch, ragged[:]
            ragged.clear()
        yield None, ragged[:]

    def scored() -> Iterator[pa.Table]:
        # Reading, scoring and storing run at once on three threads: DuckDB stores one
        # block while the next is scored and the one after is read. Rows that could not be
        # split (``ragged``) are placed by their line number among the good rows.
        cursor = 2  # line 1 is the header
        schema: pa.Schema | None = None
        pending: list[tuple[int | None, str]] = []
        for batch, skipped_rows in _prefetch(read()):  # the next block is read meanwhile
            pending += skipped_rows
            if batch is None:
                break
            skipped = {number for number, _ in pending if number is not None}
            candidates = np.arange(cursor, cursor + batch.num_rows + len(skipped), dtype=np.int64)
            lines = candidates[~np.isin(candidates, list(skipped))][: batch.num_rows]
            cursor = int(lines[-1]) + 1 if len(lines) else cursor
            table = _score_batch(batch, mapping, hours_from, lines, currency, inspection.decimal)
            schema = table.schema
            here = [row for row in pending if row[0] is not None and row[0] < cursor]
            if here:
                pending = [row for row in pending if row not in here]
                table = pa.concat_tables([table, _ragged_table(here, table.schema)])
                table = table.sort_by("line")
            yield table
        if pending:
            yield _ragged_table(pending, schema or _score_batch(
                pa.record_batch({c: pa.array([], pa.string()) for c in needed}), mapping,
                hours_from, np.arange(0), currency).schema)  # fmt: skip

    done = 0
    for table in _prefetch(scored()):
        yield table
        if progress:  # on the caller's thread: Streamlit widgets can't be touched elsewhere
            done = min(inspection.size, done + table.nbytes // 2)
            progress(done, inspection.size)
    if progress:
        progress(inspection.size, inspection.size)


_END = object()


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Produce ``items`` in a background thread, ``depth`` ahead of the consumer.

    Parsing (pyarrow) and storing (DuckDB) both release the GIL, so on two cores the next
    block is parsed while the previous one is written.
    """
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, name="mlprod-parse", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


class BatchSummary:
    """Counts, the first errors and the best run per ratio, gathered block by block."""

    SHOWN_ERRORS = 50

    def __init__(self) -> None:
        self.rows = 0
        self.errors = 0
        self.first_errors: list[dict[str, Any]] = []
        self.best: dict[str, dict[str, Any]] = {}

    @property
    def ok(self) -> int:
        return self.rows - self.errors

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        bad = pc.equal(table["status"], "error")
        n_bad = int(pc.sum(bad).as_py() or 0)
        self.errors += n_bad
        if n_bad and len(self.first_errors) < self.SHOWN_ERRORS:
            wanted = self.SHOWN_ERRORS - len(self.first_errors)
            errors = table.filter(bad).slice(0, wanted)
            self.first_errors += errors.select(["line", "error", "run_id", "run_name"]).to_pylist()
        if n_bad == table.num_rows:
            return
        for ratio in ("cer", "ter", "psr"):
            best_here = pc.max(table[ratio]).as_py()  # NaN of error rows is skipped
            if best_here is not None and best_here > self.best.get(ratio, {}).get(ratio, -1):
                index = pc.index(table[ratio], best_here).as_py()
                self.best[ratio] = table.slice(index, 1).to_pylist()[0]

    def as_dict(
        self, name: str, fmt: str, output: Path | None, batch_no: int | None
    ) -> dict[str, Any]:
        return {
            "file": name,
            "format": fmt,
            "rows": self.rows,
            "ok": self.ok,
            "errors": self.errors,
            "output": str(output) if output else None,
            "saved_batch": batch_no,
            "best": {
                ratio: {k: row.get(k) for k in ("line", "run_id", "run_name", "model_name", ratio)}
                for ratio, row in self.best.items()
            },
            "first_errors": self.first_errors,
        }

    def describe(self, name: str, fmt: str, output: Path | None, batch_no: int | None) -> str:
        lines = [f"{name} ({fmt}): {self.rows:,} rows, {self.ok:,} scored, "
                 f"{self.errors:,} with errors."]  # fmt: skip
        for ratio, row in self.best.items():
            who = row.get("run_name") or row.get("run_id") or f"line {row['line']}"
            model = f" ({row['model_name']})" if row.get("model_name") else ""
            lines.append(f"  best {ratio.upper()}: {row[ratio]:.4g}  {who}{model}")
        for error in self.first_errors[:10]:
            lines.append(f"  line {error['line']}: {error['error']}")
        if self.errors > 10:
            lines.append(f"  … and {self.errors - 10:,} more errors (see the scored file).")
        if output:
            lines.append(f"Scored rows written to {output}")
        if batch_no is not None:
            lines.append(f"Saved {self.ok:,} rows to the history as batch {batch_no}.")
        return "\n".join(lines)


@dataclass
class ScoredFile:
    """A whole scored file: one row per input row, and its summary."""

    inspection: Inspection
    mapping: dict[str, str]
    table: pa.Table
    summary: BatchSummary

    def good(self) -> pa.Table:
        return self.table.filter(pc.equal(self.table["status"], "ok"))

    def errors(self) -> pa.Table:
        return self.table.filter(pc.equal(self.table["status"], "error")).select(
            ["line", "error", "run_id", "run_name", "model_name"]
        )


def score_file(
    inspection: Inspection,
    overrides: Mapping[str, str | None] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    currency: str = "USD",
) -> ScoredFile:
    r"""Score every row of an inspected file into one table (for files that fit in memory).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
    >>> _ = path.write_text("model,F1 Score,train_cost,inference_cost,hours,latency\n"
    ...                     "bert,0.9,1000,200,10,50\nbert,90,1000,200,10,50\n")
    >>> scored = score_file(inspect(path))
    >>> scored.table.select(["line", "status", "cer"]).to_pylist()[0]
    {'line': 2, 'status': 'ok', 'cer': 0.00075}
    >>> scored.table["error"][1].as_py()
    'F1 score must be between 0 and 1 — did you mean 0.90?'
    """
    mapping = resolve_mapping(inspection, overrides)
    summary = BatchSummary()
    tables = []
    for table in scored_batches(
        inspection, mapping, progress=progress, block_bytes=block_bytes, currency=currency
    ):
        summary.add(table)
        tables.append(table)
    return ScoredFile(inspection, mapping, pa.concat_tables(tables), summary)
