"""A promotion gate for CI: does the candidate earn its place over the baseline?

The candidate is compared with the baseline (by default the run in production for its
model) exactly as Compare does; the gate's rules then say "promote" or "hold":

- the weighted verdict must choose the candidate;
- a difference inside run-to-run spread holds (unless the rules say otherwise);
- an optional minimum quality gain (F1 points), and maximum cost and latency increases.

A decision carries every reason, the comparison, and a Markdown comment for a pull request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlprod.comparison.compare import Comparison, Run, assumptions_table, comparison_table
from mlprod.errors import InvalidInput
from mlprod.formatting import format_number

__all__ = ["GateDecision", "GateRules", "decide", "rules_from"]


@dataclass(frozen=True)
class GateRules:
    """What a candidate must meet to be promoted (``None``: no such rule)."""

    min_quality_gain: float | None = None  # F1 points the candidate must gain
    max_cost_increase: float | None = None  # share: 0.1 lets the total cost grow 10%
    max_latency_increase: float | None = None  # share, as above
    weights: Mapping[str, float] = field(
        default_factory=lambda: {"cer": 1.0, "ter": 1.0, "psr": 1.0}
    )
    tie_band: float = 0.02
    spread_holds: bool = True  # a lead inside run-to-run spread is no reason to promote

    def describe(self) -> list[str]:
        """The rules in words, for the report."""
        said = [
            "weights cost {cer:g}, time {ter:g}, speed {psr:g}".format(**self.weights),
            f"tie band {self.tie_band:.0%}",
        ]
        if self.min_quality_gain is not None:
            said.append(f"quality gain at least {self.min_quality_gain:+g}")
        if self.max_cost_increase is not None:
            said.append(f"total cost up at most {self.max_cost_increase:.0%}")
        if self.max_latency_increase is not None:
            said.append(f"latency up at most {self.max_latency_increase:.0%}")
        if self.spread_holds:
            said.append("a difference inside run-to-run spread holds")
        return said


def rules_from(section: Mapping[str, Any], **given: Any) -> GateRules:
    """Rules from a ``[mlprod.gate]`` section, with ``given`` values (the command's
    options; ``None``: not given) over it. Percentages are given as percent.

    >>> rules_from({"max_cost_increase": 10}, min_quality_gain=0.01).max_cost_increase
    0.1
    """
    values = {**dict(section), **{k: v for k, v in given.items() if v is not None}}
    unknown = set(values) - {
        "min_quality_gain", "max_cost_increase", "max_latency_increase", "weights",
        "tie_band", "spread_holds",
    }  # fmt: skip
    if unknown:
        raise InvalidInput("gate", f"Unknown gate rule(s): {', '.join(sorted(unknown))}.")

    def share(name: str) -> float | None:
        value = values.get(name)
        if value is None:
            return None
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise InvalidInput(name, f"{name} must be a percentage of at least 0, got {value}.")
        return number / 100

    gain = values.get("min_quality_gain")
    weights = values.get("weights", {"cer": 1.0, "ter": 1.0, "psr": 1.0})
    if isinstance(weights, str):
        from mlprod.comparison.links import parse_weights

        weights = parse_weights(weights)
    return GateRules(
        min_quality_gain=None if gain is None else float(gain),
        max_cost_increase=share("max_cost_increase"),
        max_latency_increase=share("max_latency_increase"),
        weights=dict(weights),
        tie_band=(share("tie_band") if "tie_band" in values else None) or 0.02,
        spread_holds=bool(values.get("spread_holds", True)),
    )


@dataclass
class GateDecision:
    """Promote or hold, why, and the comparison behind it (A baseline, B candidate)."""

    promote: bool
    reasons: list[str]
    comparison: Comparison
    rules: GateRules
    link: str | None = None
    #: How each side is named where its model name is not enough ("run 42", "group:seeds")
    sides: tuple[str, str] = ("", "")

    @property
    def word(self) -> str:
        return "promote" if self.promote else "hold"

    def named(self, side: int) -> str:
        """The baseline (0) or the candidate (1), by its model and where it comes from."""
        run = (self.comparison.a, self.comparison.b)[side]
        where = self.sides[side]
        return f"{run.name} ({where})" if where and where != run.name else run.name

    def as_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "decision": self.word,
            "baseline": c.a.name,
            "candidate": c.b.name,
            "reasons": self.reasons,
            "verdict": c.verdict,
            "within_noise": c.within_noise,
            "ratios": {
                k: {"baseline": r.a, "candidate": r.b, "winner": r.winner}
                for k, r in c.ratios.items()
            },
            "f1": {"baseline": c.a.f1, "candidate": c.b.f1},
            "total_cost": {"baseline": c.a.total_cost, "candidate": c.b.total_cost},
            "latency_ms": {"baseline": c.a.latency_ms, "candidate": c.b.latency_ms},
            "rules": self.rules.describe(),
            "link": self.link,
        }

    def markdown(self) -> str:
        """A pull-request comment: the decision first, then why, the table, the
        assumptions and the link."""
        c = self.comparison
        head = "✅ Promote" if self.promote else "⏸️ Hold"
        lines = [
            f"## {head}: {_cell(self.named(1))} over {_cell(self.named(0))}",
            "",
            _cell(c.verdict),
            "",
        ]
        lines += [f"- {_cell(reason)}" for reason in self.reasons]
        lines += [
            "",
            "| measure | baseline | candidate | change | winner |",
            "|---|---:|---:|---:|---|",
        ]
        for row in comparison_table(c).itertuples(index=False):
            change = "" if math.isnan(row[4]) else f"{row[4]:+.1f}%"
            winner = str(row[5]).replace("A · ", "baseline · ").replace("B · ", "candidate · ")
            lines.append(
                f"| {_cell(row[0])} | {format_number(row[1], 4)} | {format_number(row[2], 4)} | "
                f"{change} | {_cell(winner)} |"
            )
        assumed = assumptions_table(c)
        if assumed is not None:
            lines += ["", "<details><summary>Cost assumptions</summary>", "",
                      "| assumption | baseline | candidate |", "|---|---|---|"]  # fmt: skip
            for row in assumed.itertuples(index=False):
                lines.append(f"| {_cell(row[0])} | {_cell(row[1])} | {_cell(row[2])} |")
            lines += ["", "</details>"]
        lines += ["", f"Rules: {'; '.join(self.rules.describe())}."]
        if self.link:
            lines += ["", f"[Open this comparison in mlprod]({self.link})"]
        return "\n".join(lines) + "\n"


def _cell(text: object) -> str:
    """Text as one inert Markdown table cell: no pipes, no markup, no line breaks."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for mark in ("*", "_", "`", "[", "]", "<", ">", "#"):
        out = out.replace(mark, "\\" + mark)
    return out


def decide(
    comparison: Comparison,
    rules: GateRules,
    link: str | None = None,
    sides: tuple[str, str] = ("", ""),
) -> GateDecision:
    """Promote the candidate (B) over the baseline (A), or hold, by ``rules``; ``sides``
    name where each comes from."""
    a, b = comparison.a, comparison.b
    reasons: list[str] = []
    chosen = comparison.recommended
    if comparison.within_noise:
        if rules.spread_holds:
            reasons.append("the difference is inside run-to-run spread")
        else:  # the lead as it stands, spread or not
            band = math.log1p(comparison.tie_band)
            lead = comparison.weighted_log_advantage
            chosen = "B" if lead > band else "A" if lead < -band else "tie"
    if chosen != "B" and not (comparison.within_noise and rules.spread_holds):
        reasons.append(
            "the weighted ratios do not choose the candidate"
            + (" (a tie)" if chosen == "tie" else f" ({a.name} is better)")
        )
    gain = b.f1 - a.f1
    if rules.min_quality_gain is not None and gain < rules.min_quality_gain - 1e-12:
        reasons.append(
            f"{b.quality} gain {gain:+.4g} is below the minimum {rules.min_quality_gain:+g}"
        )
    for name, rule, before, after in (
        ("total cost", rules.max_cost_increase, a.total_cost, b.total_cost),
        ("latency", rules.max_latency_increase, a.latency_ms, b.latency_ms),
    ):
        if rule is None or before <= 0:
            continue
        up = after / before - 1
        if up > rule + 1e-12:
            reasons.append(f"{name} up {up:.1%}, more than the {rule:.0%} allowed")
    promote = not reasons
    if promote:
        reasons.append(f"{b.name} beats {a.name} on the weighted ratios and meets every rule")
    return GateDecision(promote, reasons, comparison, rules, link, sides)


def baseline_needed(candidate: Run) -> str:
    """The message when no baseline is given and none is in production."""
    return (
        f"No baseline: nothing is marked in production for {candidate.name}. Give one with "
        "--baseline (a history id, group:NAME), or mark the run in production on the "
        "History page (or `mlprod production mark`)."
    )
