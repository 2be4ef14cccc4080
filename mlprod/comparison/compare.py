"""Model A vs model B: differences, the winner of each ratio, a verdict and break-evens.

Pure functions over two (or more) runs. "Better" always means a higher ratio. A ratio
whose values differ by less than the tie band (relative to the larger) is a tie.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from mlprod.comparison.noise import Noise, lead_interval, weighted_interval
from mlprod.costs.modes import INFERENCE_FIELDS
from mlprod.errors import InvalidInput
from mlprod.formatting import format_money, format_number, format_ratio
from mlprod.metrics import RunInputs
from mlprod.quality import F1, Metric, metric_of

__all__ = [
    "CLASSIC_TRADE_OFF",
    "RATIO_NAMES",
    "Comparison",
    "RatioResult",
    "Run",
    "assumptions_table",
    "compare",
    "comparison_table",
    "run_from_row",
    "told_apart",
]

RATIO_NAMES = {
    "cer": "cost efficiency",
    "ter": "time efficiency",
    "psr": "speed efficiency",
}
WEIGHT_NAMES = {"cer": "cost", "ter": "time", "psr": "speed"}


@dataclass(frozen=True)
class Run(RunInputs):
    """One side of a comparison: a run's inputs with its name, from the history, a batch
    or by hand."""

    name: str = field(default="run", kw_only=True)
    currency: str = field(default="USD", kw_only=True)
    calculation_id: int | None = field(default=None, kw_only=True)
    created_at: str | None = field(default=None, kw_only=True)
    #: Where its costs came from (GPU prices, traffic, tokens), when they were built.
    assumptions: dict[str, Any] = field(
        default_factory=dict, compare=False, hash=False, kw_only=True
    )
    #: The run-to-run spread of its group (other seeds of the same model), when known.
    noise: Noise | None = field(default=None, compare=False, hash=False, kw_only=True)
    #: The quality its ``f1`` holds (:mod:`mlprod.quality`): F1 unless scored on another.
    metric: Metric = field(default=F1, kw_only=True)
    #: The energy its training used and its carbon, where measured (CodeCarbon).
    energy_kwh: float | None = field(default=None, kw_only=True)
    co2_kg: float | None = field(default=None, kw_only=True)
    #: The run's own name or id in its tracker, where it has one (its ``name`` is the model's).
    run_name: str | None = field(default=None, kw_only=True)

    @property
    def per_kwh(self) -> float | None:
        """Its quality per kWh of training energy; None where the energy is unknown."""
        return self.f1 / self.energy_kwh if self.energy_kwh else None

    @property
    def quality(self) -> str:
        """What its quality is called in a sentence: ``F1``, ``Accuracy``, ``1 − WER``."""
        return self.metric.score_label


#: The trade-off every team argues about: a light model vs a heavy, slightly better one.
CLASSIC_TRADE_OFF = (
    Run(0.97, 400.0, 100.0, 6.0, 20.0, name="light-distilled"),
    Run(0.99, 45_000.0, 5_000.0, 200.0, 500.0, name="heavy-ensemble"),
)


@dataclass(frozen=True)
class RatioResult:
    """One ratio of A and B: the values, B - A, B / A - 1, and who wins."""

    ratio: str
    a: float
    b: float
    diff: float
    pct: float | None  # None when A's value is 0
    winner: str  # "A", "B" or "tie"
    times: float  # how many times better the winner is (1.0 for a tie)
    #: 90% interval of log(B / A) over other seeds, when a side has a spread.
    interval: tuple[float, float] | None = None
    within_noise: bool = False  # a lead the spread between runs could give: a tie


@dataclass
class Comparison:
    a: Run
    b: Run
    ratios: dict[str, RatioResult]
    weights: dict[str, float]
    tie_band: float
    weighted_log_advantage: float  # > 0 favours B, < 0 favours A
    recommended: str  # "A", "B" or "tie"
    verdict: str
    key_numbers: list[str] = field(default_factory=list)
    break_evens: list[str] = field(default_factory=list)
    #: The weighted advantage's 90% interval over other seeds; inside it, no winner.
    interval: tuple[float, float] | None = None
    within_noise: bool = False
    f1_interval: tuple[float, float] | None = None  # of B - A
    #: The energy of both trainings in words, where either was measured.
    energy: str | None = None


def _winner(a: float, b: float, tie_band: float) -> tuple[str, float]:
    high, low = max(a, b), min(a, b)
    if high == 0 or (high - low) / high <= tie_band:
        return "tie", 1.0
    times = high / low if low > 0 else math.inf
    return ("A" if a > b else "B"), times


def _times(x: float) -> str:
    if math.isinf(x):
        return "infinitely"
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def compare(
    a: Run,
    b: Run,
    *,
    weights: dict[str, float] | None = None,
    tie_band: float = 0.02,
) -> Comparison:
    """Compare two runs and recommend one.

    Parameters
    ----------
    a, b : Run
        The two candidates.
    weights : dict, optional
        Importance of ``cer`` (cost), ``ter`` (time) and ``psr`` (speed); equal by default.
    tie_band : float
        Relative difference under which a ratio is a tie (0.02 = 2%).

    Returns
    -------
    Comparison
        The recommendation follows the weighted geometric mean of B/A over the three
        ratios: B when it is above 1 + tie band, A when below 1 / (1 + tie band).

    Examples
    --------
    >>> c = compare(*CLASSIC_TRADE_OFF)
    >>> c.recommended, c.ratios["cer"].winner
    ('A', 'A')
    >>> c.key_numbers[0]
    'heavy-ensemble buys +0.02 F1 for +$49,500: $24,750 per 0.01 F1.'
    """
    weights = _checked_weights(weights)
    if a.metric.key != b.metric.key:
        raise InvalidInput(
            "metric",
            f"A ({a.name}) is scored on {a.metric.score_label} and B ({b.name}) on "
            f"{b.metric.score_label}: ratios of different quality metrics cannot be compared. "
            "Pick two runs scored on the same metric.",
        )
    if not 0 <= tie_band < 1:
        raise InvalidInput("tie_band", "The tie band must be between 0 and 1 (0.02 = 2%).")
    results = _ratio_results(a, b, tie_band)
    advantage = _weighted_advantage(results, weights)
    band = math.log1p(tie_band)
    recommended = "B" if advantage > band else "A" if advantage < -band else "tie"
    comparison = Comparison(a, b, results, weights, tie_band, advantage, recommended, verdict="")
    comparison.interval = weighted_interval(
        a.ratios.as_dict(), b.ratios.as_dict(), a.noise, b.noise, weights
    )
    comparison.f1_interval = lead_interval(a.f1, b.f1, a.noise, b.noise, "f1")
    if recommended != "tie" and _holds_zero(comparison.interval):
        comparison.recommended, comparison.within_noise = "tie", True
    comparison.verdict = _verdict(comparison)
    comparison.key_numbers = _key_numbers(a, b)
    if comparison.f1_interval is not None and round(a.f1 - b.f1, 9):
        comparison.key_numbers.insert(1, _f1_gap(a, b, comparison.f1_interval))
    if (priced := _priced_apart(a, b)) is not None:
        comparison.key_numbers.append(priced)
    comparison.energy = _energy_said(a, b)
    comparison.break_evens = _break_evens(comparison)
    return comparison


def _checked_weights(weights: dict[str, float] | None) -> dict[str, float]:
    weights = {k: float(v) for k, v in (weights or {"cer": 1, "ter": 1, "psr": 1}).items()}
    if any(w < 0 or not math.isfinite(w) for w in weights.values()):
        raise InvalidInput("weights", "Weights must be finite and not negative.")
    return weights


def _holds_zero(interval: tuple[float, float] | None) -> bool:
    """Whether a lead's interval over other seeds holds no lead at all."""
    return interval is not None and interval[0] <= 0 <= interval[1]


