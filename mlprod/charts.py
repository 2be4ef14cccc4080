"""Altair chart builders: data in, ``alt.Chart`` out, one look everywhere.

The two headline models always wear the same colour-blind-safe pair (Okabe-Ito blue for
A, orange for B); extra runs take the next Okabe-Ito colours.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import date

import altair as alt
import pandas as pd

from mlprod.compare import Comparison, Run
from mlprod.explain import CURRENCIES, format_money, format_ratio

__all__ = [
    "A_COLOR",
    "B_COLOR",
    "FONT",
    "comparison_card",
    "inputs_chart",
    "inputs_frame",
    "ratio_chart",
    "ratio_frame",
    "run_labels",
]

A_COLOR, B_COLOR = "#0072B2", "#E69F00"
EXTRA_COLORS = ("#009E73", "#CC79A7", "#56B4E9", "#D55E00")
FONT = "Liberation Sans"
TEXT = "#1B2430"
LETTERS = "ABCDEF"
RATIO_LABELS = {"cer": "CER · cost", "ter": "TER · time", "psr": "PSR · speed"}


def _short(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def run_labels(runs: Sequence[Run]) -> list[str]:
    """``A · name``, ``B · name``, … — the legend and axis labels of every chart."""
    return [f"{LETTERS[i]} · {_short(run.name)}" for i, run in enumerate(runs)]


def _color_scale(labels: list[str]) -> alt.Scale:
    return alt.Scale(domain=labels, range=[A_COLOR, B_COLOR, *EXTRA_COLORS][: len(labels)])


def ratio_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run and ratio: the value and its share of the best run's (best = 100).

    >>> from mlprod.compare import CLASSIC_TRADE_OFF
    >>> ratio_frame(CLASSIC_TRADE_OFF).query("ratio == 'TER'")["index"].round(1).tolist()
    [100.0, 3.1]
    """
    labels = run_labels(runs)
    rows = []
    for label, run in zip(labels, runs, strict=True):
        ratios = run.ratios
        for key, name in RATIO_LABELS.items():
            value = getattr(ratios, key)
            rows.append({"run": label, "ratio": name.split(" ·")[0], "ratio_label": name,
                         "value": value, "shown": format_ratio(value)})  # fmt: skip
    frame = pd.DataFrame(rows)
    best = frame.groupby("ratio")["value"].transform("max")
    frame["index"] = (frame["value"] / best * 100).where(best > 0, 0.0)
    return frame


