"""The three productivity ratios, their validation, and F1 from its parts.

Formulas (higher is better for all three):

- CER, cost efficiency   = F1 / (training cost + inference cost)   F1 per currency unit
- TER, time efficiency   = F1 / training hours                      F1 per training hour
- PSR, perf. over speed  = F1 / latency in milliseconds             F1 per millisecond

Every caller (calculator, batch scorer, CLI, history) computes ratios here. The work is
done by :func:`score_arrays`, vectorised over numpy arrays; :func:`calculate` is its
one-row twin that raises :class:`~mlprod.errors.InvalidInput` instead of reporting.

Ratios are rounded to 12 significant digits, so decimal inputs give the decimal answer a
person expects (0.9 / 50 is 0.018, not the binary 0.018000000000000002).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from mlprod.errors import InvalidInput

#: No ratio above this is scored: the history sums ratios (trend means, the rollup), and
#: two finite TERs of 1.76e308 (F1 0.9 over 5e-309 hours) add up to inf. Any real run is
#: many orders below it (TER 1e12 is F1 0.9 in 3 nanoseconds of training).
MAX_RATIO = 1e12

__all__ = [
    "INPUT_FIELDS",
    "LABELS",
    "Ratios",
    "RunInputs",
    "Scored",
    "calculate",
    "f1_arrays_from_counts",
    "f1_arrays_from_precision_recall",
    "f1_from_counts",
    "f1_from_precision_recall",
    "quality_value",
    "resolve_f1",
    "round_significant",
    "score_arrays",
]


@dataclass(frozen=True)
class RunInputs:
    """The five numbers every ratio needs, in the order people enter them: F1 (0 to 1),
    the training and inference costs (one currency), training hours and latency in
    milliseconds.

    >>> RunInputs(0.90, 1000, 200, 10, 50).ratios
    Ratios(cer=0.00075, ter=0.09, psr=0.018)
    """

    f1: float
    training_cost: float
    inference_cost: float
    training_hours: float
    latency_ms: float

    @property
    def total_cost(self) -> float:
        return self.training_cost + self.inference_cost

    @cached_property
    def ratios(self) -> Ratios:
        """CER, TER and PSR (raises :class:`InvalidInput` for impossible values); worked
        out once per run, however often a page, a record and a verdict ask."""
        return calculate(*self.values())

    def values(self) -> tuple[float, float, float, float, float]:
        return (
            self.f1,
            self.training_cost,
            self.inference_cost,
            self.training_hours,
            self.latency_ms,
        )

    def inputs(self) -> dict[str, float]:
        """The five inputs by field name (a record's or a row's columns)."""
        return dict(zip(INPUT_FIELDS, self.values(), strict=True))

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> RunInputs:
        """The inputs in a record, a history row or a batch row, as floats."""
        return cls(*(float(row[name]) for name in INPUT_FIELDS))


#: The five inputs' field names (columns of a file, a record and the history).
INPUT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunInputs))

#: The words a person sees for each field (the calculator's labels).
LABELS: dict[str, str] = {
    "f1": "F1 score",
    "training_cost": "Training cost",
    "inference_cost": "Inference cost",
    "training_hours": "Training time (hours)",
    "latency_ms": "Latency (ms)",
    "precision": "Precision",
    "recall": "Recall",
    "tp": "True positives (TP)",
    "fp": "False positives (FP)",
    "fn": "False negatives (FN)",
}

FloatArray = npt.NDArray[np.float64]
SIGNIFICANT_DIGITS = 12


@dataclass(frozen=True)
class Ratios:
    """The three ratios of one run.

    Attributes
    ----------
    cer : float
        F1 per currency unit of total cost.
    ter : float
        F1 per training hour.
    psr : float
        F1 per millisecond of latency.
    """

    cer: float
    ter: float
    psr: float

    def as_dict(self) -> dict[str, float]:
        return {"cer": self.cer, "ter": self.ter, "psr": self.psr}


@dataclass(frozen=True)
class Scored:
    """Ratios for many rows, with the reason each bad row was not scored.

    ``cer``, ``ter`` and ``psr`` are NaN where ``ok`` is False; ``error`` holds the
    message (``None`` for good rows) and ``error_field`` the input it is about.
    """

    cer: FloatArray
    ter: FloatArray
    psr: FloatArray
    ok: npt.NDArray[np.bool_]
    error: npt.NDArray[np.object_]
    error_field: npt.NDArray[np.object_]


class _RowErrors:
    """First-error-wins bookkeeping for vectorised validation."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.message = np.full(n, None, dtype=object)
        self.field = np.full(n, None, dtype=object)

    def flag(
        self,
        mask: npt.NDArray[np.bool_],
        field: str,
        template: str,
        values: FloatArray | None = None,
    ) -> None:
        new = mask & ~self.bad
        if not new.any():
            return
        idx = np.flatnonzero(new)
        if values is None:
            self.message[idx] = template
        else:  # formats only the rows that failed, never every row
            self.message[idx] = [template.format(v=v) for v in values[idx].tolist()]
        self.field[idx] = field
        self.bad[idx] = True