def _ratio_results(a: Run, b: Run, tie_band: float) -> dict[str, RatioResult]:
    """Each ratio of A and B with its winner; a lead inside run-to-run spread is a tie."""
    ra, rb = a.ratios, b.ratios
    results = {}
    for name in ("cer", "ter", "psr"):
        va, vb = getattr(ra, name), getattr(rb, name)
        winner, times = _winner(va, vb, tie_band)
        interval = lead_interval(va, vb, a.noise, b.noise, name)
        noisy = winner != "tie" and _holds_zero(interval)
        if noisy:
            winner, times = "tie", 1.0
        results[name] = RatioResult(
            name, va, vb, vb - va, (vb / va - 1) if va else None, winner, times, interval, noisy
        )
    return results


def _weighted_advantage(results: dict[str, RatioResult], weights: dict[str, float]) -> float:
    """The weighted mean of log(B / A) over the ratios: > 0 favours B."""
    total_weight = sum(weights.get(k, 0) for k in results)
    if total_weight <= 0:
        return 0.0
    advantage = 0.0
    for name, r in results.items():
        if r.a > 0 and r.b > 0:  # log(b) - log(a): no overflow for tiny values
            advantage += weights.get(name, 0) * (math.log(r.b) - math.log(r.a))
        elif r.a != r.b:  # one side scores 0 (F1 of 0): the other wins outright
            advantage += weights.get(name, 0) * (50.0 if r.b > r.a else -50.0)
    return advantage / total_weight


