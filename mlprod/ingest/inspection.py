"""Finding out what a file of runs is: format, encoding, delimiter, decimal mark, mapping.

Reads our own CSVs, ``mlflow.search_runs()`` exports, the MLflow UI's "Download CSV",
W&B runs-table exports, ``.csv.gz`` and Parquet. A file that cannot be read at all raises
:class:`~mlprod.errors.BadFile`.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlprod.errors import BadFile
from mlprod.ingest.cells import decimal_mark
from mlprod.ingest.fields import (
    FIELD_LABELS,
    FIELDS,
    FORMATS,
    HoursFrom,
    auto_mapping,
    detect_format,
    fallbacks,
    hours_from,
    missing_fields,
    other_metrics,
)
from mlprod.ingest.readers import DEFAULT_BLOCK_BYTES, FileFacts, is_gzip, open_csv
from mlprod.quality import F1, Metric

__all__ = ["Inspection", "inspect", "resolve_mapping"]

_SNIFF_BYTES = 64 * 1024


@dataclass
class Inspection:
    """What :func:`inspect` found out about a file, before anything is scored: the facts a
    reader needs, the format, the detected mapping and a preview."""

    facts: FileFacts
    format: str
    mapping: dict[str, str]
    hours_from: HoursFrom | None
    preview: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: Other columns that fill a field's empty cells (see :func:`fields.fallbacks`).
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    #: The quality the runs are scored on (its column is the mapping's ``f1``).
    metric: Metric = F1

    def for_metric(self, metric: Metric) -> Inspection:
        """This file's runs scored on ``metric``: the quality read from its names."""
        if metric == self.metric:
            return self
        return replace(
            self,
            metric=metric,
            mapping=auto_mapping(self.columns, metric),
            fallbacks=fallbacks(self.columns, metric),
        )

    @property
    def path(self) -> Path:
        return self.facts.path

    @property
    def size(self) -> int:
        """The file's size in bytes (compressed, for a ``.csv.gz``)."""
        return self.facts.size

    @property
    def columns(self) -> list[str]:
        return list(self.facts.columns)

    @property
    def format_label(self) -> str:
        return FORMATS[self.format]

    def spare_columns(self, mapping: Mapping[str, str]) -> dict[str, list[str]]:
        """The fallbacks that apply to ``mapping``: only where a field still reads the
        column found for it (a person's own choice of column stands alone)."""
        return {
            name: [c for c in others if c not in mapping.values()]
            for name, others in self.fallbacks.items()
            if name in mapping and mapping[name] == self.mapping.get(name)
        }

    def missing(
        self, mapping: Mapping[str, str] | None = None, provided: Iterable[str] = ()
    ) -> list[str]:
        """Required fields that neither the mapping, a derivation nor a value for every
        run (``provided``, see :class:`~mlprod.ingest.defaults.Scenario`) gives."""
        have = set((self.mapping if mapping is None else mapping).keys()) | set(provided)
        if not self.metric.is_f1:  # only an F1 is derived from precision and recall
            have -= {"precision", "recall", "tp", "fp", "fn"}
        return missing_fields(have, hours_derived=self.hours_from is not None)


# -- finding out what a file is ------------------------------------------------------------


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if is_gzip(head):
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
    _check_header(columns, name, cut="\n" not in text and "\r" not in text)
    notes = []
    if encoding == "latin-1":
        notes.append("Read as Latin-1 (the file is not UTF-8).")
    if delimiter != ",":
        notes.append(f"Columns are separated by {_DELIMITER_NAMES[delimiter]}.")
    preview, decimal = _preview_csv(path, name, encoding, delimiter, columns)
    if decimal == ",":
        notes.append("Numbers use a decimal comma (0,9 is read as 0.9; 1.234,5 as 1234.5).")
    fmt = detect_format(columns, "csv")
    return Inspection(
        facts=FileFacts(path, "csv", size, encoding, delimiter, tuple(columns), decimal),
        format=fmt,
        mapping=auto_mapping(columns),
        hours_from=hours_from(columns, fmt),
        preview=preview,
        notes=notes,
        fallbacks=fallbacks(columns),
    )


_DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "pipes", ",": "commas"}


#: More columns than any export of runs we have seen (an MLflow search with thousands of
#: params is ~2,000): past it a header is refused at once instead of keeping a session
#: busy for minutes (docs/RELIABILITY.md: a header of 100,000 columns).
MAX_COLUMNS = 5_000


