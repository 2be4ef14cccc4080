"""Compare: model A vs model B — which goes to production, and why."""

from typing import Any

import streamlit as st

from mlprod import ui
from mlprod.charts import (
    break_even_chart,
    comparison_card,
    inputs_chart,
    inputs_frame,
    ratio_chart,
    ratio_frame,
)
from mlprod.comparison.break_even import break_even
from mlprod.comparison.compare import (
    CLASSIC_TRADE_OFF,
    assumptions_table,
    compare,
    comparison_table,
    run_from_row,
    told_apart,
)
from mlprod.comparison.links import parse_side, read_link, side_param, weights_param
from mlprod.comparison.noise import GROUP_RULE, spread_table
from mlprod.errors import InvalidInput
from mlprod.export import card_png, csv_bytes, svg_text
from mlprod.report import Review, review_html, review_pdf
from mlprod.text import md
from mlprod.ui.production import production_for
from mlprod.ui.run_picker import resolve_side, run_label, run_picker, side_defaults

ui.ensure_app_shell()

st.title(
    "Model A vs model B",
    anchor=False,
    help="Which model should go to production? Pick two runs; the verdict weighs cost, time "
    "and speed efficiency the way you set it. The link at the end reproduces this comparison.",
)
store = ui.store()
batch = st.session_state.get("batch-scored")
batch_rows = batch["file"].good(limit=500).to_pandas() if batch else None

# First visit in this session: start from the link, or from something meaningful.
if "compare-ready" not in st.session_state:
    link = read_link(st.query_params)
    sides = link.sides
    if sides is None:
        latest = store.latest_per_model(2)
        sides = [int(i) for i in latest["id"]] if len(latest) == 2 else list(CLASSIC_TRADE_OFF)
        # The newest run against what is in production for its model, where one is marked.
        newest = latest.iloc[0] if len(latest) else None
        mark = production_for(newest["model_name"]) if newest is not None else None
        if mark is not None and mark.side != str(int(newest["id"])):
            sides = [parse_side(mark.side), int(newest["id"])]
            st.session_state["compare-production"] = mark.describe()
    for problem in link.problems:
        st.warning(f"{md(problem)} That part of the link is left at its default.")
    asked = [s for s in sides if isinstance(s, int)] + link.extra
    known = set(store.calculations_by_id(asked)["id"]) if asked else set()
    if any(isinstance(s, int) and s not in known for s in sides):
        st.warning(
            "The link names a run that is not in the history (deleted, or from "
            "another database). Showing the default comparison instead."
        )
        sides = list(CLASSIC_TRADE_OFF)
    for prefix, side in zip(("compare-a", "compare-b"), sides, strict=True):
        st.session_state.update(side_defaults(prefix, side))
    for key, value in link.weights.items():
        st.session_state[f"compare-w-{key}"] = value
    st.session_state["compare-tie"] = link.tie_band
    st.session_state["compare-traffic"] = link.traffic
    st.session_state["compare-extra"] = [i for i in link.extra if i in known]
    st.session_state["compare-ready"] = True

left, right = st.columns(2, gap="large")
with left, st.container(border=True):
    side_a = run_picker("compare-a", "Model A", store, batch_rows)
with right, st.container(border=True):
    side_b = run_picker("compare-b", "Model B", store, batch_rows)
if production := st.session_state.pop("compare-production", None):
    st.caption(f":material/rocket_launch: Model A is the run in production — {md(production)}")

# The first screen (1280 × 800) holds what a review slide needs: the two sides, the
# verdict and the ratios chart (tests/e2e/test_compare_browser.py); the settings and the
# numbers behind the verdict follow. The verdict's place is kept here, drawn once the
# settings below it are read.
first_screen = st.container()
with st.expander("Weights, tie band and more runs"):
    w_cost, w_time, w_speed, tie = st.columns(4)
    weights = {
        "cer": w_cost.slider("Cost weight", 0.0, 5.0, step=0.5, key="compare-w-cer"),
        "ter": w_time.slider("Time weight", 0.0, 5.0, step=0.5, key="compare-w-ter"),
        "psr": w_speed.slider("Speed weight", 0.0, 5.0, step=0.5, key="compare-w-psr"),
    }
    tie_band = tie.slider("Tie band (%)", 0.0, 20.0, step=0.5, key="compare-tie") / 100
    with_noise = st.toggle(
        "Weigh run-to-run spread (other runs of the same training)",
        value=True,
        key="compare-noise",
        help=f"A lead smaller than what other seeds of the same model give is no winner. "
        f"{GROUP_RULE}",
    )
    recent = ui.search_runs("", limit=200)
    extra_labels = {int(r.id): run_label(r) for r in recent.itertuples()}
    extra_ids = st.multiselect(
        "Also show (up to 4 more runs from the history)",
        list(dict.fromkeys([*extra_labels, *st.session_state.get("compare-extra", [])])),
        format_func=lambda i: extra_labels.get(i, f"run {i}"),
        max_selections=4,
        key="compare-extra",
    )