def _f1_gap(a: Run, b: Run, interval: tuple[float, float]) -> str:
    """The F1 gap against run-to-run spread, in words that agree with the interval: "larger
    than run-to-run spread" exactly when the interval of B − A over other seeds holds no
    zero, each end shown with the digits that keep its sign (never "+0.000" for a lead).

    >>> a, b = Run(0.80, 1, 1, 1, 1, name="a"), Run(0.8188, 1, 1, 1, 1, name="b")
    >>> print(_f1_gap(a, b, (0.00031, 0.036)).split(";")[0])
    The F1 gap of 0.0188 (B ahead) is larger than run-to-run spread: over other seeds B − A falls between +0.00031 and +0.036 (90%), all on B's side
    """  # noqa: E501
    low, high = interval
    ahead = "A" if a.f1 > b.f1 else "B"
    said = (
        f"The {a.quality} gap of {format_ratio(abs(b.f1 - a.f1), 3)} ({ahead} ahead) is "
        + ("within run-to-run spread" if _holds_zero(interval) else "larger than run-to-run spread")
        + f": over other seeds B − A falls between {_signed(low)} and {_signed(high)} (90%), "
        + ("zero included" if _holds_zero(interval) else f"all on {'B' if low > 0 else 'A'}'s side")
    )
    return f"{said}; {_spread_of(a)}; {_spread_of(b)}."


def _pricing_of(run: Run) -> str | None:
    """How a run's GPU hours were priced (``AWS spot, 25% off list``); None when its
    training cost was not priced from GPU hours."""
    got = run.assumptions.get
    if not _given(got("price_kind")):
        return None
    if got("price_kind") in ("override", "your price"):
        return "your own price per GPU-hour"
    off = (
        f", {got('price_discount'):.0%} off list"
        if _given(got("price_discount")) and (got("price_discount"))
        else ""
    )
    return f"{got('price_provider') or 'an unnamed provider'} {got('price_kind')}{off}"


