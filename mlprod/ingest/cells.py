"""The cell grammar: text cells turned into numbers, dates, durations and text.

Columnar (pyarrow compute and numpy over whole record batches); every bad cell gets a
reason a person can act on, and messages are only ever built for bad rows.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlprod.ingest.fields import FIELD_LABELS, HoursFrom

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
_DURATION_HOURS = {
    "ms": 1 / 3_600_000,
    "s": 1 / 3600,
    "sec": 1 / 3600,
    "min": 1 / 60,
    "m": 1 / 60,
    "h": 1.0,
    "hr": 1.0,
    "d": 24.0,
}


def decoded(column: pa.Array) -> pa.Array:
    """A Parquet column as plain values: dictionary-encoded text decoded, large text as
    text (the grammar below reads plain arrays)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return column


def unescape(column: pa.Array) -> pa.Array:
    """Undo the MLflow UI's formula escaping ('=SUM -> =SUM) and trim spaces."""
    trimmed = pc.utf8_trim_whitespace(column)
    if not pc.any(pc.starts_with(trimmed, "'")).as_py():  # the regex is 10x the check
        return trimmed
    return pc.replace_substring_regex(trimmed, pattern=r"^'([=+\-@\t\r])", replacement=r"\1")


class Problems:
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

    def merge(self, other: Problems, where: np.ndarray) -> None:
        """Take ``other``'s problems for the rows in ``where``."""
        if other._message is not None:
            self.add(other.bad & where, other._message)

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


def parse_numbers(
    column: pa.Array, name: str, problems: Problems, decimal: str = ".", label: str | None = None
) -> np.ndarray:
    """Floats from a column of text or numbers; each bad cell gets a reason.

    ``decimal=","`` reads 0,9 as 0.9 and 1.234,5 as 1234.5 (see :func:`decimal_mark`).
    ``-0`` is 0 (stored and exported so: a spreadsheet shows "-0" as text).

    >>> parse_numbers(pa.array(["-0", "1.5"]), "inference_cost", Problems(2)).tolist()
    [0.0, 1.5]
    """
    return _numbers(column, name, problems, decimal, label) + 0.0  # -0.0 + 0.0 is 0.0


def _numbers(
    column: pa.Array, name: str, problems: Problems, decimal: str, label: str | None
) -> np.ndarray:
    label = label or FIELD_LABELS[name]
    column = decoded(column)
    if not pa.types.is_string(column.type):
        return _typed_numbers(column, name, problems, label)
    values = _cast_clean(column) if decimal == "." else None  # with ",": 1.000 is 1000
    if values is not None:
        if values.null_count == 0:
            return np.asarray(values.to_numpy(zero_copy_only=False))
        problems.add(
            np.asarray(values.is_null().to_numpy(zero_copy_only=False)), f"{label} is empty."
        )
        return np.asarray(values.fill_null(np.nan).to_numpy(zero_copy_only=False))
    text = unescape(column)
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
            if (empty & ~blank).any()
            else "",
        )
    bad = ~usable & ~empty
    if bad.any():
        idx = np.flatnonzero(bad)
        raw_bad = column.take(pa.array(idx)).to_pylist()
        messages = np.full(len(out), None, dtype=object)
        messages[idx] = [_not_a_number(label, v) for v in raw_bad]
        problems.add(bad, messages)
    return out


# A typed duration in the unit each field is in.
_DURATION_UNITS = {"training_hours": 3600.0, "latency_ms": 0.001}
_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _typed_numbers(column: pa.Array, name: str, problems: Problems, label: str) -> np.ndarray:
    """Floats from a typed (Parquet) column: integers, floats, decimals and nulls read as
    numbers, a duration in the field's unit (hours, ms); booleans, dates and other types
    are row errors that name the type."""
    kind = column.type
    if pa.types.is_duration(kind) and name in _DURATION_UNITS:
        ticks = np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), float)
        if column.null_count:
            problems.add(np.asarray(column.is_null()), f"{label} is empty.")
        return ticks / _PER_SECOND[kind.unit] / _DURATION_UNITS[name]
    numeric = (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_null(kind)
    )
    if not numeric:
        what = "true/false" if pa.types.is_boolean(kind) else f"a {kind} value"
        valid = np.asarray(column.is_valid())
        problems.add(valid, f"{label} is {what}, not a number.")
        problems.add(~valid, f"{label} is empty.")
        return np.full(len(column), np.nan)
    values = np.asarray(
        pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False), np.float64
    )
    if column.null_count:
        problems.add(np.asarray(column.is_null()), f"{label} is empty.")
    if pa.types.is_integer(kind) and kind.bit_width == 64:
        # Past 2**53 a double no longer holds every integer: 2**63 + 1 would become 2**63.
        over = pc.greater(column, pa.scalar(2**53, kind))
        if pa.types.is_signed_integer(kind):
            over = pc.or_(over, pc.less(column, pa.scalar(-(2**53), kind)))
        big = np.asarray(pc.fill_null(over, False))
        if big.any():
            problems.add(big, f"{label} is too large to be read exactly (above 2**53).")
    return values