chosen_ids = [s for s in (side_a, side_b) if isinstance(s, int)] + list(extra_ids)
rows = (
    ui.within_limits(store.calculations_by_id(chosen_ids)).set_index("id") if chosen_ids else None
)
run_a, run_b, *extras = told_apart(
    *(resolve_side(s, rows, noise=with_noise) for s in (side_a, side_b)),
    *(run_from_row(rows.loc[i].to_dict() | {"id": i}) for i in extra_ids if i in rows.index),
)
if other_metric := [r.name for r in extras if r.metric.key != run_a.metric.key]:
    st.caption(  # runs of two quality metrics are never drawn together
        f"Not shown: {md(', '.join(other_metric))} (scored on another metric than "
        f"{md(run_a.quality)})."
    )
    extras = [r for r in extras if r.metric.key == run_a.metric.key]


def share_link() -> None:
    """The page's link reproduces what it shows (the traffic too, once typed)."""
    traffic = st.session_state.get("compare-traffic")
    st.query_params.from_dict(
        {
            "a": side_param(side_a),
            "b": side_param(side_b),
            "w": weights_param(weights),
            "tie": f"{tie_band * 100:g}",
        }
        | ({"x": ",".join(map(str, extra_ids))} if extra_ids else {})
        | ({"t": f"{traffic:.0f}"} if traffic else {})
    )


share_link()

try:
    comparison = compare(run_a, run_b, weights=weights, tie_band=tie_band)
except InvalidInput as exc:
    typed = any(st.session_state.get(f"compare-{x}-source") == "By hand" for x in "ab")
    hint = (
        " For a run typed in, pick its quality metric beside its name."
        if typed and run_a.metric.key != run_b.metric.key
        else ""
    )
    st.error(f"Cannot compare these runs: {md(exc)}{hint}", icon=":material/error:")
    st.stop()

runs = [run_a, run_b, *extras]
title = f"{run_a.name} vs {run_b.name}"
with first_screen:
    box = st.info if comparison.recommended == "tie" else st.success
    box(md(comparison.verdict), icon=":material/gavel:")
    # As wide as the page: side by side with the inputs, a laptop screen left the bars
    # narrower than their values ("0.0006827" ran into the next bar).
    ratios = ratio_chart(
        ratio_frame(runs), title=f"{title}: ratios, higher is better, best = 100", height=230
    )
    ui.chart(ratios, "compare-ratios")

st.subheader("Why", anchor=False)
for line in [*comparison.key_numbers, comparison.energy or "", *comparison.break_evens]:
    if not line:
        continue
    st.markdown(f"- {md(line)}")

st.dataframe(
    comparison_table(comparison),
    hide_index=True,
    height="content",  # every row on a screenshot, none behind a scrollbar
    column_config={
        "measure": st.column_config.TextColumn("Measure"),
        "A": st.column_config.NumberColumn(f"A · {run_a.name}", format="%.4g"),
        "B": st.column_config.NumberColumn(f"B · {run_b.name}", format="%.4g"),
        "B - A": st.column_config.NumberColumn("B − A", format="%.4g"),
        "B vs A (%)": st.column_config.NumberColumn("B vs A", format="%+.1f%%"),
        "winner": st.column_config.TextColumn("Winner", width="large"),  # "A · name" whole
    },
)

spread = spread_table({"A": run_a.noise, "B": run_b.noise})
if with_noise and spread is None:
    st.caption(
        "No repeated runs: run-to-run spread unknown, so the verdict decides on the numbers. "
        + GROUP_RULE
    )
if spread is not None:
    with st.expander("Run-to-run spread (the groups behind the verdict)"):
        st.caption(
            "Per side: its group's runs; the 90% interval of the mean is a bootstrap "
            "(4,000 resamples, seeded: the same answer on every visit)."
        )
        st.dataframe(
            spread,
            hide_index=True,
            column_config={
                c: st.column_config.NumberColumn(c, format="%.4g")
                for c in ("mean", "min", "max", "mean 90% low", "mean 90% high")
            },
        )