def _priced_apart(a: Run, b: Run) -> str | None:
    """A sentence when A's and B's GPU hours were priced differently (another provider,
    spot against on-demand, another discount): part of the cost gap is then the price's.

    >>> aws = Run(0.9, 1, 1, 1, 1, name="t4", assumptions={"price_kind": "on-demand",
    ...           "price_provider": "AWS"})
    >>> lam = Run(0.9, 1, 1, 1, 1, name="a100", assumptions={"price_kind": "on-demand",
    ...           "price_provider": "Lambda"})
    >>> print(_priced_apart(aws, lam))
    Priced differently: A's GPU hours at AWS on-demand, B's at Lambda on-demand — part of the cost gap is the price, not the model.
    """  # noqa: E501
    pa_, pb = _pricing_of(a), _pricing_of(b)
    if pa_ is None or pb is None or pa_ == pb:
        return None
    return (
        f"Priced differently: A's GPU hours at {pa_}, B's at {pb} — part of the cost gap is "
        "the price, not the model."
    )


def _energy_said(a: Run, b: Run) -> str | None:
    """Quality per kWh of both, where measured; never a guess for the side without.

    >>> print(_energy_said(Run(0.9, 1, 1, 1, 1, name="a", energy_kwh=2.0, co2_kg=0.5),
    ...                    Run(0.8, 1, 1, 1, 1, name="b", energy_kwh=8.0)))
    Energy: a used 2 kWh (0.5 kg CO2e), b 8 kWh: 0.45 F1 per kWh against 0.1 — a gives 4.5× the F1 per kWh.
    """  # noqa: E501
    if a.energy_kwh is None and b.energy_kwh is None:
        return None
    per_a, per_b = a.per_kwh, b.per_kwh
    if per_a is None or per_b is None:
        known, unknown = (a, b) if per_a is not None else (b, a)
        return (
            f"Energy: only {known.name}'s was measured ({format_ratio(known.energy_kwh or 0, 4)} "
            f"kWh); {unknown.name}'s is unknown, so their energy is not compared."
        )

    def used(run: Run) -> str:
        carbon = f" ({format_ratio(run.co2_kg, 3)} kg CO2e)" if run.co2_kg is not None else ""
        return f"{format_ratio(run.energy_kwh or 0, 4)} kWh{carbon}"

    better = a if per_a >= per_b else b
    times = max(per_a, per_b) / min(per_a, per_b) if min(per_a, per_b) > 0 else math.inf
    return (
        f"Energy: {a.name} used {used(a)}, {b.name} {used(b)}: "
        f"{format_ratio(per_a, 3)} {a.quality} per kWh against {format_ratio(per_b, 3)}"
        f" — {better.name} gives {_times(times)} the {a.quality} per kWh."
    )


def _signed(x: float) -> str:
    """A signed number with the digits that keep it apart from zero."""
    return "0" if x == 0 else ("+" if x > 0 else "-") + format_ratio(abs(x), 2)


def _spread_of(run: Run) -> str:
    if run.noise is None:
        return f"{run.name}: one run, no spread known"
    if run.noise.draws > 1:  # a group's mean: its name says which group
        return f"{run.name}: the mean of its runs"
    return f"{run.name}: one of {run.noise.runs} runs of {run.noise.group}"


def _verdict(c: Comparison) -> str:
    if c.within_noise:
        return _within_spread(c)
    if c.recommended == "tie":
        return (
            f"Too close to call: {c.a.name} and {c.b.name} are within "
            f"{c.tie_band:.0%} of each other on the weighted ratios — decide on {c.a.quality} "
            f"({format_ratio(c.a.f1, 3)} vs {format_ratio(c.b.f1, 3)}) or other criteria."
        )
    win, lose = (c.a, c.b) if c.recommended == "A" else (c.b, c.a)
    return _why_chosen(c, win) + _f1_given_or_gained(win, lose) + _weights_said(c.weights) + "."


