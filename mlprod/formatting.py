"""Numbers and formulas for people: ratios in plain notation, money with its currency,
each ratio in words, each formula with the run's numbers filled in."""

from __future__ import annotations

import numpy as np

from mlprod.config import CURRENCIES
from mlprod.metrics import Ratios, RunInputs
from mlprod.quality import F1, Metric

__all__ = ["format_money", "format_number", "format_ratio", "formulas", "readable"]


def format_ratio(value: float, digits: int = 4) -> str:
    """A ratio in plain positional notation with ``digits`` significant digits.

    >>> format_ratio(0.00075), format_ratio(0.018000000000000002), format_ratio(1234.5678)
    ('0.00075', '0.018', '1235')
    """
    if not np.isfinite(value):
        return "—"
    return np.format_float_positional(value, precision=digits, fractional=False, trim="-")


def format_number(value: float, digits: int = 4) -> str:
    """A number in a table: :func:`format_ratio`'s significant digits, the whole part
    grouped in thousands.

    >>> format_number(600_000_000), format_number(1037.2), format_number(-0.0004998)
    ('600,000,000', '1,037', '-0.0004998')
    """
    text = format_ratio(value, digits)
    whole, dot, fraction = text.partition(".")
    if not whole.lstrip("-").isdigit():
        return text
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}{dot}{fraction}"


def format_money(amount: float, currency: str = "USD") -> str:
    """An amount with its currency symbol and thousands separators.

    Whole amounts and amounts from 1,000 up have no cents; small ones keep 3 digits.

    >>> format_money(1000), format_money(1234.6, "EUR"), format_money(0.125), format_money(-5)
    ('$1,000', '€1,235', '$0.125', '-$5')
    >>> format_money(24750.000000000004), format_money(12.5)
    ('$24,750', '$12.50')
    """
    symbol = CURRENCIES.get(currency, currency + " ")
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if not np.isfinite(amount):
        return f"{sign}{symbol}∞"
    if amount >= 1000 or abs(amount - round(amount)) < 1e-9 * max(1.0, amount):
        return f"{sign}{symbol}{amount:,.0f}"
    if amount >= 1:
        return f"{sign}{symbol}{amount:,.2f}"
    return f"{sign}{symbol}{format_ratio(amount, 3)}"


def _per_money_unit(cer: float, currency: str, quality: str) -> str:
    # Pick the spend for which the quality figure reads as an everyday number.
    for spend in (1, 1_000, 1_000_000, 1_000_000_000):
        if cer * spend >= 0.1:
            break
    return f"{format_ratio(cer * spend, 3)} {quality} per {format_money(spend, currency)}"


def readable(ratios: Ratios, currency: str = "USD", metric: Metric = F1) -> dict[str, str]:
    """Each ratio as a sentence fragment a person can picture, in the run's metric.

    >>> readable(Ratios(0.00075, 0.09, 0.018))["cer"]
    '0.75 F1 per $1,000'
    >>> from mlprod.quality import metric_named
    >>> readable(Ratios(0.00075, 0.09, 0.018), metric=metric_named("accuracy"))["ter"]
    '0.09 Accuracy per training hour'
    """
    quality = metric.quantity
    return {
        "cer": _per_money_unit(ratios.cer, currency, quality),
        "ter": f"{format_ratio(ratios.ter, 3)} {metric.per('training hour')}",
        "psr": f"{format_ratio(ratios.psr * 100, 3)} {quality} points per ms of latency",
    }


def formulas(run: RunInputs, currency: str = "USD", metric: Metric = F1) -> dict[str, str]:
    """Each formula with the run's numbers filled in.

    >>> formulas(RunInputs(0.9, 1000, 200, 10, 50))["psr"]
    'PSR = F1 / latency (ms) = 0.9 / 50 = 0.018'
    """
    ratios = run.ratios
    f1, training_cost, inference_cost, training_hours, latency_ms = run.values()
    f = format_ratio(f1)
    q = metric.quantity
    return {
        "cer": (
            f"CER = {q} / (training cost + inference cost) = {f} / "
            f"({format_money(training_cost, currency)} + {format_money(inference_cost, currency)})"
            f" = {format_ratio(ratios.cer)}"
        ),
        "ter": f"TER = {q} / training hours = {f} / {format_ratio(training_hours)} = "
        f"{format_ratio(ratios.ter)}",
        "psr": f"PSR = {q} / latency (ms) = {f} / {format_ratio(latency_ms)} = "
        f"{format_ratio(ratios.psr)}",
    }
