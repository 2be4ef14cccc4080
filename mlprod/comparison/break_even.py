"""Break-even traffic: at what traffic does the cheaper (or more cost-efficient) side flip?

One side pays per request or per token (an API), the other pays for GPUs that serve all
month whatever the traffic. Each side's total cost is a :class:`CostCurve` of the traffic
``T`` in requests per month::

    cost(T) = fixed + per_request × T + replica_cost × max(1, ⌈T / capacity⌉)

(the last term only for serving whose replicas follow from traffic). Total costs are equal
where ``cost_A(T) = cost_B(T)``; CERs (F1 / cost) are equal where
``F1_B × cost_A(T) = F1_A × cost_B(T)``. Both are piecewise linear, so every crossing is
found exactly, interval by interval (:func:`crossings`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlprod.formatting import format_money, format_ratio

__all__ = ["BreakEven", "CostCurve", "break_even", "cost_curve", "crossings", "traffic_now"]

#: How far past today's traffic the search goes (a crossing further out is no answer).
SEARCH_SPAN = 1000.0
#: Step points of a replica curve searched one by one; past that, only the first and last.
MAX_STEPS = 20_000


@dataclass(frozen=True)
class CostCurve:
    """A side's total cost (training + inference over the horizon) against traffic."""

    fixed: float
    per_request: float = 0.0
    replica_cost: float = 0.0  # one replica over the horizon
    capacity: float | None = None  # requests per month one replica serves
    how: str = "fixed"  # "fixed", "per request", "per token", "serving", "serving, scaled"

    def at(self, traffic: float | np.ndarray) -> Any:
        """The total cost at ``traffic`` requests per month (a number or an array).

        >>> CostCurve(100, 0.001).at(50_000)
        150.0
        >>> CostCurve(0, replica_cost=500, capacity=1e6).at(np.array([0, 1e6, 1.5e6]))
        array([ 500.,  500., 1000.])
        """
        t = np.asarray(traffic, dtype=float)
        cost = self.fixed + self.per_request * t
        if self.capacity:
            cost = cost + self.replica_cost * np.maximum(1, np.ceil(np.round(t / self.capacity, 9)))
        return float(cost) if cost.ndim == 0 else cost

    @property
    def scales(self) -> bool:
        return self.per_request > 0 or bool(self.capacity and self.replica_cost)

    def scaled(self, weight: float) -> CostCurve:
        return CostCurve(
            self.fixed * weight,
            self.per_request * weight,
            self.replica_cost * weight,
            self.capacity,
            self.how,
        )

    def replicas(self, traffic: float) -> int:
        """Replicas serving ``traffic`` (0 when the curve has none that follow traffic)."""
        if not (self.capacity and self.replica_cost):
            return 0
        return max(1, math.ceil(round(traffic / self.capacity, 9)))

    def steps(self, upto: float) -> np.ndarray:
        """Traffic where a replica is added, up to ``upto``."""
        if not (self.capacity and self.replica_cost):
            return np.empty(0)
        count = min(int(upto // self.capacity), MAX_STEPS)
        return self.capacity * np.arange(1, count + 1)


def _value(assumed: Mapping[str, Any], name: str) -> float | None:
    value = assumed.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def traffic_now(*assumed: Mapping[str, Any]) -> float | None:
    """Today's traffic (requests per month) as the sides' cost assumptions state it."""
    for one in assumed:
        value = _value(one, "requests_per_month")
        if value is not None and value > 0:
            return value
    return None


def cost_curve(
    training_cost: float, inference_cost: float, assumed: Mapping[str, Any], traffic: float
) -> CostCurve:
    """A side's curve from its costs and how the inference cost was built.

    Tokens per month become a cost per request at the traffic the side's own assumptions
    state, else at ``traffic`` (today's requests per month). A typed inference cost (no
    assumptions) does not follow traffic.

    >>> cost_curve(1000, 200, {"inference_mode": "requests", "requests_per_month": 2e6,
    ...                        "cost_per_1k_requests": 0.1, "months": 1}, 2e6).at(4e6)
    1400.0
    """
    mode = assumed.get("inference_mode")
    months = _value(assumed, "months") or 1.0
    if mode == "requests":
        per_1k = _value(assumed, "cost_per_1k_requests") or 0.0
        return CostCurve(training_cost, per_1k / 1000 * months, how="per request")
    stated = _value(assumed, "requests_per_month")
    served = stated if stated and stated > 0 else traffic
    if mode == "tokens" and served > 0:
        per_month = inference_cost / months  # tokens × prices, per month at that traffic
        return CostCurve(training_cost, per_month / served * months, how="per token")
    capacity_rps = _value(assumed, "requests_per_s_per_replica")
    hours = _value(assumed, "hours_per_month")
    replicas = _value(assumed, "replicas")
    if mode == "serving" and capacity_rps and hours and replicas:
        per_replica = inference_cost / replicas
        return CostCurve(
            training_cost,
            replica_cost=per_replica,
            capacity=capacity_rps * 3600 * hours,
            how="serving, scaled",
        )
    return CostCurve(
        training_cost + inference_cost, how="serving" if mode == "serving" else "fixed"
    )


def crossings(a: CostCurve, b: CostCurve, upto: float) -> list[float]:
    """Every traffic in (0, ``upto``] where ``a`` and ``b`` swap order (exact: the
    difference is linear between step points).

    >>> crossings(CostCurve(0, 0.002), CostCurve(1000), 1e7)  # 0.002 × T = 1000
    [500000.0]
    >>> crossings(CostCurve(10), CostCurve(20), 1e7)
    []
    """
    points = np.unique(np.concatenate([[0.0], a.steps(upto), b.steps(upto), [upto]]))
    found: list[float] = []
    before = 0.0  # the sign of a - b just left of ``low``
    for low, high in itertools.pairwise(points):
        # Inside (low, high] both curves are linear, with the replicas they have at ``high``.
        base = (
            a.fixed
            + a.replica_cost * a.replicas(high)
            - b.fixed
            - b.replica_cost * b.replicas(high)
        )
        slope = a.per_request - b.per_request
        start, end = base + slope * low, base + slope * high
        # Equal within rounding counts as equal: a step that only meets the other curve
        # (a replica whose cost brings B up to A) is no swap.
        tol = 1e-9 * max(1.0, abs(base), abs(slope * high))
        s, e = (0.0 if abs(v) <= tol else float(np.sign(v)) for v in (start, end))
        if before and low > 0 and (s == -before or (s == 0 and e == -before)):
            found.append(float(low))  # a replica added at ``low`` swapped them
        if s * e < 0:
            found.append(float(low - start / slope))
        if e:
            before = e
    return sorted({round(x, 6) for x in found if 0 < x <= upto})


@dataclass
class BreakEven:
    """Where two sides' total costs and CERs meet, in words and as a chart's data."""

    traffic: float  # today's requests per month
    traffic_given: bool  # False: assumed, no side states it
    cost_at: list[float] = field(default_factory=list)  # equal total cost
    cer_at: list[float] = field(default_factory=list)  # equal CER
    cheaper_now: str = "tie"  # "A", "B" or "tie"
    lines: list[str] = field(default_factory=list)
    curves: tuple[CostCurve, CostCurve] | None = None

    def frame(self, names: tuple[str, str]) -> pd.DataFrame:
        """Total cost of both sides from 0 to past the last crossing (for the chart)."""
        assert self.curves is not None
        last = max([self.traffic, *self.cost_at, *self.cer_at])
        grid = np.linspace(0, last * 2.2, 240)
        grid = np.unique(np.concatenate([grid, self.cost_at, [self.traffic]]))
        rows = [
            pd.DataFrame({"traffic": grid, "cost": curve.at(grid), "side": f"{letter} · {name}"})
            for letter, name, curve in zip("AB", names, self.curves, strict=True)
        ]
        return pd.concat(rows, ignore_index=True)


def _requests(value: float) -> str:
    for size, word in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{format_ratio(value / size, 4)}{word}"
    return f"{value:,.0f}"


def break_even(a: Any, b: Any, *, traffic: float | None = None) -> BreakEven | None:
    """The break-even traffic of two :class:`~mlprod.comparison.compare.Run` s, or None when neither
    side's cost depends on traffic (both typed, or both fixed GPUs).

    ``traffic``: today's requests per month (default: what a side's assumptions say).

    >>> from mlprod.comparison.compare import Run
    >>> api = Run(0.91, 0, 2000, 1, 900, name="api-70b", assumptions={
    ...     "inference_mode": "requests", "requests_per_month": 1e6, "cost_per_1k_requests": 2.0, "months": 1})
    >>> own = Run(0.90, 3000, 1168, 20, 120, name="ft-7b",
    ...           assumptions={"inference_mode": "serving"})
    >>> even = break_even(api, own)
    >>> even.cost_at, even.cheaper_now
    ([2084000.0], 'A')
    >>> even.lines[0]
    'Total cost is equal at 2.084M requests/month: below that A (api-70b) costs less, above it B (ft-7b). Today: 1M requests/month.'
    """  # noqa: E501
    now = traffic if traffic and traffic > 0 else traffic_now(a.assumptions, b.assumptions)
    given = now is not None
    now = now or 1_000_000.0
    curve_a = cost_curve(a.training_cost, a.inference_cost, a.assumptions, now)
    curve_b = cost_curve(b.training_cost, b.inference_cost, b.assumptions, now)
    if not (curve_a.scales or curve_b.scales):
        return None
    upto = now * SEARCH_SPAN
    result = BreakEven(now, given, curves=(curve_a, curve_b))
    result.cost_at = crossings(curve_a, curve_b, upto)
    result.cer_at = crossings(curve_a.scaled(b.f1), curve_b.scaled(a.f1), upto)
    cost_a, cost_b = curve_a.at(now), curve_b.at(now)
    result.cheaper_now = "A" if cost_a < cost_b else "B" if cost_b < cost_a else "tie"
    names = {"A": f"A ({a.name})", "B": f"B ({b.name})"}
    today = f"Today: {_requests(now)} requests/month" + ("" if given else " (assumed)") + "."
    if not result.cost_at:
        cheaper = "A" if curve_a.at(upto) < curve_b.at(upto) else "B"
        result.lines.append(
            f"No break-even up to {_requests(upto)} requests/month: {names[cheaper]} costs "
            f"less at every traffic. {today}"
        )
    elif len(result.cost_at) == 1:
        x = result.cost_at[0]
        first = "A" if curve_a.at(x / 2) < curve_b.at(x / 2) else "B"
        other = "B" if first == "A" else "A"
        result.lines.append(
            f"Total cost is equal at {_requests(x)} requests/month: below that "
            f"{names[first]} costs less, above it {names[other]}. {today}"
        )
    else:
        shown = ", ".join(_requests(x) for x in result.cost_at[:6])
        result.lines.append(
            f"Total costs cross {len(result.cost_at)} times (replicas added with traffic): at "
            f"{shown} requests/month. {today} {names[result.cheaper_now] if result.cheaper_now != 'tie' else 'Neither'} "  # noqa: E501
            f"costs less today ({format_money(min(cost_a, cost_b), a.currency)})."
        )
    if result.cer_at:
        x = result.cer_at[0]
        result.lines.append(
            f"CERs are equal at {_requests(x)} requests/month "
            f"({a.quality} {format_ratio(a.f1, 3)} vs {format_ratio(b.f1, 3)})."
        )
    return result