def _within_spread(c: Comparison) -> str:
    low, high = c.interval or (0.0, 0.0)
    return (
        f"Within run-to-run spread — not a real difference: the weighted lead of "
        f"{'B' if c.weighted_log_advantage > 0 else 'A'} "
        f"({math.expm1(abs(c.weighted_log_advantage)):.0%}) is inside what other seeds "
        f"give (90% interval of B vs A: {math.expm1(low):+.0%} to {math.expm1(high):+.0%}; "
        f"{_spread_of(c.a)}; {_spread_of(c.b)}). Run more seeds, or decide on other "
        "criteria."
    )


def _why_chosen(c: Comparison, win: Run) -> str:
    """ "Choose A, name: it gives 3× the cost efficiency (it trails on speed efficiency)"."""
    letter = c.recommended
    weighed = [r for r in c.ratios.values() if c.weights.get(r.ratio, 0)]
    better = [r for r in weighed if r.winner == letter]
    worse = [r for r in weighed if r.winner not in (letter, "tie")]
    reasons = ", ".join(f"{_times(r.times)} the {RATIO_NAMES[r.ratio]}" for r in better)
    sentence = f"Choose {letter}, {win.name}: " + (
        f"it gives {reasons}" if reasons else "it is ahead on the weighted ratios"
    )
    if worse:
        sentence += " (it trails on " + ", ".join(RATIO_NAMES[r.ratio] for r in worse) + ")"
    return sentence


def _f1_given_or_gained(win: Run, lose: Run) -> str:
    gap = win.f1 - lose.f1
    if gap < 0:
        return f", giving up {format_ratio(-gap, 3)} {win.quality} against {lose.name}"
    if gap > 0:
        return f", and it is {format_ratio(gap, 3)} {win.quality} more accurate"
    return ""


def _weights_said(weights: dict[str, float]) -> str:
    named = {WEIGHT_NAMES[k]: v for k, v in weights.items()}
    if len(set(named.values())) > 1:
        return " (weights: " + ", ".join(f"{k} {v:g}" for k, v in named.items()) + ")"
    return ""


def _key_numbers(a: Run, b: Run) -> list[str]:
    """What a reviewer asks: the price of accuracy, in money and in latency."""
    currency = a.currency
    q = a.quality
    if round(a.f1 - b.f1, 9) == 0:  # no F1 point between them to price
        cheaper, dearer = (a, b) if a.total_cost <= b.total_cost else (b, a)
        saving = format_money(dearer.total_cost - cheaper.total_cost, currency)
        out = [f"Same {q} ({format_ratio(a.f1, 3)}): {cheaper.name} costs {saving} less."]
    else:
        acc, other = (a, b) if a.f1 > b.f1 else (b, a)
        gain = acc.f1 - other.f1
        extra = acc.total_cost - other.total_cost
        points = round(gain / 0.01, 9)
        if extra > 0:
            out = [
                f"{acc.name} buys +{format_ratio(gain, 3)} {q} for "
                f"+{format_money(extra, currency)}: "
                f"{format_money(extra / points, currency)} per 0.01 {q}."
            ]
        elif extra < 0:
            out = [
                f"{acc.name} is {format_ratio(gain, 3)} {q} more accurate and "
                f"{format_money(-extra, currency)} cheaper: no trade-off on cost."
            ]
        else:
            out = [f"{acc.name} is {format_ratio(gain, 3)} {q} more accurate at the same cost."]
        slower = acc.latency_ms - other.latency_ms
        if slower > 0:
            out.append(
                f"The +{format_ratio(gain, 3)} {q} costs +{format_ratio(slower, 4)} ms of latency "
                f"({_times(acc.latency_ms / other.latency_ms)} slower): "
                f"{format_ratio(slower / points, 3)} ms per 0.01 {q}."
            )
        elif slower < 0:
            out.append(f"{acc.name} is also {format_ratio(-slower, 4)} ms faster.")
        else:
            out.append(f"Both answer in {format_ratio(acc.latency_ms, 4)} ms.")
    hours = b.training_hours - a.training_hours
    if hours:
        longer, shorter = (b, a) if hours > 0 else (a, b)
        out.append(
            f"{longer.name} trains {format_ratio(abs(hours), 4)} h longer "
            f"({format_ratio(longer.training_hours, 4)} h vs "
            f"{format_ratio(shorter.training_hours, 4)} h)."
        )
    return out