def _as_float_array(values: Any) -> FloatArray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


def _flag_not_finite(
    errors: _RowErrors, field: str, values: FloatArray, label: str | None = None
) -> None:
    label = label or LABELS[field]
    errors.flag(np.isnan(values), field, f"{label} is missing or not a number — enter a number.")
    errors.flag(np.isinf(values), field, f"{label} is infinite — enter a finite number.")


_POW10 = 10.0 ** np.arange(23)  # exact doubles


def round_significant(x: FloatArray, digits: int = SIGNIFICANT_DIGITS) -> FloatArray:
    """Round to ``digits`` (or one more) significant digits; 0, NaN and inf pass through.

    Dividing an exact integer by an exact power of ten is correctly rounded, so the
    result is the double nearest to the decimal a person would write.
    """
    _, exp2 = np.frexp(x)  # 0, NaN and inf give 0: rounded below, they stay what they are
    # floor(log10|x|) from the binary exponent: exact or one too low (one digit more).
    exp10 = np.floor((exp2 - 1) * 0.30102999566398120).astype(np.int64)
    decimals = digits - 1 - exp10
    if len(x) and decimals.min() >= 0 and decimals.max() <= 22:  # every ratio seen in practice
        scale = _POW10[decimals]
        return np.rint(x * scale) / scale
    fast = (decimals >= 0) & (decimals <= 22) & np.isfinite(x) & (x != 0)
    out = x.copy()
    scale = _POW10[np.clip(decimals[fast], 0, 22)]
    out[fast] = np.rint(x[fast] * scale) / scale
    return out


