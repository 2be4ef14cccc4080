"""Model A vs model B: differences, the winner of each ratio, a verdict and break-evens.

Pure functions over two (or more) runs. "Better" always means a higher ratio. A ratio
whose values differ by less than the tie band (relative to the larger) is a tie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlprod.errors import BadLink, InvalidInput
from mlprod.explain import format_money, format_ratio
from mlprod.metrics import Ratios, calculate

__all__ = [
    "CLASSIC_TRADE_OFF",
    "RATIO_NAMES",
    "Comparison",
    "Link",
    "RatioResult",
    "Run",
    "assumptions_table",
    "compare",
    "comparison_table",
    "parse_extra",
    "parse_side",
    "parse_tie_band",
    "parse_weights",
    "read_link",
    "run_from_row",
    "side_param",
    "weights_param",
]

RATIO_NAMES = {
    "cer": "cost efficiency",
    "ter": "time efficiency",
    "psr": "speed efficiency",
}
WEIGHT_NAMES = {"cer": "cost", "ter": "time", "psr": "speed"}


@dataclass(frozen=True)
class Run:
    """One side of a comparison: a model's run, from the history, a batch or by hand."""

    name: str
    f1: float
    training_cost: float
    inference_cost: float
    training_hours: float
    latency_ms: float
    currency: str = "USD"
    calculation_id: int | None = None
    created_at: str | None = None
    #: Where its costs came from (GPU prices, traffic, tokens), when they were built.
    assumptions: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def total_cost(self) -> float:
        return self.training_cost + self.inference_cost

    @property
    def ratios(self) -> Ratios:
        """CER, TER and PSR (raises InvalidInput for impossible values)."""
        return calculate(
            self.f1, self.training_cost, self.inference_cost, self.training_hours, self.latency_ms
        )