def _break_evens(c: Comparison) -> list[str]:
    """For each ratio won outright: how far the winner's input can move before it loses."""
    out = []
    for name, r in c.ratios.items():
        if r.winner == "tie":
            continue
        win, lose_value = (c.a, r.b) if r.winner == "A" else (c.b, r.a)
        letter = r.winner
        if lose_value <= 0:
            continue
        if name == "cer":
            limit = win.f1 / lose_value - win.training_cost
            if limit > win.inference_cost:
                now = format_money(win.inference_cost, win.currency)
                out.append(
                    f"{letter} wins on CER unless its inference cost exceeds "
                    f"{format_money(limit, win.currency)} (now {now})."
                )
        elif name == "ter":
            now = format_ratio(win.training_hours, 3)
            out.append(
                f"{letter} wins on TER unless its training time exceeds "
                f"{format_ratio(win.f1 / lose_value, 3)} h (now {now} h)."
            )
        else:
            now = format_ratio(win.latency_ms, 3)
            out.append(
                f"{letter} wins on PSR unless its latency exceeds "
                f"{format_ratio(win.f1 / lose_value, 3)} ms (now {now} ms)."
            )
    return out


# -- the table -----------------------------------------------------------------------------


def comparison_table(comparison: Comparison) -> pd.DataFrame:
    """Inputs and ratios of A and B, B - A, B vs A in %, and the winner of each ratio."""
    a, b = comparison.a, comparison.b
    rows = [
        (a.quality, a.f1, b.f1, ""),
        (f"Training cost ({a.currency})", a.training_cost, b.training_cost, ""),
        (f"Inference cost ({a.currency})", a.inference_cost, b.inference_cost, ""),
        (f"Total cost ({a.currency})", a.total_cost, b.total_cost, ""),
        ("Training time (hours)", a.training_hours, b.training_hours, ""),
        ("Latency (ms)", a.latency_ms, b.latency_ms, ""),
    ]
    if a.energy_kwh is not None or b.energy_kwh is not None:  # where measured
        nan = float("nan")

        def known(value: float | None) -> float:
            return nan if value is None else value

        rows += [
            ("Energy (kWh)", known(a.energy_kwh), known(b.energy_kwh), ""),
            ("CO2e (kg)", known(a.co2_kg), known(b.co2_kg), ""),
            (f"{a.quality} per kWh", known(a.per_kwh), known(b.per_kwh), ""),
        ]
    for name, result in comparison.ratios.items():
        winner = {"A": f"A · {a.name}", "B": f"B · {b.name}", "tie": "tie"}[result.winner]
        if result.within_noise:
            winner = "within run-to-run spread"
        rows.append((name.upper(), result.a, result.b, winner))
    frame = pd.DataFrame(rows, columns=["measure", "A", "B", "winner"])
    frame["B - A"] = frame["B"] - frame["A"]
    frame["B vs A (%)"] = (frame["B"] / frame["A"] - 1).where(frame["A"] != 0) * 100
    return frame[["measure", "A", "B", "B - A", "B vs A (%)", "winner"]]


def run_from_row(row: Any) -> Run:
    """A history or batch row (a mapping or a pandas row) as a :class:`Run`."""
    get = row.get
    name = next(
        (get(key) for key in ("model_name", "run_name", "run_id") if _given(get(key))), "run"
    )
    own = next((get(key) for key in ("run_name", "run_id") if _given(get(key))), None)
    created = get("created_at")
    identifier = get("id")
    return Run(
        *RunInputs.of(row).values(),
        name=str(name),
        currency=str(get("currency") or "USD"),
        calculation_id=None if identifier is None or pd.isna(identifier) else int(identifier),
        created_at=str(created)[:16] if created is not None else None,
        assumptions={name: get(name) for name in ASSUMPTION_LABELS if _given(get(name))},
        metric=metric_of(get("metric") if _given(get("metric")) else None),
        energy_kwh=float(get("energy_kwh")) if _given(get("energy_kwh")) else None,
        co2_kg=float(get("co2_kg")) if _given(get("co2_kg")) else None,
        run_name=None if own is None or str(own) == name else str(own),
    )


