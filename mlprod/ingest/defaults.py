"""A scenario for a whole batch: one value for every run, where the file has none.

``mlprod score --set FIELD=VALUE``: a value for a field the file lacks, and for the empty
cells of a field it has (a cell's own value always wins). Trackers rarely log a cost, and
inference cost is a property of how a model will be served, not of a training run: a
batch scenario supplies it (typed, or from requests or tokens per month, as in the
calculator) and prices training from each run's GPUs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlprod.costs.inference import (
    HOURS_PER_MONTH,
    InferenceCost,
    inference_from_requests,
    inference_from_serving,
    inference_from_tokens,
)
from mlprod.costs.modes import INFERENCE_FIELDS
from mlprod.costs.pricing import GPU_PRICE_FIELD, Pricing, parse_spot
from mlprod.errors import BadFile, InvalidInput
from mlprod.ingest.fields import FIELD_LABELS
from mlprod.metrics import INPUT_FIELDS

__all__ = ["BUILDER_FIELDS", "CELL_FIELDS", "SETTABLE", "Scenario", "parse_set"]

#: Fields whose value stands in for a cell of each row (filled where the cell is empty).
CELL_FIELDS = (
    *INPUT_FIELDS,
    "model_name",
    "project",
    "tags",
    "gpu_model",
    "gpu_count",
    "provider",
    "spot",
)
#: The calculator's cost builders: how to price a run that has no cost of its own
#: (``price_per_gpu_hour[NAME]`` too: one GPU's price, see :mod:`mlprod.costs.pricing`).
BUILDER_FIELDS = ("price_per_gpu_hour", "discount", "extra_costs", *INFERENCE_FIELDS)
SETTABLE = (*CELL_FIELDS, *BUILDER_FIELDS)
_TEXT = (
    "model_name",
    "project",
    "tags",
    "gpu_model",
    "provider",
    "spot",
    *(name for name, field in INFERENCE_FIELDS.items() if field.text),
)
LABELS = {
    **FIELD_LABELS,
    "price_per_gpu_hour": "Price per GPU-hour",
    "discount": "Discount off list price",
    "extra_costs": "Extra training costs",
    **{name: field.label for name, field in INFERENCE_FIELDS.items()},
}


def _settable(name: str) -> bool:
    return name in SETTABLE or GPU_PRICE_FIELD.match(name) is not None


def parse_set(pairs: list[str]) -> dict[str, str | float]:
    """``FIELD=VALUE`` pairs (``--set``) as values; numbers for number fields.

    >>> parse_set(["inference_cost=250", "gpu_model=NVIDIA A100-SXM4-80GB"])
    {'inference_cost': 250.0, 'gpu_model': 'NVIDIA A100-SXM4-80GB'}

    Raises
    ------
    BadFile
        An unknown field, a pair without ``=``, or a number field that is not a number.
    """
    values: dict[str, str | float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise BadFile(f"--set takes FIELD=VALUE (e.g. inference_cost=250), got '{pair}'.")
        values[name.strip()] = value
    return scenario_values(values)


def scenario_values(given: Mapping[str, object], *, label: str = "--set") -> dict[str, str | float]:
    """One value per field for every run (``--set``, or ``defaults=`` in Python), checked:
    numbers for number fields (``"1,000"`` is 1000), trimmed text for the others.

    >>> scenario_values({"inference_cost": "1,250", "model_name": " bert "}, label="defaults")
    {'inference_cost': 1250.0, 'model_name': 'bert'}
    >>> scenario_values({"latency": 5}, label="defaults")
    Traceback (most recent call last):
    mlprod.errors.BadFile: defaults cannot set 'latency'. Fields: f1, ...
    """
    values: dict[str, str | float] = {}
    for name, value in given.items():
        if not _settable(name):
            fields = ", ".join(SETTABLE)
            raise BadFile(
                f"{label} cannot set '{name}'. Fields: {fields}, price_per_gpu_hour[GPU]."
            )
        if name in _TEXT:
            if value is None or not str(value).strip():
                raise BadFile(f"{label} {name}: give a value, got '{value}'.")
            values[name] = str(value).strip()
            continue
        if name == "discount":  # 0.25 or 25%
            try:
                values[name] = Pricing(discount=value).discount  # type: ignore[arg-type]
            except InvalidInput as exc:
                raise BadFile(f"{label} {exc}") from None
            continue
        try:
            if isinstance(value, str):
                number = float(value.replace(",", "")) if name != "f1" else float(value)
            elif isinstance(value, bool):
                raise TypeError
            else:
                number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise BadFile(f"{label} {name}: '{value}' is not a number.")
        values[name] = number
    return values


@dataclass(frozen=True)
class Scenario:
    """One value per field for every run of a batch (see :func:`parse_set`)."""

    values: Mapping[str, str | float] = field(default_factory=dict)
    currency: str = "USD"
    #: The team's pricing, under the batch's own values (``provider``, ``spot``, ...)
    team_pricing: Pricing = field(default_factory=Pricing)

    def __post_init__(self) -> None:
        unknown = sorted(name for name in self.values if not _settable(name))
        if unknown:
            raise BadFile(f"Cannot set {', '.join(unknown)}. Fields: {', '.join(SETTABLE)}.")
        if "spot" in self.values:
            try:
                parse_spot(self.values["spot"], "spot")
            except InvalidInput as exc:
                raise BadFile(f"--set {exc}") from None

    def pricing(self, fx_rate: float = 1.0) -> Pricing:
        """The team's pricing with this batch's values over it (``fx_rate`` units of the
        batch's currency per US$, for its own per-GPU prices)."""
        return self.team_pricing.with_values(self.values, fx_rate=fx_rate)

    def __bool__(self) -> bool:
        return bool(self.values)

    def _number(self, name: str) -> float | None:
        value = self.values.get(name)
        return None if value is None else float(value)

    def inference(self) -> InferenceCost | None:
        """The inference cost the scenario builds (from requests or from tokens), if any.

        Raises
        ------
        InvalidInput
            A builder given only in part (requests without their price, say).
        """
        v, number = self.values, self._number
        months = float(v.get("months", 1.0))
        if "serving_gpu" in v:
            return inference_from_serving(
                str(v["serving_gpu"]),
                float(v.get("serving_gpus", 1.0)),
                number("replicas"),
                hours_per_month=float(v.get("hours_per_month", HOURS_PER_MONTH)),
                months=months,
                price_override=number("serving_price_per_gpu_hour"),
                requests_per_month=number("requests_per_month"),
                requests_per_s_per_replica=number("requests_per_s_per_replica"),
                currency=self.currency,
            )
        if "requests_per_month" in v or "cost_per_1k_requests" in v:
            return inference_from_requests(
                number("requests_per_month"),
                number("cost_per_1k_requests"),
                months,
                currency=self.currency,
            )
        if "tokens_in_per_month" in v or "tokens_out_per_month" in v or "llm_model" in v:
            model = v.get("llm_model")
            return inference_from_tokens(
                number("tokens_in_per_month"),
                number("tokens_out_per_month"),
                number("price_in_per_1m"),
                number("price_out_per_1m"),
                months,
                llm_model=None if model is None else str(model),
                cached_input_share=number("cached_input_share"),
                price_cached_per_1m=number("price_cached_per_1m"),
                batch_share=number("batch_share"),
                currency=self.currency,
            )
        return None

    def cells(self) -> dict[str, str | float]:
        """The value standing in for each field's empty cells (a built inference cost
        included)."""
        cells = {k: v for k, v in self.values.items() if k in CELL_FIELDS and v is not None}
        built = self.inference()
        if built is not None and "inference_cost" not in cells:
            cells["inference_cost"] = built.total
        return cells

    def provides(self) -> set[str]:
        """Fields every run gets a value for, whatever the file holds."""
        return set(self.cells())

    def describe(self) -> list[str]:
        """One line per value, for the summary: ``Inference cost = 250 for every run``."""
        v = self.values
        lines = [
            f"{LABELS[k]} = {v[k]} where the file has none"
            for k in CELL_FIELDS
            if v.get(k) is not None
        ]
        built = self.inference()
        if built is not None and "inference_cost" not in v:
            lines.append(f"{built.formula()} for every run without one")
        for name in ("price_per_gpu_hour", "extra_costs"):
            if v.get(name) is not None:
                lines.append(f"{LABELS[name]} = {v[name]} ({self.currency}) for GPU-priced runs")
        if v.get("discount"):
            lines.append(f"{LABELS['discount']} = {float(v['discount']):.0%} for GPU-priced runs")
        for name, value in v.items():
            if m := GPU_PRICE_FIELD.match(name):
                lines.append(f"{m['gpu']} at {value} {self.currency} per GPU-hour")
        return lines


def is_empty(column: pa.Array) -> np.ndarray:
    """Cells with no value: null, or text of only spaces."""
    empty = column.is_null()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0)
        empty = pc.or_(empty, pc.fill_null(blank, True))
    return np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)


