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

from mlprod.comparison.break_even import BreakEven
from mlprod.comparison.compare import Comparison, Run
from mlprod.config import CURRENCIES
from mlprod.formatting import format_money, format_ratio

__all__ = [
    "A_COLOR",
    "B_COLOR",
    "FONT",
    "break_even_chart",
    "comparison_card",
    "energy_chart",
    "inputs_chart",
    "inputs_frame",
    "ratio_chart",
    "ratio_frame",
    "run_labels",
    "verdict_banner",
]

A_COLOR, B_COLOR = "#0072B2", "#E69F00"
EXTRA_COLORS = ("#009E73", "#CC79A7", "#56B4E9", "#D55E00")
FONT = "Liberation Sans"
TEXT = "#1B2430"
LETTERS = "ABCDEF"
RATIO_ORDER = ["CER", "TER", "PSR"]
#: Tick labels in plain digits, grouped in thousands: 15,000 and 0.0005, never 1.5e+4.
PLAIN = ",.4~r"
FACET_HEADER = alt.Header(labelFontSize=13, labelFontWeight="bold")
RATIO_LABELS = {"cer": "CER · cost", "ter": "TER · time", "psr": "PSR · speed"}


#: A legend's label in pixels: "A · " and a name of :func:`_short`'s 34 characters whole
#: (Vega cuts at 160 px, about 22 characters: two runs of one model read the same).
LEGEND_LIMIT = 300


def _short(name: str, limit: int = 34) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def run_labels(runs: Sequence[Run]) -> list[str]:
    """``A · name``, ``B · name``, … — the legend and axis labels of every chart."""
    return [f"{LETTERS[i]} · {_short(run.name)}" for i, run in enumerate(runs)]


def _color_scale(labels: list[str]) -> alt.Scale:
    return alt.Scale(domain=labels, range=[A_COLOR, B_COLOR, *EXTRA_COLORS][: len(labels)])


def ratio_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run and ratio: the value and its share of the best run's (best = 100).

    >>> from mlprod.comparison.compare import CLASSIC_TRADE_OFF
    >>> ratio_frame(CLASSIC_TRADE_OFF).query("ratio == 'TER'")["index"].round(1).tolist()
    [100.0, 3.1]
    """
    labels = run_labels(runs)
    rows = []
    for label, run in zip(labels, runs, strict=True):
        ratios = run.ratios
        for key, name in RATIO_LABELS.items():
            value = getattr(ratios, key)
            rows.append(
                {
                    "run": label,
                    "ratio": name.split(" ·")[0],
                    "ratio_label": name,
                    "value": value,
                    "shown": format_ratio(value),
                }
            )
    frame = pd.DataFrame(rows)
    best = frame.groupby("ratio")["value"].transform("max")
    frame["index"] = (frame["value"] / best * 100).where(best > 0, 0.0)
    return frame


def inputs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run and input, with the value as a person reads it."""
    currency = runs[0].currency
    symbol = CURRENCIES.get(currency, currency).strip()
    names = (runs[0].quality, f"Total cost ({symbol})", "Training time (h)", "Latency (ms)")
    rows = []
    for label, run in zip(run_labels(runs), runs, strict=True):
        values = (run.f1, run.total_cost, run.training_hours, run.latency_ms)
        for name, value in zip(names, values, strict=True):
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
        x=alt.X(
            "ratio:N",
            title=None,
            sort=["CER", "TER", "PSR"],
            axis=alt.Axis(labelAngle=0, labelFontSize=14, labelFontWeight="bold"),
        ),
        xOffset=alt.XOffset("run:N", sort=labels),
        y=alt.Y(
            "index:Q",
            # short enough to stand beside a plot 230 px tall (longer, it pushed the
            # chart's title out of its box on Compare's first screen)
            title="% of the better run",
            scale=alt.Scale(domain=[0, 112]),
            axis=alt.Axis(values=[0, 25, 50, 75, 100]),
        ),
        color=alt.Color(
            "run:N",
            sort=labels,
            scale=_color_scale(labels),
            legend=alt.Legend(title=None, orient="top", labelFontSize=13, labelLimit=LEGEND_LIMIT),
        ),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("ratio_label:N", title="Ratio"),
            alt.Tooltip("shown:N", title="Value"),
            alt.Tooltip("index:Q", title="% of best", format=".1f"),
        ],
    )
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
        y=alt.Y(
            "value:Q",
            title=None,
            axis=alt.Axis(
                tickCount=4,
                # SI suffixes for money and hours (50k), plain decimals below 1 (F1 0.8, not
                # "800m").
                labelExpr="abs(datum.value) < 1 ? format(datum.value, '~g') "
                ": format(datum.value, '~s')",
            ),
        ),
        color=alt.Color(
            "run:N",
            sort=labels,
            scale=_color_scale(labels),
            # Its own key, so a screenshot of this chart alone still says which run is which
            # (beside the ratio chart, on the card, the two share one).
            legend=alt.Legend(title=None, orient="top", labelFontSize=13, labelLimit=LEGEND_LIMIT),
        ),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("input:N", title="Input"),
            alt.Tooltip("shown:N", title="Value"),
        ],
    )
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