def told_apart(*runs: Run) -> list[Run]:
    """The runs named so that no two read the same: two runs of one model (the usual
    comparison of a tuning) are named ``model · run name`` (or ``model · run ID`` where
    the run has no name of its own).

    >>> [r.name for r in told_apart(Run(0.9, 1, 1, 1, 1, name="bert", run_name="lr-3e-5"),
    ...                             Run(0.8, 1, 1, 1, 1, name="bert", calculation_id=7),
    ...                             Run(0.7, 1, 1, 1, 1, name="gpt"))]
    ['bert · lr-3e-5', 'bert · run 7', 'gpt']
    """
    shared = Counter(run.name for run in runs)
    out = []
    for run in runs:
        detail = run.run_name or (
            f"run {run.calculation_id}" if run.calculation_id is not None else None
        )
        if shared[run.name] > 1 and detail:
            run = replace(run, name=f"{run.name} · {detail}")
        out.append(run)
    return out


def _given(value: Any) -> bool:
    """Not None, NaN or NaT."""
    return value is not None and not (pd.api.types.is_scalar(value) and pd.isna(value))


#: The cost assumptions a reviewer reads, in the order they read them.
ASSUMPTION_LABELS = {
    "gpu_model": "GPU",
    "gpu_count": "GPUs",
    "gpu_hours": "Hours per GPU",
    "gpu_hours_total": "GPU-hours (GPUs × hours)",
    "price_per_gpu_hour": "Price per GPU-hour",
    "price_kind": "Price",
    "price_discount": "Discount off list",
    "price_provider": "Provider",
    "price_as_of": "Price as of",
    "extra_costs": "Extra training costs",
    "inference_mode": "Inference from",
    **{name: field.label for name, field in INFERENCE_FIELDS.items()},
    "llm_provider": "LLM provider",
    "llm_batch_discount": "LLM batch discount",
    "llm_prices_as_of": "LLM prices as of",
    "serving_price_kind": "Serving price",
    "serving_provider": "Serving provider",
    "serving_price_as_of": "Serving price as of",
    "fx_rate": "Exchange rate (per USD)",
}


def _with_gpu_hours(assumed: dict[str, Any]) -> dict[str, Any]:
    """The assumptions with the GPU-hours they price (GPUs × hours per GPU)."""
    if _given(assumed.get("gpu_count")) and _given(assumed.get("gpu_hours")):
        return assumed | {"gpu_hours_total": assumed["gpu_count"] * assumed["gpu_hours"]}
    return assumed


def assumptions_table(comparison: Comparison) -> pd.DataFrame | None:
    """The cost assumptions of A and B side by side, or None when neither has any."""
    a, b = (_with_gpu_hours(side.assumptions) for side in (comparison.a, comparison.b))
    names = [n for n in ASSUMPTION_LABELS if n in a or n in b]
    if not names:
        return None

    def shown(value: Any, name: str = "") -> str:
        if value is None:
            return "—"
        if name == "price_discount" and isinstance(value, float):
            return f"{value:.0%}"
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m-%d")
        if isinstance(value, float | int) and not isinstance(value, bool):
            return format_number(value, 6)
        return str(value)

    return pd.DataFrame(
        {
            "assumption": [ASSUMPTION_LABELS[n] for n in names],
            "A": [shown(a.get(n), n) for n in names],
            "B": [shown(b.get(n), n) for n in names],
        }
    )