stem = f"compare-{run_a.name}-vs-{run_b.name}".replace(" ", "_")[:80]  # download names
assumed = assumptions_table(comparison)
if assumed is not None:
    with st.expander("Cost assumptions (where the costs came from)", expanded=True):
        st.dataframe(
            assumed,
            hide_index=True,
            height="content",
            column_config={
                "assumption": st.column_config.TextColumn("Assumption"),
                "A": st.column_config.TextColumn(f"A · {run_a.name}"),
                "B": st.column_config.TextColumn(f"B · {run_b.name}"),
            },
        )
        named = assumed.rename(columns={"A": f"A · {run_a.name}", "B": f"B · {run_b.name}"})
        st.download_button(
            "Download cost assumptions (CSV)",
            csv_bytes(named),
            f"{stem}-assumptions.csv",
            "text/csv",
            key="compare-assumptions-csv",
            icon=":material/table:",
            on_click="ignore",
        )

even = break_even(run_a, run_b)
if even is None:
    st.caption(
        "No break-even traffic: neither side's cost follows traffic (typed costs, or GPUs that "
        "serve all month). Build an inference cost from requests, tokens or serving GPUs on "
        "the calculator to see where the two would cross."
    )
else:
    st.subheader("Break-even traffic")
    traffic = st.number_input(
        "Your traffic (requests per month)",
        value=None,
        min_value=1.0,
        step=100_000.0,
        format="%.0f",
        key="compare-traffic",
        placeholder=f"{even.traffic:,.0f}" + ("" if even.traffic_given else " (assumed)"),
        help="Where the cost assumptions state no traffic, tokens per request follow from this.",
    )
    if traffic:
        even = break_even(run_a, run_b, traffic=traffic)
        share_link()
    assert even is not None
    for line in even.lines:
        st.markdown(f"- {md(line)}")
    ui.chart(
        break_even_chart(even, (run_a.name, run_b.name), run_a.currency).properties(
            title=f"{run_a.name} vs {run_b.name}: total cost vs traffic"
        ),
        "compare-break-even",
    )

inputs = inputs_chart(inputs_frame(runs), width=150, height=240)
ui.chart(inputs.properties(title=f"{title}: inputs"), "compare-inputs")


def card() -> Any:
    """The comparison card, built when asked for (a download, the preview opened), not
    on every change of run A or B (browser.py)."""
    return comparison_card(comparison, extras, even=even)


ui.warm_png_export()
png_col, svg_col, csv_col = st.columns(3)
png_col.download_button(
    "Download PNG",
    lambda: card_png(card()),
    f"{stem}.png",
    "image/png",
    key="compare-png",
    icon=":material/image:",
    on_click="ignore",
)
svg_col.download_button(
    "Download SVG",
    lambda: svg_text(card()),
    f"{stem}.svg",
    "image/svg+xml",
    key="compare-svg",
    icon=":material/draw:",
    on_click="ignore",
)
csv_col.download_button(
    "Download table (CSV)",
    csv_bytes(comparison_table(comparison)),
    f"{stem}.csv",
    "text/csv",
    key="compare-csv",
    icon=":material/table:",
    on_click="ignore",
)


def review() -> Review:
    """The review report: built when a download asks for it."""
    return Review(comparison, extras, even=even, link=ui.page_url(dict(st.query_params.to_dict())))


html_col, pdf_col, _ = st.columns(3)
html_col.download_button(
    "Download review (HTML)",
    lambda: review_html(review()).encode(),
    f"{stem}-review.html",
    "text/html",
    key="compare-review-html",
    icon=":material/description:",
    on_click="ignore",
    help="One file for a reviewer: the verdict, numbers, charts, assumptions and the link; "
    "it opens without a network.",
)
pdf_col.download_button(
    "Download review (PDF)",
    lambda: review_pdf(review()),
    f"{stem}-review.pdf",
    "application/pdf",
    key="compare-review-pdf",
    icon=":material/picture_as_pdf:",
    on_click="ignore",
)

st.markdown("**Link to this comparison**")
st.code(ui.page_url(dict(st.query_params.to_dict())), language=None, wrap_lines=True)
# Drawn only while open (it re-runs the page when opened or closed): the card is not
# built on every change of run A or B, seen or not (browser.py). Shown as the PNG it
# exports, scaled to the page: drawn as a chart, its 1280 px ran past the page's edge.
preview = st.expander(
    "The comparison card as exported (1280 × 720)", key="compare-card-open", on_change="rerun"
)
if preview.open:
    with preview:
        st.image(card_png(card()), width="stretch")