def inputs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run and input, with the value as a person reads it."""
    currency = runs[0].currency
    symbol = CURRENCIES.get(currency, currency).strip()
    inputs = {
        "F1": lambda r: r.f1,
        f"Total cost ({symbol})": lambda r: r.total_cost,
        "Training time (h)": lambda r: r.training_hours,
        "Latency (ms)": lambda r: r.latency_ms,
    }
    rows = []
    for label, run in zip(run_labels(runs), runs, strict=True):
        for name, get in inputs.items():
            value = get(run)
            shown = format_money(value, currency) if "cost" in name else format_ratio(value, 4)
            rows.append({"run": label, "input": name, "value": value, "shown": shown})
    return pd.DataFrame(rows)


def ratio_chart(
    frame: pd.DataFrame, *, title: str | None = None, width: int = 520, height: int = 300
) -> alt.Chart:
    """Ratios side by side, each scaled to the better run = 100 so CER, TER and PSR share
    one readable axis; the raw value is on the bar and in the tooltip."""
    labels = list(dict.fromkeys(frame["run"]))
    base = alt.Chart(frame).encode(
        x=alt.X("ratio:N", title=None, sort=["CER", "TER", "PSR"],
                axis=alt.Axis(labelAngle=0, labelFontSize=14, labelFontWeight="bold")),
        xOffset=alt.XOffset("run:N", sort=labels),
        y=alt.Y("index:Q", title="% of the better run (higher is better)",
                scale=alt.Scale(domain=[0, 112]), axis=alt.Axis(values=[0, 25, 50, 75, 100])),
        color=alt.Color("run:N", sort=labels, scale=_color_scale(labels),
                        legend=alt.Legend(title=None, orient="top", labelFontSize=13)),
        tooltip=[alt.Tooltip("run:N", title="Run"), alt.Tooltip("ratio_label:N", title="Ratio"),
                 alt.Tooltip("shown:N", title="Value"),
                 alt.Tooltip("index:Q", title="% of best", format=".1f")],
    )  # fmt: skip
    bars = base.mark_bar(cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
    chart = bars
    if len(labels) <= 2:  # values on bars collide beyond A and B; the tooltip has them
        chart = bars + base.mark_text(dy=-7, fontSize=12, color=TEXT).encode(text="shown:N")
    chart = chart.properties(width=width, height=height)
    return chart.properties(title=title) if title else chart


def inputs_chart(frame: pd.DataFrame, *, width: int = 120, height: int = 230) -> alt.FacetChart:
    """The raw inputs of each run side by side, one panel (with its own unit) per input."""
    labels = list(dict.fromkeys(frame["run"]))
    base = alt.Chart(frame).encode(
        x=alt.X("run:N", sort=labels, title=None, axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("value:Q", title=None, axis=alt.Axis(format="~s", tickCount=4, labelExpr=(
            "datum.value == 0 ? '0' : datum.label"))),
        color=alt.Color("run:N", sort=labels, scale=_color_scale(labels), legend=None),
        tooltip=[alt.Tooltip("run:N", title="Run"), alt.Tooltip("input:N", title="Input"),
                 alt.Tooltip("shown:N", title="Value")],
    )  # fmt: skip
    layered = base.mark_bar(cornerRadiusTopLeft=3, cornerRadiusTopRight=3)
    if len(labels) <= 2:
        layered += base.mark_text(dy=-7, fontSize=11, color=TEXT).encode(text="shown:N")
    return (
        layered.properties(width=width, height=height)
        .facet(
            column=alt.Column(
                "input:N",
                title=None,
                sort=list(dict.fromkeys(frame["input"])),
                header=alt.Header(labelFontSize=13, labelFontWeight="bold"),
            ),
        )
        .resolve_scale(y="independent")
    )


def _theme(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return chart.configure(font=FONT, background="white").configure_axis(
        labelFontSize=12, titleFontSize=13, labelColor=TEXT, titleColor=TEXT, grid=True,
        gridColor="#E6E9EF",
    ).configure_title(color=TEXT, anchor="start").configure_view(stroke=None)  # fmt: skip


def themed(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Any chart in the house style (fonts, colours of text and grid)."""
    return _theme(chart)


def comparison_card(
    comparison: Comparison, extras: Sequence[Run] = (), *, on: date | None = None
) -> alt.TopLevelMixin:
    """The screenshot-ready card: both models in the title, the verdict, the key numbers,
    the ratio chart and the inputs, dated. Sized for 1280x720 (export at 2x)."""
    runs = [comparison.a, comparison.b, *extras]
    day = (on or date.today()).isoformat()
    title_text = f"{_short(comparison.a.name, 40)} vs {_short(comparison.b.name, 40)}"

    def wrap(text: str) -> list[str]:
        return textwrap.wrap(text, 135, break_on_hyphens=False)

    lines = wrap(comparison.verdict)
    notes = [line for text in comparison.key_numbers[:2] for line in wrap(text)]
    # Heights leave room for a verdict of up to three lines inside 720 px.
    ratios = ratio_chart(ratio_frame(runs), width=560, height=488 - 19 * len(lines)).properties(
        title=alt.TitleParams("Productivity ratios, best run = 100", fontSize=15)
    )
    inputs = inputs_chart(inputs_frame(runs), width=105, height=428 - 19 * len(lines)).properties(
        title=alt.TitleParams("Inputs", fontSize=15)
    )
    card = alt.hconcat(ratios, inputs, spacing=40).properties(
        title=alt.TitleParams(
            title_text,
            subtitle=[*lines, *notes, f"mlprod · {day}"],
            fontSize=24,
            subtitleFontSize=14,
            subtitleColor="#3D4856",
            subtitlePadding=8,
            offset=16,
        ),
        padding={"left": 24, "right": 24, "top": 20, "bottom": 16},
    )
    return _theme(card)
