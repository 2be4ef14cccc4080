"""Seed noise: is a lead larger than the spread between runs of the same model?

Two runs of one model with different seeds can differ by more than the "winning" margin.
A *group* is runs that repeat one training (:data:`GROUP_RULE`; scoring tags them, see
:mod:`mlprod.ingest.seeds`). A side of a comparison is either one run (its spread
is the group's run-to-run spread) or a group's mean (its spread is the bootstrap spread of
that mean, narrower with more runs).

:func:`lead_interval` answers with a bootstrap 90% interval of B's lead over A in log
terms (a ratio) or in F1 points: when the interval holds 0, the lead is within
run-to-run spread. The bootstrap is seeded, so a page shows the same answer every time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "GROUP_RULE",
    "MEASURES",
    "Noise",
    "lead_interval",
    "spread_table",
    "weighted_interval",
]

MEASURES = ("f1", "cer", "ter", "psr")
#: What a group of runs is, in the words every page and command says it.
GROUP_RULE = (
    "A group is runs that repeat one training: tagged group=NAME, the children of one "
    "MLflow parent run, or runs that differ only in a seed parameter (seed, random_state, …)."
)
REPLICATES = 4000
LEVEL = 0.90


@dataclass(frozen=True)
class Noise:
    """What a side's spread is made of: each run's values in its group, and how many of
    them its shown value averages (1: one run; ``n``: the group's mean)."""

    group: str
    values: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    draws: int = 1

    @property
    def runs(self) -> int:
        return len(next(iter(self.values.values()), ()))

    @classmethod
    def of(cls, group: str, frame: pd.DataFrame, *, mean: bool) -> Noise | None:
        """A group's runs (columns f1, cer, ter, psr) as noise; None under two runs."""
        if len(frame) < 2:
            return None
        values = {m: tuple(float(v) for v in frame[m]) for m in MEASURES}
        return cls(group, values, draws=len(frame) if mean else 1)


def _replicates(
    shown: float, noise: Noise | None, measure: str, rng: np.random.Generator
) -> np.ndarray:
    """The side's value as it might have come out with other seeds (``REPLICATES`` draws).

    A ratio is scaled (it stays positive); F1 is shifted."""
    if noise is None or noise.runs < 2:
        return np.full(REPLICATES, shown)
    values = np.asarray(noise.values[measure], dtype=float)
    picks = _means(values, noise.draws, rng)
    centre = values.mean()
    if measure == "f1":
        return picks - centre + shown
    return picks * (shown / centre) if centre > 0 else np.full(REPLICATES, shown)


#: Past this many runs per mean, the mean of a resample is drawn from its normal limit
#: (mean, sd / sqrt(draws)) instead of resampled run by run: the two agree to the third
#: digit there, and resampling thousands of runs 4,000 times was felt on every page view.
EXACT_DRAWS = 30


def _means(values: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """``REPLICATES`` means of ``draws`` runs drawn (with replacement) from ``values``."""
    if draws <= EXACT_DRAWS:
        return values[rng.integers(0, len(values), size=(REPLICATES, draws))].mean(axis=1)
    spread = values.std() / np.sqrt(draws)  # the bootstrap's own sd (population sd of values)
    return values.mean() + spread * rng.standard_normal(REPLICATES)


def _lead(a: np.ndarray, b: np.ndarray, measure: str) -> np.ndarray:
    if measure == "f1":
        return b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(b) - np.log(a)


def lead_interval(
    a: float, b: float, a_noise: Noise | None, b_noise: Noise | None, measure: str
) -> tuple[float, float] | None:
    """The bootstrap 90% interval of B's lead over A: ``log(B / A)`` for a ratio, ``B - A``
    for F1; None when neither side has a spread to go by.

    >>> a = Noise("a", {"cer": (1.0, 1.2, 0.8, 1.1, 0.9)})
    >>> low, high = lead_interval(1.0, 1.05, a, None, "cer")
    >>> low < 0 < high  # 5% ahead, with runs spread ±20%: within run-to-run spread
    True
    >>> low, high = lead_interval(1.0, 2.0, a, None, "cer")
    >>> low > 0  # twice as good: a real difference
    True
    """
    if not ((a_noise and a_noise.runs >= 2) or (b_noise and b_noise.runs >= 2)):
        return None
    rng = np.random.default_rng(17)
    lead = _lead(
        _replicates(a, a_noise, measure, rng), _replicates(b, b_noise, measure, rng), measure
    )
    lead = lead[np.isfinite(lead)]
    if lead.size == 0:
        return None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(lead, [tail, 100 - tail])
    return float(low), float(high)


def weighted_interval(
    a: Mapping[str, float],
    b: Mapping[str, float],
    a_noise: Noise | None,
    b_noise: Noise | None,
    weights: Mapping[str, float],
) -> tuple[float, float] | None:
    """The 90% interval of the weighted mean of ``log(B / A)`` over the three ratios (the
    comparison's advantage), each replicate drawing the same runs for every ratio."""
    if not ((a_noise and a_noise.runs >= 2) or (b_noise and b_noise.runs >= 2)):
        return None
    total = sum(weights.get(k, 0) for k in ("cer", "ter", "psr"))
    if total <= 0 or min(*a.values(), *b.values()) <= 0:
        return None
    advantage = np.zeros(REPLICATES)
    for name in ("cer", "ter", "psr"):
        rng = np.random.default_rng(17)  # the same draws (runs) for each ratio
        lead = _lead(
            _replicates(a[name], a_noise, name, rng),
            _replicates(b[name], b_noise, name, rng),
            name,
        )
        advantage += weights.get(name, 0) * lead
    advantage /= total
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(advantage, [tail, 100 - tail])
    return float(low), float(high)


def spread_table(noise: Mapping[str, Noise | None]) -> pd.DataFrame | None:
    """Per side: n, mean, min–max and the 90% interval of each measure's mean."""
    rows = []
    for side, one in noise.items():
        if one is None:
            continue
        rng = np.random.default_rng(17)
        for measure in MEASURES:
            values = np.asarray(one.values[measure], dtype=float)
            means = _means(values, len(values), rng)
            low, high = np.percentile(means, [5, 95])
            rows.append(
                {
                    "side": side,
                    "group": one.group,
                    "measure": measure.upper(),
                    "runs": len(values),
                    "mean": values.mean(),
                    "min": values.min(),
                    "max": values.max(),
                    "mean 90% low": low,
                    "mean 90% high": high,
                }
            )
    return pd.DataFrame(rows) if rows else None