def score_arrays(
    f1: Any,
    training_cost: Any,
    inference_cost: Any,
    training_hours: Any,
    latency_ms: Any,
    *,
    quality: str = LABELS["f1"],
) -> Scored:
    """Validate and score many runs at once.

    Parameters
    ----------
    f1 : array_like
        F1 score of each run, between 0 and 1.
    training_cost, inference_cost : array_like
        Costs in one currency; not negative, and not both zero.
    training_hours : array_like
        Training time in hours, above 0.
    latency_ms : array_like
        Inference latency in milliseconds, above 0.
    quality : str
        What the first column is called in messages (``Accuracy``: a run scored on another
        metric, :mod:`mlprod.quality`).

    Returns
    -------
    Scored
        Ratios for the good rows; the first problem of each bad row, in words.

    Examples
    --------
    >>> s = score_arrays([0.9, 90], [1000, 1000], [200, 200], [10, 10], [50, 50])
    >>> s.cer.tolist(), s.ok.tolist()
    ([0.00075, nan], [True, False])
    >>> s.error[1]
    'F1 score must be between 0 and 1 — did you mean 0.90?'
    """
    f1_a = _as_float_array(f1)
    train_a = _as_float_array(training_cost)
    infer_a = _as_float_array(inference_cost)
    hours_a = _as_float_array(training_hours)
    lat_a = _as_float_array(latency_ms)
    columns = {
        "f1": f1_a,
        "training_cost": train_a,
        "inference_cost": infer_a,
        "training_hours": hours_a,
        "latency_ms": lat_a,
    }
    n = len(f1_a)
    for name, arr in columns.items():
        if len(arr) != n:
            raise ValueError(f"{name} has {len(arr)} values, f1 has {n}")

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        total_cost = train_a + infer_a
        cer = f1_a / total_cost
        ter = f1_a / hours_a
        psr = f1_a / lat_a
        # One pass of cheap comparisons finds the good rows (NaN fails every comparison);
        # only the few bad rows go through the rule-by-rule explanation below.
        ok = (
            (f1_a >= 0)
            & (f1_a <= 1)
            & (train_a >= 0)
            & (infer_a >= 0)
            & (total_cost > 0)
            & np.isfinite(total_cost)
            & (hours_a > 0)
            & np.isfinite(hours_a)
            & (lat_a > 0)
            & np.isfinite(lat_a)
            & (cer <= MAX_RATIO)
            & (ter <= MAX_RATIO)
            & (psr <= MAX_RATIO)
        )
    error = np.full(n, None, dtype=object)
    error_field = np.full(n, None, dtype=object)
    bad = np.flatnonzero(~ok)
    if len(bad):
        explained = _explain_bad_rows(
            *(column[bad] for column in columns.values()), quality=quality
        )
        error[bad] = explained.message
        error_field[bad] = explained.field
        cer[bad] = np.nan  # fresh arrays of our own: no copy needed
        ter[bad] = np.nan
        psr[bad] = np.nan
    return Scored(
        cer=round_significant(cer),
        ter=round_significant(ter),
        psr=round_significant(psr),
        ok=ok,
        error=error,
        error_field=error_field,
    )


def _explain_bad_rows(
    f1_a: FloatArray,
    train_a: FloatArray,
    infer_a: FloatArray,
    hours_a: FloatArray,
    lat_a: FloatArray,
    *,
    quality: str = LABELS["f1"],
) -> _RowErrors:
    """The first rule each row breaks, in words; every row given here breaks one."""
    errors = _RowErrors(len(f1_a))
    columns = {
        "f1": f1_a,
        "training_cost": train_a,
        "inference_cost": infer_a,
        "training_hours": hours_a,
        "latency_ms": lat_a,
    }
    for name, arr in columns.items():
        _flag_not_finite(errors, name, arr, quality if name == "f1" else None)
    _flag_quality(errors, f1_a, quality)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        errors.flag(
            train_a < 0, "training_cost", "Training cost cannot be negative — got {v:g}.", train_a
        )
        errors.flag(
            infer_a < 0,
            "inference_cost",
            "Inference cost cannot be negative — got {v:g}.",
            infer_a,
        )
        total_cost = train_a + infer_a
        errors.flag(
            total_cost == 0,
            "training_cost",
            "Total cost (training + inference) is 0 — CER needs a cost above 0.",
        )
        errors.flag(
            np.isinf(total_cost),
            "training_cost",
            "Total cost (training + inference) is too large to add up — check the costs.",
        )
        errors.flag(
            hours_a <= 0,
            "training_hours",
            "Training time (hours) must be above 0 — got {v:g}.",
            hours_a,
        )
        errors.flag(lat_a <= 0, "latency_ms", "Latency (ms) must be above 0 — got {v:g}.", lat_a)
        # A valid but tiny divisor (1e-320 hours) overflows, or makes a ratio that sums of
        # the history would (two TERs of 1.76e308 average to inf): say which input did it.
        errors.flag(
            f1_a / hours_a > MAX_RATIO,
            "training_hours",
            "Training time (hours) is too small — got {v:g}.",
            hours_a,
        )
        errors.flag(
            f1_a / lat_a > MAX_RATIO,
            "latency_ms",
            "Latency (ms) is too small — got {v:g}.",
            lat_a,
        )
        errors.flag(
            f1_a / total_cost > MAX_RATIO,
            "training_cost",
            "Total cost is too small — got {v:g}.",
            total_cost,
        )
    errors.flag(~errors.bad, "f1", "This row cannot be scored.")  # never expected
    return errors


