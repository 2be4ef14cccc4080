"""Numbers and words for people: ratio formatting, formulas with values, advice.

Pure functions shared by the calculator page and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlprod.config import CURRENCIES
from mlprod.metrics import Ratios
from mlprod.text import md, plain

__all__ = [
    "CURRENCIES",
    "REFERENCE_RATIOS",
    "Advice",
    "advice_for",
    "format_money",
    "format_ratio",
    "formulas",
    "md",
    "plain",
    "readable",
    "weakest_ratio",
]


#: The reference run (F1 0.90, $1,000 + $200, 10 h, 50 ms): the yardstick for "weakest".
REFERENCE_RATIOS = Ratios(cer=0.00075, ter=0.09, psr=0.018)


def format_ratio(value: float, digits: int = 4) -> str:
    """A ratio in plain positional notation with ``digits`` significant digits.

    >>> format_ratio(0.00075), format_ratio(0.018000000000000002), format_ratio(1234.5678)
    ('0.00075', '0.018', '1235')
    """
    if not np.isfinite(value):
        return "—"
    return np.format_float_positional(value, precision=digits, fractional=False, trim="-")


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


def _per_money_unit(cer: float, currency: str) -> str:
    # Pick the spend for which the F1 figure reads as an everyday number.
    for spend in (1, 1_000, 1_000_000, 1_000_000_000):
        if cer * spend >= 0.1:
            break
    return f"{format_ratio(cer * spend, 3)} F1 per {format_money(spend, currency)}"


def readable(ratios: Ratios, currency: str = "USD") -> dict[str, str]:
    """Each ratio as a sentence fragment a person can picture.

    >>> readable(Ratios(0.00075, 0.09, 0.018))["cer"]
    '0.75 F1 per $1,000'
    """
    return {
        "cer": _per_money_unit(ratios.cer, currency),
        "ter": f"{format_ratio(ratios.ter, 3)} F1 per training hour",
        "psr": f"{format_ratio(ratios.psr * 100, 3)} F1 points per ms of latency",
    }


def formulas(
    f1: float,
    training_cost: float,
    inference_cost: float,
    training_hours: float,
    latency_ms: float,
    ratios: Ratios,
    currency: str = "USD",
) -> dict[str, str]:
    """Each formula with the run's numbers filled in.

    >>> formulas(0.9, 1000, 200, 10, 50, Ratios(0.00075, 0.09, 0.018))["psr"]
    'PSR = F1 / latency (ms) = 0.9 / 50 = 0.018'
    """
    f = format_ratio(f1)
    return {
        "cer": (
            f"CER = F1 / (training cost + inference cost) = {f} / "
            f"({format_money(training_cost, currency)} + {format_money(inference_cost, currency)})"
            f" = {format_ratio(ratios.cer)}"
        ),
        "ter": f"TER = F1 / training hours = {f} / {format_ratio(training_hours)} = "
        f"{format_ratio(ratios.ter)}",
        "psr": f"PSR = F1 / latency (ms) = {f} / {format_ratio(latency_ms)} = "
        f"{format_ratio(ratios.psr)}",
    }


@dataclass(frozen=True)
class Advice:
    ratio: str
    headline: str
    actions: tuple[str, ...]


_ADVICE = {
    "cer": Advice(
        "cer",
        "Cost efficiency (CER) is your weakest ratio: each F1 point costs a lot.",
        (
            "Train on spot / preemptible instances with checkpointing (often 60-90% cheaper).",
            "Start from a pretrained checkpoint (transfer learning) instead of from scratch.",
            "Try a smaller architecture: a few tenths of F1 may cost a fraction of the money.",
            "Right-size inference hardware and autoscale it to traffic.",
        ),
    ),
    "ter": Advice(
        "ter",
        "Time efficiency (TER) is your weakest ratio: training takes long for the F1 it buys.",
        (
            "Use early stopping on a validation metric instead of a fixed epoch count.",
            "Run hyper-parameter search with early pruning (successive halving / ASHA).",
            "Train in mixed precision and make sure data loading keeps the GPUs busy.",
        ),
    ),
    "psr": Advice(
        "psr",
        "Speed (PSR) is your weakest ratio: predictions are slow for the F1 they give.",
        (
            "Quantize the model (int8 / fp16) for faster inference.",
            "Distil it into a smaller student model.",
            "Prune, batch requests, and serve with an optimised runtime (ONNX Runtime, TensorRT).",
        ),
    ),
}


def weakest_ratio(ratios: Ratios, reference: Ratios = REFERENCE_RATIOS) -> str:
    """The ratio furthest below the reference run, relatively: ``"cer"``, ``"ter"`` or ``"psr"``.

    The three ratios have different units, so each is compared with the same ratio of a
    reference run; the smallest share is the weakest.

    >>> weakest_ratio(Ratios(cer=0.00075, ter=0.09, psr=0.002))
    'psr'
    """
    shares = {
        name: getattr(ratios, name) / getattr(reference, name) for name in ("cer", "ter", "psr")
    }
    return min(shares, key=lambda name: shares[name])


def advice_for(ratios: Ratios, reference: Ratios = REFERENCE_RATIOS) -> Advice:
    """What to try first, for the weakest ratio.

    When the three are within 5% of each other (relative to the reference run) none is
    weakest; cost is then the lever most teams can pull soonest.

    >>> advice_for(Ratios(cer=0.00075, ter=0.09, psr=0.002)).actions[0]
    'Quantize the model (int8 / fp16) for faster inference.'
    >>> advice_for(REFERENCE_RATIOS).headline.startswith("Your three ratios are in balance")
    True
    """
    shares = [getattr(ratios, n) / getattr(reference, n) for n in ("cer", "ter", "psr")]
    if min(shares) > 0 and max(shares) / min(shares) < 1.05:
        cost = _ADVICE["cer"]
        return Advice(
            "cer",
            "Your three ratios are in balance against the reference run; cost is usually "
            "the quickest lever.",
            cost.actions,
        )
    return _ADVICE[weakest_ratio(ratios, reference)]
