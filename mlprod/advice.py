"""What to try first: the weakest of a run's three ratios, against the reference run, and
the actions that improve it."""

from __future__ import annotations

from dataclasses import dataclass

from mlprod.metrics import Ratios

__all__ = ["REFERENCE_RATIOS", "Advice", "advice_for", "weakest_ratio"]

#: The README's reference run, whose ratios are the yardstick for "weakest".
REFERENCE_RATIOS = Ratios(cer=0.00075, ter=0.09, psr=0.018)


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
            "Try a smaller architecture: a few hundredths of F1 less may cost a fraction as much.",
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
