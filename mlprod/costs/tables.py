"""Reading the team's cost tables (CSV files of prices and rates): rows with their
line numbers, and the checks every table's cells pass."""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path
from typing import Any

from mlprod.errors import CostTableError, InvalidInput
from mlprod.formatting import format_ratio


def positive_number(value: str, what: str, where: str, *, optional: bool = False) -> float | None:
    """A cost table's cell ``what`` at ``where`` as a number above 0 (empty: None when
    ``optional``); else :class:`CostTableError` naming the line."""
    if optional and not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise CostTableError(f"{where}: {what} '{value}' is not a number.") from None
    if not math.isfinite(number) or number <= 0:
        raise CostTableError(f"{where}: {what} must be above 0, got '{value}'.")
    return number


def as_of_day(value: str, where: str) -> date:
    """A cost table's ``as_of`` cell as a date; else :class:`CostTableError`."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CostTableError(f"{where}: as_of '{value}' is not a date like 2026-10-01.") from None


def table_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[str, dict[str, str]]]:
    """A cost table's rows with where each is ("gpu_prices.csv line 3"); the ``columns``
    it must have, else :class:`CostTableError`."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise CostTableError(f"{path.name}: missing column(s) {', '.join(missing)}.")
            return [(f"{path.name} line {i}", row) for i, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise CostTableError(f"Cannot read {path}: {exc}") from None


def checked_number(
    value: Any, field: str, label: str, *, minimum: float = 0.0, strict: bool = False
) -> float:
    if value is None:
        raise InvalidInput(field, f"{label} is missing: give a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(field, f"{label} must be a number — got {value!r}.") from None
    if not math.isfinite(number) or number < minimum or (strict and number <= minimum):
        word = "above" if strict else "at least"
        raise InvalidInput(field, f"{label} must be {word} {format_ratio(minimum)} — got {value}.")
    return number