def filled(column: pa.Array, value: str) -> pa.Array:
    """``column`` with its empty cells holding ``value`` (as text, the grammar reads it)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    return pc.if_else(pa.array(is_empty(text)), pa.scalar(value, pa.string()), text)


def coalesced(column: pa.Array, other: pa.Array) -> pa.Array:
    """``column`` with its empty cells taken from ``other`` (the next-best column)."""
    if column.type == other.type and not pa.types.is_string(column.type):
        return pc.coalesce(column, other)
    text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    spare = other if pa.types.is_string(other.type) else pc.cast(other, pa.string())
    return pc.if_else(pa.array(is_empty(text)), spare, text)


def constant(value: str, rows: int) -> pa.Array:
    return pa.array(np.full(rows, value, dtype=object), type=pa.string())


def _as_cell(value: str | float, decimal: str) -> str:
    """A value as the file's own cells would write it (``0,9`` where commas are decimal)."""
    if isinstance(value, str):
        return value
    text = repr(float(value))
    return text.replace(".", ",") if decimal == "," else text


def with_scenario(
    batch: pa.RecordBatch, mapping: Mapping[str, str], scenario: Scenario, decimal: str = "."
) -> tuple[pa.RecordBatch, dict[str, str]]:
    """The batch with the scenario's values in place of empty cells (or as columns of
    their own, named ``--set FIELD``), and the mapping that reads them."""
    mapping = dict(mapping)
    for name, raw in scenario.cells().items():
        value = _as_cell(raw, decimal)
        if name in mapping:
            index = batch.schema.get_field_index(mapping[name])
            batch = batch.set_column(index, mapping[name], filled(batch.column(index), value))
        else:
            column = f"--set {name}"
            batch = batch.append_column(column, constant(value, batch.num_rows))
            mapping[name] = column
    return batch, mapping


def inference_assumptions(scenario: Scenario, where: np.ndarray) -> dict[str, pa.Array]:
    """Where the scenario gave a run its inference cost (``where``), how: its builder's
    inputs, or ``inference_mode = "batch value"`` for a typed one; null elsewhere."""
    built = scenario.inference()
    if "inference_cost" in scenario.values and scenario.values["inference_cost"] is not None:
        out: dict[str, Any] = {"inference_mode": "batch value"}
    elif built is not None:
        out = built.assumptions()
    else:
        return {}
    mask = pa.array(where)
    columns = {}
    for k, v in out.items():
        if v is None:
            continue
        kind = (
            pa.string()
            if isinstance(v, str)
            else pa.date32()
            if isinstance(v, date)
            else pa.float64()
        )
        full = pa.array(np.full(len(where), v, dtype=object), type=kind)
        columns[k] = pc.if_else(mask, full, pa.scalar(None, kind))
    return columns


def check_scenario(scenario: Scenario) -> None:
    """Raise a file-level error for a scenario that cannot build what it names."""
    try:
        scenario.inference()
    except InvalidInput as exc:
        raise BadFile(f"--set: {exc}") from None