def _flag_quality(errors: _RowErrors, f1_a: FloatArray, quality: str) -> None:
    """A quality outside [0, 1]; a percentage is read as one (93 is 0.93?)."""
    with np.errstate(invalid="ignore"):
        errors.flag(
            (f1_a > 1) & (f1_a <= 100),
            "f1",
            quality + " must be between 0 and 1 — did you mean {v:.2f}?",
            f1_a / 100,
        )
        errors.flag(
            (f1_a < 0) | (f1_a > 100), "f1", quality + " must be between 0 and 1 — got {v:g}.", f1_a
        )


def quality_value(value: Any, label: str = LABELS["f1"]) -> float:
    """A quality as a person gives it, checked: a number from 0 to 1.

    >>> quality_value("0.93", "Accuracy")
    0.93
    >>> quality_value(93, "Accuracy")
    Traceback (most recent call last):
    ...
    mlprod.errors.InvalidInput: Accuracy must be between 0 and 1 — did you mean 0.93?
    """
    number = _scalar("f1", value, label)
    errors = _RowErrors(1)
    _flag_not_finite(errors, "f1", np.array([number]), label)
    _flag_quality(errors, np.array([number]), label)
    if errors.bad[0]:
        raise InvalidInput("f1", str(errors.message[0]))
    return number