#: The trade-off every team argues about: a light model vs a heavy, slightly better one.
CLASSIC_TRADE_OFF = (
    Run("light-distilled", 0.97, 400.0, 100.0, 6.0, 20.0),
    Run("heavy-ensemble", 0.99, 45_000.0, 5_000.0, 200.0, 500.0),
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
    weights = {k: float(v) for k, v in (weights or {"cer": 1, "ter": 1, "psr": 1}).items()}
    if any(w < 0 or not math.isfinite(w) for w in weights.values()):
        raise InvalidInput("weights", "Weights must be finite and not negative.")
    if not 0 <= tie_band < 1:
        raise InvalidInput("tie_band", "The tie band must be between 0 and 1 (0.02 = 2%).")
    ra, rb = a.ratios, b.ratios
    results = {}
    for name in ("cer", "ter", "psr"):
        va, vb = getattr(ra, name), getattr(rb, name)
        winner, times = _winner(va, vb, tie_band)
        results[name] = RatioResult(
            name, va, vb, vb - va, (vb / va - 1) if va else None, winner, times
        )

    total_weight = sum(weights.get(k, 0) for k in results)
    advantage = 0.0
    if total_weight > 0:
        for name, r in results.items():
            if r.a > 0 and r.b > 0:  # log(b) - log(a): no overflow for tiny values
                advantage += weights.get(name, 0) * (math.log(r.b) - math.log(r.a))
            elif r.a != r.b:  # one side scores 0 (F1 of 0): the other wins outright
                advantage += weights.get(name, 0) * (50.0 if r.b > r.a else -50.0)
        advantage /= total_weight
    band = math.log1p(tie_band)
    recommended = "B" if advantage > band else "A" if advantage < -band else "tie"
    comparison = Comparison(a, b, results, weights, tie_band, advantage, recommended, verdict="")
    comparison.verdict = _verdict(comparison)
    comparison.key_numbers = _key_numbers(a, b)
    comparison.break_evens = _break_evens(comparison)
    return comparison


def _verdict(c: Comparison) -> str:
    if c.recommended == "tie":
        return (
            f"Too close to call: {c.a.name} and {c.b.name} are within "
            f"{c.tie_band:.0%} of each other on the weighted ratios — decide on F1 "
            f"({format_ratio(c.a.f1, 3)} vs {format_ratio(c.b.f1, 3)}) or other criteria."
        )
    win, lose = (c.a, c.b) if c.recommended == "A" else (c.b, c.a)
    letter = c.recommended
    better = [r for r in c.ratios.values() if r.winner == letter and c.weights.get(r.ratio, 0)]
    worse = [
        r for r in c.ratios.values() if r.winner not in (letter, "tie") and c.weights.get(r.ratio)
    ]
    reasons = ", ".join(f"{_times(r.times)} the {RATIO_NAMES[r.ratio]}" for r in better)
    sentence = f"Choose {letter}, {win.name}: it gives {reasons}" if reasons else (
        f"Choose {letter}, {win.name}: it is ahead on the weighted ratios"
    )  # fmt: skip
    if worse:
        sentence += " (it trails on " + ", ".join(RATIO_NAMES[r.ratio] for r in worse) + ")"
    gap = win.f1 - lose.f1
    if gap < 0:
        sentence += f", giving up {format_ratio(-gap, 3)} F1 against {lose.name}"
    elif gap > 0:
        sentence += f", and it is {format_ratio(gap, 3)} F1 more accurate"
    weights = {WEIGHT_NAMES[k]: v for k, v in c.weights.items()}
    if len(set(weights.values())) > 1:
        sentence += " (weights: " + ", ".join(f"{k} {v:g}" for k, v in weights.items()) + ")"
    return sentence + "."


def _key_numbers(a: Run, b: Run) -> list[str]:
    """What a reviewer asks: the price of accuracy, in money and in latency."""
    currency = a.currency
    if round(a.f1 - b.f1, 9) == 0:  # no F1 point between them to price
        cheaper, dearer = (a, b) if a.total_cost <= b.total_cost else (b, a)
        saving = format_money(dearer.total_cost - cheaper.total_cost, currency)
        out = [f"Same F1 ({format_ratio(a.f1, 3)}): {cheaper.name} costs {saving} less."]
    else:
        acc, other = (a, b) if a.f1 > b.f1 else (b, a)
        gain = acc.f1 - other.f1
        extra = acc.total_cost - other.total_cost
        points = round(gain / 0.01, 9)
        if extra > 0:
            out = [f"{acc.name} buys +{format_ratio(gain, 3)} F1 for "
                   f"+{format_money(extra, currency)}: "
                   f"{format_money(extra / points, currency)} per 0.01 F1."]  # fmt: skip
        elif extra < 0:
            out = [f"{acc.name} is {format_ratio(gain, 3)} F1 more accurate and "
                   f"{format_money(-extra, currency)} cheaper: no trade-off on cost."]  # fmt: skip
        else:
            out = [f"{acc.name} is {format_ratio(gain, 3)} F1 more accurate at the same cost."]
        slower = acc.latency_ms - other.latency_ms
        if slower > 0:
            out.append(
                f"The +{format_ratio(gain, 3)} F1 costs +{format_ratio(slower, 4)} ms of latency "
                f"({_times(acc.latency_ms / other.latency_ms)} slower): "
                f"{format_ratio(slower / points, 3)} ms per 0.01 F1."
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


# -- the table and the permalink -----------------------------------------------------------


def comparison_table(comparison: Comparison) -> pd.DataFrame:
    """Inputs and ratios of A and B, B - A, B vs A in %, and the winner of each ratio."""
    a, b = comparison.a, comparison.b
    rows = [
        ("F1", a.f1, b.f1, ""),
        (f"Training cost ({a.currency})", a.training_cost, b.training_cost, ""),
        (f"Inference cost ({a.currency})", a.inference_cost, b.inference_cost, ""),
        (f"Total cost ({a.currency})", a.total_cost, b.total_cost, ""),
        ("Training time (hours)", a.training_hours, b.training_hours, ""),
        ("Latency (ms)", a.latency_ms, b.latency_ms, ""),
    ]
    for name, result in comparison.ratios.items():
        winner = {"A": f"A · {a.name}", "B": f"B · {b.name}", "tie": "tie"}[result.winner]
        rows.append((name.upper(), result.a, result.b, winner))
    frame = pd.DataFrame(rows, columns=["measure", "A", "B", "winner"])
    frame["B - A"] = frame["B"] - frame["A"]
    frame["B vs A (%)"] = (frame["B"] / frame["A"] - 1).where(frame["A"] != 0) * 100
    return frame[["measure", "A", "B", "B - A", "B vs A (%)", "winner"]]


_RUN_FIELDS = ("f1", "training_cost", "inference_cost", "training_hours", "latency_ms")


def side_param(side: int | Run) -> str:
    """A side of the comparison as a URL parameter: a history id, or a hand-entered run.

    >>> side_param(42), side_param(Run("light", 0.97, 400, 100, 6, 20))
    ('42', 'light~0.97~400~100~6~20')
    """
    if isinstance(side, int):
        return str(side)
    values = [format_ratio(getattr(side, f), 12) for f in _RUN_FIELDS]
    return "~".join([side.name.replace("~", "-"), *values])


def parse_side(text: str) -> int | Run:
    """The inverse of :func:`side_param`.

    Raises
    ------
    BadLink
        When the text is neither an id nor ``name~f1~training~inference~hours~latency``.

    >>> parse_side("42"), parse_side("light~0.97~400~100~6~20").latency_ms
    (42, 20.0)
    """
    text = text.strip()
    if len(text) > 500:
        raise BadLink("The run in the link is too long to be one.")
    if text.isdigit():
        if len(text) > 18:  # beyond any id the history hands out (a 64-bit integer)
            raise BadLink(f"There is no run {shorten_link(text)} in the history.")
        return int(text)
    parts = text.split("~")
    if len(parts) != 6:
        raise BadLink(f"Cannot read the run '{text}' from the link.")
    try:
        numbers = [float(p) for p in parts[1:]]
    except ValueError:
        raise BadLink(f"Cannot read the run '{text}' from the link.") from None
    return Run(parts[0] or "run", *numbers)


def weights_param(weights: dict[str, float]) -> str:
    """``cost,time,speed`` weights as a URL parameter."""
    return ",".join(f"{weights.get(k, 1):g}" for k in ("cer", "ter", "psr"))


def parse_weights(text: str) -> dict[str, float]:
    """The inverse of :func:`weights_param`; raises :class:`BadLink` on anything else.

    >>> parse_weights("2,1,0.5")
    {'cer': 2.0, 'ter': 1.0, 'psr': 0.5}
    """
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(not 0 <= p <= MAX_WEIGHT for p in parts):
        raise BadLink(
            f"Cannot read the weights '{shorten_link(text)}' from the link (three numbers "
            f"from 0 to {MAX_WEIGHT:g}, e.g. 2,1,1)."
        )
    return dict(zip(("cer", "ter", "psr"), parts, strict=True))


#: The compare page's slider ranges: a link cannot ask for more.
MAX_WEIGHT = 5.0
MAX_EXTRA_RUNS = 4


def shorten_link(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_extra(text: str) -> list[int]:
    """The extra runs of a link (``x=3,7``): up to :data:`MAX_EXTRA_RUNS` history ids.

    >>> parse_extra("3, 7"), parse_extra("")
    ([3, 7], [])
    """
    extra = [x.strip() for x in text.split(",") if x.strip()]
    if not all(x.isdigit() and len(x) <= 18 for x in extra):
        raise BadLink(f"Cannot read the extra runs '{shorten_link(text)}' from the link.")
    if len(extra) > MAX_EXTRA_RUNS:
        raise BadLink(
            f"The link asks for {len(extra):,} more runs; the charts take up to {MAX_EXTRA_RUNS}."
        )
    return [int(x) for x in extra]


@dataclass
class Link:
    """What a comparison link asks for, each part checked on its own: a bad part falls
    back to its default and says why in ``problems``; the others are kept."""

    sides: list[int | Run] | None = None
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_WEIGHTS, 1.0))
    tie_band: float = 2.0
    extra: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_WEIGHTS = ("cer", "ter", "psr")


def read_link(params: Any) -> Link:
    """A page's query parameters (``a``, ``b``, ``w``, ``tie``, ``x``) as a :class:`Link`.

    >>> link = read_link({"a": "3", "b": "4", "w": "9,1,1", "x": "1,2"})
    >>> link.sides, link.weights["cer"], link.extra, link.problems[0][:23]
    ([3, 4], 1.0, [1, 2], 'Cannot read the weights')
    """
    link = Link()
    readers: list[tuple[tuple[str, ...], Any]] = [
        (("a", "b"), lambda: [parse_side(params["a"]), parse_side(params["b"])]),
        (("w",), lambda: parse_weights(params["w"])),
        (("tie",), lambda: parse_tie_band(params["tie"])),
        (("x",), lambda: parse_extra(params["x"])),
    ]
    for keys, read in readers:
        if not all(k in params for k in keys):
            continue
        try:
            value = read()
        except BadLink as exc:
            link.problems.append(str(exc))
            continue
        name = {"a": "sides", "w": "weights", "tie": "tie_band", "x": "extra"}[keys[0]]
        setattr(link, name, value)
    return link


def parse_tie_band(text: str) -> float:
    """The tie band in percent from a link (``"2"`` is 2%); :class:`BadLink` otherwise.

    >>> parse_tie_band("2.5")
    2.5
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 20:
        raise BadLink(
            f"Cannot read the tie band '{shorten_link(text)}' from the link (a percent, 0-20)."
        )
    return value


def run_from_row(row: Any) -> Run:
    """A history or batch row (a mapping or a pandas row) as a :class:`Run`."""
    get = row.get
    name = get("model_name") or get("run_name") or get("run_id") or "run"
    created = get("created_at")
    identifier = get("id")
    return Run(
        name=str(name),
        f1=float(get("f1")),
        training_cost=float(get("training_cost")),
        inference_cost=float(get("inference_cost")),
        training_hours=float(get("training_hours")),
        latency_ms=float(get("latency_ms")),
        currency=str(get("currency") or "USD"),
        calculation_id=None if identifier is None or pd.isna(identifier) else int(identifier),
        created_at=str(created)[:16] if created is not None else None,
        assumptions={name: get(name) for name in ASSUMPTION_LABELS if _given(get(name))},
    )  # fmt: skip


def _given(value: Any) -> bool:
    """Not None, NaN or NaT."""
    return value is not None and not (pd.api.types.is_scalar(value) and pd.isna(value))


#: The cost assumptions a reviewer reads, in the order they read them.
ASSUMPTION_LABELS = {
    "gpu_model": "GPU", "gpu_count": "GPUs", "gpu_hours": "GPU hours",
    "price_per_gpu_hour": "Price per GPU-hour", "price_kind": "Price", "price_provider":
    "Provider", "price_as_of": "Price as of", "extra_costs": "Extra training costs",
    "inference_mode": "Inference from", "requests_per_month": "Requests per month",
    "cost_per_1k_requests": "Cost per 1,000 requests", "tokens_in_per_month": "Input tokens/month",
    "tokens_out_per_month": "Output tokens/month", "price_in_per_1m": "Price per 1M input tokens",
    "price_out_per_1m": "Price per 1M output tokens", "months": "Months of serving",
    "fx_rate": "Exchange rate (per USD)",
}  # fmt: skip


def assumptions_table(comparison: Comparison) -> pd.DataFrame | None:
    """The cost assumptions of A and B side by side, or None when neither has any."""
    a, b = comparison.a.assumptions, comparison.b.assumptions
    names = [n for n in ASSUMPTION_LABELS if n in a or n in b]
    if not names:
        return None

    def shown(value: Any) -> str:
        if value is None:
            return "—"
        if hasattr(value, "strftime"):
            return value.strftime("%Y-%m-%d")
        return format_ratio(value, 6) if isinstance(value, float) else str(value)

    return pd.DataFrame(
        {"assumption": [ASSUMPTION_LABELS[n] for n in names],
         "A": [shown(a.get(n)) for n in names], "B": [shown(b.get(n)) for n in names]}
    )  # fmt: skip