def _not_a_number(label: str, value: Any) -> str:
    """Why a cell is no number; a decimal comma in a file of decimal points says so."""
    if isinstance(value, str) and re.fullmatch(_COMMA_DECIMAL, value.strip()):
        point = value.strip().replace(".", "").replace(",", ".")
        return (
            f"{label} '{shorten(value)}' has a decimal comma, but this file's other numbers "
            f"use decimal points: write {point}."
        )
    return f"{label} '{shorten(value)}' is not a number."


def shorten(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_timestamps(column: pa.Array) -> pd.Series:
    """UTC timestamps (tz-naive) from ISO 8601-ish text, or from a typed date or timestamp
    column (with or without a time zone); unreadable ones, other types, and dates outside
    1900-2199 (a mangled year, e.g. "0014"), become NaT."""
    column = decoded(column)
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        # Arrow keeps UTC instants; a naive type of the same instants is UTC wall time.
        utc = pc.cast(column, pa.timestamp("us"), safe=False)
        stamps = pd.Series(utc.to_numpy(zero_copy_only=False)).astype("datetime64[us]")
    elif not pa.types.is_string(kind):
        stamps = pd.Series(np.full(len(column), np.datetime64("NaT"), dtype="datetime64[us]"))
    else:
        text = pd.Series(np.asarray(unescape(column).to_pylist(), dtype=object))
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
        stamps = parsed.dt.tz_localize(None).astype("datetime64[us]")
    sane = stamps.between(pd.Timestamp("1900-01-01"), pd.Timestamp("2200-01-01"))
    return stamps.where(sane)


def parse_hours(
    batch: pa.RecordBatch, how: HoursFrom, problems: Problems, decimal: str = "."
) -> np.ndarray:
    label = FIELD_LABELS["training_hours"]
    if how.kind == "seconds":
        seconds = parse_numbers(batch.column(how.columns[0]), "training_hours", problems, decimal)
        return seconds / 3600
    if how.kind == "duration":
        column = decoded(batch.column(how.columns[0]))
        if pa.types.is_duration(column.type):  # a typed Parquet duration
            per_hour = {"s": 3600, "ms": 3.6e6, "us": 3.6e9, "ns": 3.6e12}[column.type.unit]
            seconds = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
            hours = np.asarray(seconds, dtype=np.float64) / per_hour
            problems.add(np.isnan(hours), f"{label} is empty.")
            return hours
        text = pc.utf8_lower(unescape(pc.cast(column, pa.string())))
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
                np.array(
                    [
                        f"{label}: '{how.columns[0]}' value '{shorten(v)}' is not a duration "
                        "like 42.0s, 3.5min or 1.2h."
                        for v in raw
                    ],
                    dtype=object,
                ),
            )
        return hours
    start = parse_timestamps(batch.column(how.columns[0]))
    end = parse_timestamps(batch.column(how.columns[1]))
    span = ((end - start).dt.total_seconds() / 3600).to_numpy(dtype=np.float64, na_value=np.nan)
    problems.add(
        np.isnan(span),
        f"{label}: no hours column, and '{how.columns[0]}'/'{how.columns[1]}' "
        "do not both hold a date.",
    )
    return span


def parse_text(column: pa.Array, name: str) -> pa.Array:
    text = unescape(pc.cast(decoded(column), pa.string()))
    dash = pc.fill_null(pc.equal(text, "-"), False) if name == "notes" else None
    if dash is not None:  # W&B writes an empty note as "-"
        text = pc.if_else(dash, pa.scalar(None, pa.string()), text)
    empty = pc.equal(pc.binary_length(text), 0)  # from the offsets: no string is read
    if not pc.any(empty).as_py():
        return text
    return pc.if_else(empty, pa.scalar(None, pa.string()), text)


def decimal_mark(batch: pa.RecordBatch) -> str:
    """ "," when the columns holding numbers write decimal commas and never a decimal point.

    >>> decimal_mark(pa.record_batch({"f1": ["0,9", "0,85"], "cost": ["1.000", "12,5"]}))
    ','
    >>> decimal_mark(pa.record_batch({"f1": ["0,9", "0.85"]}))  # mixed: points win
    '.'
    >>> decimal_mark(pa.record_batch({"cost": ["1,234", "5,000"], "tags": ["1,5", "a"]}))
    '.'
    """
    comma = dot = 0
    for column in batch.columns:
        cells = unescape(pc.cast(column, pa.string()))
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