def themed(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Any chart in the house style (fonts, colours of text and grid)."""
    return (
        chart.configure(font=FONT, background="white")
        .configure_axis(
            labelFontSize=12,
            titleFontSize=13,
            labelColor=TEXT,
            titleColor=TEXT,
            grid=True,
            gridColor="#E6E9EF",
        )
        .configure_title(color=TEXT, anchor="start")
        .configure_view(stroke=None)
    )


def break_even_chart(
    even: BreakEven, names: tuple[str, str], currency: str, *, width: int = 560, height: int = 260
) -> alt.LayerChart:
    """Total cost of A and B against traffic: today's traffic marked, the break-evens
    as dots."""
    frame = even.frame(names)
    labels = list(dict.fromkeys(frame["side"]))
    symbol = CURRENCIES.get(currency, currency).strip()
    x = alt.X("traffic:Q", title="Requests per month", axis=alt.Axis(format="~s", tickCount=6))
    y = alt.Y("cost:Q", title=f"Total cost ({symbol})", axis=alt.Axis(format="~s"))
    lines = (
        alt.Chart(frame)
        .mark_line(strokeWidth=2.5, interpolate="step-after")
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "side:N",
                sort=labels,
                scale=_color_scale(labels),
                legend=alt.Legend(
                    title=None, orient="top", labelFontSize=12, labelLimit=LEGEND_LIMIT
                ),
            ),
            tooltip=[
                alt.Tooltip("side:N", title="Model"),
                alt.Tooltip("traffic:Q", title="Requests/month", format=",.0f"),
                alt.Tooltip("cost:Q", title=f"Total cost ({symbol})", format=",.0f"),
            ],
        )
    )
    now = pd.DataFrame({"traffic": [even.traffic], "label": ["today"]})
    rule = alt.Chart(now).mark_rule(color="#5B6573", strokeDash=[4, 3]).encode(x="traffic:Q")
    today = (
        alt.Chart(now)
        .mark_text(align="left", dx=4, dy=-4, color="#5B6573", fontSize=11, baseline="bottom")
        .encode(x="traffic:Q", y=alt.value(12), text="label:N")
    )
    chart = lines + rule + today
    if even.cost_at:
        curve = even.curves[0] if even.curves else None
        cross = pd.DataFrame({"traffic": even.cost_at[:20]})
        cross["cost"] = curve.at(cross["traffic"].to_numpy()) if curve else 0.0
        cross["label"] = [f"break-even {format_ratio(t, 3)}" for t in cross["traffic"]]
        dots = (
            alt.Chart(cross)
            .mark_point(size=90, filled=True, color=TEXT)
            .encode(
                x="traffic:Q",
                y="cost:Q",
                tooltip=[
                    alt.Tooltip("traffic:Q", title="Break-even (requests/month)", format=",.0f"),
                    alt.Tooltip("cost:Q", title=f"Total cost ({symbol})", format=",.0f"),
                ],
            )
        )
        chart = chart + dots
    return chart.properties(width=width, height=height)


def verdict_banner(comparison: Comparison, *, width: int) -> alt.LayerChart:
    """The verdict on a band of its own colour (green when a side is chosen, grey for a
    tie), in bold: it stands apart from the detail lines below it."""
    chosen = comparison.recommended != "tie"
    lines = textwrap.wrap(comparison.verdict, max(40, width // 9), break_on_hyphens=False)
    height = 27 * len(lines) + 22
    band = (
        alt.Chart(pd.DataFrame({"x": [0]}))
        .mark_rect(color="#E6F4EA" if chosen else "#EEF1F5", cornerRadius=6)
        .encode(x=alt.value(0), x2=alt.value(width), y=alt.value(0), y2=alt.value(height))
    )
    edge = band.mark_rect(color="#1E7B3A" if chosen else "#5A6573").encode(x2=alt.value(6))
    # Each line's top in pixels, the block centred on the band (an ordinal axis spaced
    # two lines wider than 27 px and set the second on the band's lower edge).
    tops = [13 + 27 * i for i in range(len(lines))]
    text = (
        alt.Chart(pd.DataFrame({"top": tops, "line": lines}))
        .mark_text(align="left", baseline="top", fontSize=17, fontWeight="bold", color="#1F2733")
        .encode(x=alt.value(20), y=alt.Y("top:Q", scale=None, axis=None), text="line:N")
    )
    return alt.layer(band, edge, text).properties(width=width, height=height)


def comparison_card(
    comparison: Comparison,
    extras: Sequence[Run] = (),
    *,
    on: date | None = None,
    even: BreakEven | None = None,
) -> alt.TopLevelMixin:
    """The screenshot-ready card: both models in the title, the verdict, the key numbers,
    the ratio chart and the inputs, dated; with ``even``, total cost against traffic and
    the break-even too. Sized for 1280x720 (export at 2x)."""
    runs = [comparison.a, comparison.b, *extras]
    day = (on or date.today()).isoformat()
    title_text = f"{_short(comparison.a.name, 40)} vs {_short(comparison.b.name, 40)}"

    def wrap(text: str) -> list[str]:
        return textwrap.wrap(text, 135, break_on_hyphens=False)

    notes = [line for text in comparison.key_numbers[:2] for line in wrap(text)]
    if comparison.energy:  # the energy stands on the card where it was measured
        notes += wrap(comparison.energy)
    if even is not None:
        notes += [line for text in even.lines[:1] for line in wrap(text)]
    # The verdict on its own band, the details below it in the body's type: it stands
    # apart. Heights keep the whole inside 720 px.
    banner = verdict_banner(comparison, width=1180)
    banner_height = int(banner.to_dict()["height"])
    room = banner_height + 18 * len(notes) - 40
    ratio_width, input_width = (380, 64) if even is not None else (560, 105)
    ratios = ratio_chart(ratio_frame(runs), width=ratio_width, height=470 - room).properties(
        title=alt.TitleParams("Productivity ratios, higher is better, best run = 100", fontSize=15)
    )
    inputs = inputs_chart(inputs_frame(runs), width=input_width, height=410 - room).properties(
        title=alt.TitleParams("Inputs", fontSize=15)
    )
    panels: list[alt.TopLevelMixin] = [ratios, inputs]
    if even is not None:
        names = (comparison.a.name, comparison.b.name)
        cost = break_even_chart(even, names, comparison.a.currency, width=300, height=382 - room)
        panels.append(cost.properties(title=alt.TitleParams("Total cost vs traffic", fontSize=15)))
    details = (
        alt.Chart(pd.DataFrame({"i": range(len(notes)), "line": notes}))
        .mark_text(align="left", baseline="top", fontSize=14, color="#3D4856")
        .encode(x=alt.value(0), y=alt.Y("i:O", axis=None), text="line:N")
        .properties(width=1180, height=alt.Step(18))
    )
    card = alt.vconcat(banner, details, alt.hconcat(*panels, spacing=32), spacing=10).properties(
        title=alt.TitleParams(
            title_text,
            subtitle=f"mlprod · {day}",
            fontSize=24,
            subtitleFontSize=13,
            subtitleColor="#5A6573",
            anchor="start",
            offset=12,
        ),
        padding={"left": 24, "right": 24, "top": 20, "bottom": 16},
    )
    return themed(card)


# -- history -------------------------------------------------------------------------------

HIGHLIGHT = "#D55E00"  # Okabe-Ito vermillion: an answer to a question on the page
MODEL_PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)


def trend_frame(trend: pd.DataFrame) -> pd.DataFrame:
    """The trend as the chart sends it: models and ratios as dictionaries, each name sent
    once, not on every row (browser.py counts the bytes)."""
    return trend.astype({"model_name": "category", "ratio": "category", "runs": "int32"})


def trend_chart(trend: pd.DataFrame, bucket: str) -> alt.Chart:
    """Each ratio over time per model (mean per ``bucket``), one row per ratio; its data is
    :func:`trend_frame` of ``trend``."""
    return (
        alt.Chart(trend_frame(trend))
        .mark_line(point=True, strokeWidth=2)
        .encode(
            x=alt.X("bucket:T", title=f"{bucket.capitalize()} (UTC)"),
            y=alt.Y(
                "value:Q", title=None, scale=alt.Scale(type="log"), axis=alt.Axis(format=PLAIN)
            ),
            color=alt.Color("model_name:N", title="Model", scale=alt.Scale(range=MODEL_PALETTE)),
            tooltip=[
                alt.Tooltip("bucket:T", title=bucket.capitalize()),
                alt.Tooltip("model_name:N", title="Model"),
                alt.Tooltip("ratio:N", title="Ratio"),
                alt.Tooltip("value:Q", title="Mean", format=".4g"),
                alt.Tooltip("runs:Q", title="Runs"),
            ],
        )
        .properties(width=640, height=140)
        .facet(row=alt.Row("ratio:N", title=None, sort=RATIO_ORDER, header=FACET_HEADER))
        .resolve_scale(y="independent")
        .properties(title=f"Mean ratio per model and {bucket} (log scale) — higher is better")
    )


def sample_words(shown: int, total: int) -> str:
    """What the frontier charts' dots are (said beside the charts, not in them: a chart whose
    spec does not change with the filter is redrawn with new data, not rebuilt).

    >>> sample_words(2000, 1_000_000)
    'Dots: a random sample of 2,000 of 1,000,000 runs; the frontier lines use all of them.'
    >>> sample_words(1, 1)
    'Dots: 1 run.'
    """
    if total > shown:
        return (
            f"Dots: a random sample of {shown:,} of {total:,} runs; the frontier lines use "
            "all of them."
        )
    return f"Dots: {total:,} run{'' if total == 1 else 's'}."


def frontier_dots(
    points: pd.DataFrame,
    *,
    x: str,
    highlight: set[int] = frozenset(),  # type: ignore[assignment]
) -> pd.DataFrame:
    """What a frontier chart's dots draw and say in their tooltip, models as a dictionary,
    and nothing else (the other axis, the id and a copy of x went along unused: browser.py
    counts the bytes)."""
    return pd.DataFrame(
        {
            "x": points[x],
            "f1": points["f1"],
            "answer": points["id"].isin(highlight),
            "model_name": points["model_name"].astype("category"),
            "run_name": points["run_name"],
            "run_id": points["run_id"],
            "created_at": points["created_at"],
        }
    )


def frontier_layers(
    points: pd.DataFrame, frontier: pd.DataFrame, *, x_title: str, quality: str = "F1"
) -> alt.LayerChart:
    """The runs' quality (``quality``: F1, or the metric they are scored on) against x:
    every run of :func:`frontier_dots` (``points``) as a dot, the Pareto
    ``frontier`` as a step line, runs answering a question highlighted. Nothing in the
    spec depends on the data (the axis spans the runs by itself, the count of dots is
    :func:`sample_words`): another filter only swaps the data."""
    # Half the page wide: a short title, the explanation in the subtitle (a long title was
    # cut at "…what no other run …").
    title = alt.TitleParams(
        f"{quality} vs {x_title}",
        subtitle=[
            "The line: the frontier, runs no other run beats on both.",
            "Dots: runs; the large orange ones answer the questions above.",
        ],
    )
    tooltip = [
        alt.Tooltip("model_name:N", title="Model"),
        alt.Tooltip("run_name:N", title="Run"),
        alt.Tooltip("run_id:N", title="Run id"),
        alt.Tooltip("f1:Q", title=quality),
        alt.Tooltip("x:Q", title=x_title, format=",.4g"),
        alt.Tooltip("created_at:T", title="Date"),
    ]
    x = alt.X(
        "x:Q",
        title=x_title,
        # Log, just around the runs: a "nice" domain widens $1,200-$1,245 to $1,000-$10,000
        # and squeezes the runs against one edge; the padding keeps edge dots whole.
        scale=alt.Scale(type="log", nice=False, padding=16),
        axis=alt.Axis(tickCount=6, labelOverlap="greedy"),
    )
    y = alt.Y(
        "f1:Q",
        title=quality,
        scale=alt.Scale(zero=False, padding=10),  # the best run's dot is not cut in half
        axis=alt.Axis(format=".3~f"),
    )
    dots = (
        alt.Chart(points)
        .mark_circle(size=40, opacity=0.55)
        .encode(
            x=x,
            y=y,
            color=alt.condition("datum.answer", alt.value(HIGHLIGHT), alt.value("#8A94A6")),
            size=alt.condition("datum.answer", alt.value(160), alt.value(40)),
            tooltip=tooltip,
        )
    )
    line = alt.Chart(frontier).mark_line(interpolate="step-after", color=A_COLOR, strokeWidth=2.5)
    line = line.encode(x=x, y=y)
    front = (
        alt.Chart(frontier)
        .mark_point(filled=True, size=70, color=A_COLOR)
        .encode(x=x, y=y, tooltip=tooltip)
    )
    return (dots + line + front).properties(width=440, height=300, title=title)


def best_frame(best: pd.DataFrame, *, max_models: int = 12) -> pd.DataFrame:
    """The best runs the chart draws: those of the ``max_models`` models with the best CER."""
    top = best[best.ratio == "CER"].nlargest(max_models, "value")["model_name"]
    return best[best.model_name.isin(top)]


def energy_chart(per_model: pd.DataFrame, quality: str = "F1") -> alt.Chart:
    """Each model's best quality per kWh of training energy, where it was measured
    (:meth:`Store.energy_per_model`), with its runs' kWh and CO2e in the tooltip."""
    return (
        alt.Chart(per_model)
        .mark_bar(cornerRadiusEnd=3, color=A_COLOR)
        .encode(
            y=alt.Y("model_name:N", title=None, sort="-x"),
            x=alt.X("per_kwh:Q", title=f"{quality} per kWh", axis=alt.Axis(format=PLAIN)),
            tooltip=[
                alt.Tooltip("model_name:N", title="Model"),
                alt.Tooltip("run:N", title="Best run"),
                alt.Tooltip("per_kwh:Q", title=f"{quality} per kWh", format=".4g"),
                alt.Tooltip("runs:Q", title="Runs measured"),
                alt.Tooltip("kwh:Q", title="kWh in all", format=",.4g"),
                alt.Tooltip("co2_kg:Q", title="kg CO2e in all", format=",.4g"),
            ],
        )
        .properties(
            width=520,
            height=alt.Step(18),
            title=alt.TitleParams(
                f"Best {quality} per kWh of training energy, per model",
                subtitle="Runs whose energy was measured (CodeCarbon); none is estimated.",
            ),
        )
    )


def best_chart(best: pd.DataFrame, *, max_models: int = 12) -> alt.FacetChart:
    """The best run of each model for each ratio (bars per ratio, own scale each); the
    ``max_models`` models with the best CER when there are more (:func:`best_frame`)."""
    return (
        alt.Chart(best_frame(best, max_models=max_models))
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            y=alt.Y("model_name:N", title=None, sort="-x"),
            x=alt.X("value:Q", title=None, axis=alt.Axis(format=PLAIN)),
            color=alt.Color(
                "ratio:N",
                legend=None,
                scale=alt.Scale(
                    domain=["CER", "TER", "PSR"], range=[A_COLOR, B_COLOR, EXTRA_COLORS[0]]
                ),
            ),
            tooltip=[
                alt.Tooltip("model_name:N", title="Model"),
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("ratio:N", title="Ratio"),
                alt.Tooltip("value:Q", title="Best", format=".4g"),
            ],
        )
        .properties(width=170, height=alt.Step(18))
        .facet(column=alt.Column("ratio:N", title=None, sort=RATIO_ORDER, header=FACET_HEADER))
        .resolve_scale(x="independent", y="independent")
        .properties(title="Best run of each model, per ratio")
    )