def _scalar(field: str, value: Any, label: str | None = None) -> float:
    """A person's input as a float, or InvalidInput naming the field."""
    label = label or LABELS[field]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(field, f"{label} is missing — enter a number.")
    if isinstance(value, bool):
        raise InvalidInput(field, f"{label} must be a number, not {value}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(field, f"{label} must be a number — got {value!r}.") from None
    if math.isnan(number):
        raise InvalidInput(field, f"{label} is not a number (NaN) — enter a number.")
    return number


def calculate(
    f1: float,
    training_cost: float,
    inference_cost: float,
    training_hours: float,
    latency_ms: float,
    *,
    quality: str = LABELS["f1"],
) -> Ratios:
    """CER, TER and PSR of one run (``quality`` names the first input in messages).

    CER = F1 / (training_cost + inference_cost); TER = F1 / training_hours;
    PSR = F1 / latency_ms.

    Parameters
    ----------
    f1 : float
        F1 score between 0 and 1.
    training_cost, inference_cost : float
        Costs in one currency (not negative, not both zero).
    training_hours : float
        Training time in hours (above 0).
    latency_ms : float
        Inference latency in milliseconds (above 0).

    Returns
    -------
    Ratios

    Raises
    ------
    InvalidInput
        Naming the first field that is missing, not a number, or out of range.

    Examples
    --------
    >>> calculate(0.90, 1000, 200, 10, 50)
    Ratios(cer=0.00075, ter=0.09, psr=0.018)
    """
    values = {
        name: _scalar(name, value, quality if name == "f1" else None)
        for name, value in zip(
            INPUT_FIELDS,
            (f1, training_cost, inference_cost, training_hours, latency_ms),
            strict=True,
        )
    }
    scored = score_arrays(**values, quality=quality)
    if not scored.ok[0]:
        raise InvalidInput(str(scored.error_field[0]), str(scored.error[0]))
    return Ratios(cer=float(scored.cer[0]), ter=float(scored.ter[0]), psr=float(scored.psr[0]))


F1Parts = tuple[FloatArray, npt.NDArray[np.object_], npt.NDArray[np.object_]]


def f1_arrays_from_precision_recall(precision: Any, recall: Any) -> F1Parts:
    """F1 = 2PR / (P + R) for many rows.

    Returns ``(f1, error, error_field)``; F1 is NaN where ``error`` is set.

    Precision and recall of 0 give F1 0.

    >>> f1, err, _ = f1_arrays_from_precision_recall([0.9, 1.5], [0.9, 0.5])
    >>> float(f1[0]), err[1]
    (0.9, 'Precision must be between 0 and 1 — got 1.5.')
    """
    p = _as_float_array(precision)
    r = _as_float_array(recall)
    errors = _RowErrors(len(p))
    for name, arr in (("precision", p), ("recall", r)):
        _flag_not_finite(errors, name, arr)
        with np.errstate(invalid="ignore"):
            errors.flag(
                (arr < 0) | (arr > 1),
                name,
                LABELS[name] + " must be between 0 and 1 — got {v:g}.",
                arr,
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        total = p + r
        f1 = np.where(total > 0, 2 * p * r / np.where(total > 0, total, 1), 0.0)
    f1 = np.where(errors.bad, np.nan, round_significant(f1))
    return f1, errors.message, errors.field


def f1_arrays_from_counts(tp: Any, fp: Any, fn: Any) -> F1Parts:
    """F1 = 2TP / (2TP + FP + FN) for many rows; returns ``(f1, error, error_field)``.

    >>> f1, err, _ = f1_arrays_from_counts([90, 0], [10, 0], [10, 0])
    >>> float(f1[0]), err[1]
    (0.9, 'F1 is undefined with no positives at all (TP, FP and FN are all 0).')
    """
    counts = {"tp": _as_float_array(tp), "fp": _as_float_array(fp), "fn": _as_float_array(fn)}
    errors = _RowErrors(len(counts["tp"]))
    for name, arr in counts.items():
        _flag_not_finite(errors, name, arr)
        with np.errstate(invalid="ignore"):
            errors.flag(arr < 0, name, LABELS[name] + " cannot be negative — got {v:g}.", arr)
            errors.flag(
                arr != np.floor(arr),
                name,
                LABELS[name] + " must be a whole number — got {v:g}.",
                arr,
            )
    denominator = 2 * counts["tp"] + counts["fp"] + counts["fn"]
    errors.flag(
        denominator == 0,
        "tp",
        "F1 is undefined with no positives at all (TP, FP and FN are all 0).",
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = 2 * counts["tp"] / denominator
    f1 = np.where(errors.bad, np.nan, round_significant(f1))
    return f1, errors.message, errors.field


def _one(parts: F1Parts) -> float:
    f1, error, field = parts
    if error[0] is not None:
        raise InvalidInput(str(field[0]), str(error[0]))
    return float(f1[0])


def f1_from_precision_recall(precision: float, recall: float) -> float:
    """F1 = 2 * precision * recall / (precision + recall), both between 0 and 1.

    Raises
    ------
    InvalidInput
        When precision or recall is missing or outside [0, 1].

    >>> f1_from_precision_recall(0.9, 0.9)
    0.9
    """
    p, r = _scalar("precision", precision), _scalar("recall", recall)
    return _one(f1_arrays_from_precision_recall(p, r))


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """F1 = 2TP / (2TP + FP + FN) from confusion counts.

    Raises
    ------
    InvalidInput
        When a count is missing, negative or fractional, or all three are 0.

    >>> f1_from_counts(90, 10, 10)
    0.9
    """
    values = {name: _scalar(name, v) for name, v in (("tp", tp), ("fp", fp), ("fn", fn))}
    return _one(f1_arrays_from_counts(**values))


def resolve_f1(
    f1: float | None = None,
    *,
    precision: float | None = None,
    recall: float | None = None,
    tp: float | None = None,
    fp: float | None = None,
    fn: float | None = None,
) -> float:
    """F1 from whichever was given: F1 itself, precision and recall, or TP/FP/FN counts.

    Raises
    ------
    InvalidInput
        When none of the three is given completely, or the one given is invalid.

    >>> resolve_f1(precision=0.9, recall=0.9), resolve_f1(tp=90, fp=10, fn=10)
    (0.9, 0.9)
    """
    if f1 is not None:
        return _scalar("f1", f1)
    if precision is not None or recall is not None:
        return f1_from_precision_recall(precision, recall)  # type: ignore[arg-type]
    if tp is not None or fp is not None or fn is not None:
        return f1_from_counts(tp, fp, fn)  # type: ignore[arg-type]
    raise InvalidInput(
        "f1", "F1 score is missing — give F1, or precision and recall, or TP/FP/FN counts."
    )