def _check_header(columns: list[str], name: str, *, cut: bool = False) -> None:
    """``cut``: the header goes on past the part of the file read so far."""
    if not columns or all(not c for c in columns):
        raise BadFile(f"{name} has no header row.")
    if len(columns) > MAX_COLUMNS:
        raise BadFile(
            f"{name} has {'more than ' if cut else ''}{len(columns):,} columns; mlprod "
            f"reads files of up to "
            f"{MAX_COLUMNS:,}. Keep the columns of the runs (model, F1, costs, hours, "
            "latency, ...) and score that."
        )
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
        try:  # 20 rows are shown: no need to parse megabytes
            reader = open_csv(
                path,
                encoding,
                delimiter,
                {c: pa.string() for c in columns},
                block_bytes=1 << 18,
                on_ragged=lambda row: "skip",
            )
        except pa.ArrowInvalid:  # a row longer than the block (a W&B config, say)
            reader = open_csv(
                path,
                encoding,
                delimiter,
                {c: pa.string() for c in columns},
                block_bytes=DEFAULT_BLOCK_BYTES,
                on_ragged=lambda row: "skip",
            )
        batch = reader.read_next_batch()
    except StopIteration:
        raise BadFile(f"{name} has a header but no rows of runs.") from None
    except pa.ArrowInvalid as exc:
        raise BadFile(f"{name} cannot be read as CSV: {exc}") from None
    if batch.num_rows == 0:
        raise BadFile(f"{name} has a header but no rows of runs.")
    return batch.slice(0, 20).to_pandas(), decimal_mark(batch)


def _inspect_parquet(path: Path, name: str, size: int) -> Inspection:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadFile(f"{name} is not a readable Parquet file: {exc}") from None
    columns = list(parquet.schema_arrow.names)
    _check_header(columns, name)
    if parquet.metadata.num_rows == 0:
        raise BadFile(f"{name} has columns but no rows of runs.")
    try:
        preview = next(parquet.iter_batches(batch_size=20)).to_pandas()
    except (OSError, pa.ArrowException) as exc:  # a damaged page, a cut-off file
        raise BadFile(f"{name} is a damaged Parquet file ({exc}). Export it again.") from None
    return Inspection(
        facts=FileFacts(path, "parquet", size, "binary", "", tuple(columns)),
        format="parquet",
        mapping=auto_mapping(columns),
        hours_from=hours_from(columns, "parquet"),
        preview=preview,
        fallbacks=fallbacks(columns),
    )


def resolve_mapping(
    inspection: Inspection,
    overrides: Mapping[str, str | None] | None = None,
    *,
    provided: Iterable[str] = (),
) -> dict[str, str]:
    """The detected mapping with a person's corrections applied (``None`` unmaps a field);
    ``provided`` names the fields a batch scenario gives every run (``--set``).

    Raises
    ------
    BadFile
        An override names an unknown field or a column the file does not have, or a
        required field has no column.
    """
    mapping = dict(inspection.mapping)
    for name, column in (overrides or {}).items():
        name = "f1" if name == "metric" else name  # --map metric=COLUMN: the quality's column
        if name not in FIELDS:
            raise BadFile(f"Unknown field '{name}'. Fields: {', '.join(FIELDS)}.")
        if column is None:
            mapping.pop(name, None)
        elif column not in inspection.columns:
            label = inspection.metric.label if name == "f1" else FIELD_LABELS[name]
            raise BadFile(
                f"There is no column '{column}' for {label} in "
                f"{inspection.path.name}. Columns: {', '.join(inspection.columns)}."
            )
        else:
            mapping[name] = column
    missing = inspection.missing(mapping, provided)
    if missing:
        wanted = ", ".join(
            f"{inspection.metric.label} (metric)"
            if m == "f1" and not inspection.metric.is_f1
            else f"{FIELD_LABELS[m]} ({m})"
            for m in missing
        )
        example = "250" if missing[0].endswith("cost") else "VALUE"
        others = other_metrics(inspection.columns, inspection.metric) if "f1" in missing else None
        hint = (
            f" These runs log {others[0]}: score them on that metric (--metric "
            f"{others[1].key}) rather than map a column as {inspection.metric.label}."
            if others
            else ""
        )
        raise BadFile(
            f"No column found for {wanted}. Columns seen: {', '.join(inspection.columns)}. "
            f"Choose the column for each (e.g. --map "
            f"{'metric' if missing[0] == 'f1' and not inspection.metric.is_f1 else missing[0]}"
            "=COLUMN), or give one value "
            f"for every run (e.g. --set {missing[0]}={example})"
            + (
                "; a training cost can also come from GPUs (--set gpu_model=A100-80GB "
                "--set gpu_count=8)."
                if "training_cost" in missing
                else "."
            )
            + hint
        )
    return mapping
