"""Chart specs carry the encodings and titles a reader needs; exports are real images."""

from __future__ import annotations

import io
import re
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from mlprod.charts import (
    A_COLOR,
    B_COLOR,
    best_chart,
    comparison_card,
    energy_chart,
    frontier_dots,
    frontier_layers,
    inputs_chart,
    inputs_frame,
    ratio_chart,
    ratio_frame,
    sample_words,
    themed,
    trend_chart,
)
from mlprod.comparison.compare import CLASSIC_TRADE_OFF, Run, compare
from mlprod.export import card_png, png_bytes, svg_text

from .conftest import png_size

LIGHT, HEAVY = CLASSIC_TRADE_OFF


def test_ratio_frame_scales_each_ratio_to_the_better_run():
    frame = ratio_frame([LIGHT, HEAVY]).set_index(["ratio", "run"])
    assert frame.loc[("CER", "A · light-distilled"), "index"] == 100
    assert frame.loc[("CER", "B · heavy-ensemble"), "index"] == pytest.approx(
        100 * (0.99 / 50_000) / (0.97 / 500)
    )
    assert frame.loc[("PSR", "A · light-distilled"), "shown"] == "0.0485"


def test_ratio_chart_encodings_and_colours():
    spec = ratio_chart(ratio_frame([LIGHT, HEAVY]), title="light vs heavy").to_dict()
    bars = spec["layer"][0]["encoding"]
    assert bars["x"]["field"] == "ratio" and bars["y"]["field"] == "index"
    assert bars["y"]["title"] == "% of the better run"
    assert bars["color"]["scale"]["range"] == [A_COLOR, B_COLOR]
    assert bars["color"]["scale"]["domain"] == ["A · light-distilled", "B · heavy-ensemble"]
    assert spec["title"] == "light vs heavy"
    assert {t["field"] for t in bars["tooltip"]} >= {"run", "shown"}


def test_colours_stay_with_their_model_when_runs_are_added():
    extra = Run(0.9, 100, 10, 3, 30, name="third")
    spec = ratio_chart(ratio_frame([LIGHT, HEAVY, extra])).to_dict()
    scale = spec["encoding"]["color"]["scale"]  # one layer: no value labels beyond A and B
    assert scale["range"][:2] == [A_COLOR, B_COLOR] and len(scale["range"]) == 3


def test_inputs_chart_has_one_panel_per_input_with_units():
    frame = inputs_frame([LIGHT, HEAVY])
    assert list(dict.fromkeys(frame["input"])) == [
        "F1", "Total cost ($)", "Training time (h)", "Latency (ms)"]  # fmt: skip
    spec = inputs_chart(frame).to_dict()
    assert spec["facet"]["column"]["field"] == "input"
    assert spec["resolve"]["scale"]["y"] == "independent"
    # A screenshot of the inputs alone still says which colour is which run.
    svg = svg_text(inputs_chart(frame))
    assert ">A · light-distilled<" in svg and ">B · heavy-ensemble<" in svg


def test_the_card_keys_its_runs_once():
    svg = svg_text(comparison_card(compare(LIGHT, HEAVY)))
    assert svg.count(">A · light-distilled<") == 1


def test_card_names_both_models_the_verdict_and_the_date():
    c = compare(LIGHT, HEAVY)
    spec = comparison_card(c, on=date(2026, 11, 28)).to_dict()
    assert spec["title"]["text"] == "light-distilled vs heavy-ensemble"
    assert "2026-11-28" in spec["title"]["subtitle"]
    banner, details = spec["vconcat"][0], spec["vconcat"][1]  # the verdict, then details

    def words(chart: dict) -> str:
        layer = chart["layer"][-1] if "layer" in chart else chart
        return " ".join(row["line"] for row in spec["datasets"][layer["data"]["name"]])

    assert words(banner).startswith("Choose A, light-distilled")
    assert "$24,750 per 0.01 F1" in words(details)


def test_card_png_is_a_2x_1280x720_image_with_both_colours():
    data = card_png(comparison_card(compare(LIGHT, HEAVY)))
    assert png_size(data) == (2560, 1440)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
    assert (0x00, 0x72, 0xB2) in colours and (0xE6, 0x9F, 0x00) in colours  # A and B drawn
    assert image.getpixel((5, 5)) == (255, 255, 255)


def test_long_names_still_fit_the_card():
    long_a = Run(0.9, 1000, 200, 10, 50, name="a-" + "very-long-model-name-" * 4)
    data = card_png(comparison_card(compare(long_a, HEAVY)))
    assert png_size(data) == (2560, 1440)


def test_raw_png_is_twice_the_css_size_and_svg_is_svg():
    chart = ratio_chart(ratio_frame([LIGHT, HEAVY]), width=300, height=200)
    width, height = png_size(png_bytes(chart, scale=2))
    assert 600 <= width <= 900 and 400 <= height <= 650
    svg = svg_text(chart)
    assert svg.lstrip().startswith("<svg") and "CER" in svg


def test_inputs_axis_labels_do_not_turn_f1_into_milli_units():
    spec = inputs_chart(inputs_frame([LIGHT, HEAVY])).to_dict()
    axis = spec["spec"]["layer"][0]["encoding"]["y"]["axis"]
    assert "format(datum.value, '~g')" in axis["labelExpr"]
    svg = svg_text(inputs_chart(inputs_frame([LIGHT, HEAVY])))
    assert ">800m<" not in svg and ">0.8<" in svg and ">50k<" in svg


def test_ratio_and_energy_axes_read_in_plain_digits_never_exponents():
    """A TER of 1,430 (a run of minutes) and 91,000 F1 per kWh: ticks read 1,000 and 50,000,
    not 1e+3 and 5e+4."""
    best = pd.DataFrame({
        "model_name": ["whisper", "bert", "whisper", "bert", "whisper", "bert"],
        "ratio": ["CER", "CER", "TER", "TER", "PSR", "PSR"],
        "value": [0.0016, 0.0009, 1430.0, 0.21, 0.0215, 0.0004],
        "run": ["w1", "b1", "w1", "b1", "w1", "b1"],
    })  # fmt: skip
    energy = pd.DataFrame({"model_name": ["whisper"], "run": ["w1"], "per_kwh": [91_000.0],
                           "runs": [2], "kwh": [0.00002], "co2_kg": [0.000004]})  # fmt: skip
    for chart, ticks in ((best_chart(best), (">1,000<", ">0.0005<")),
                         (energy_chart(energy), (">50,000<",))):  # fmt: skip
        svg = svg_text(chart)
        assert all(tick in svg for tick in ticks), ticks
        assert not re.search(r">[0-9.]+e[+-][0-9]+<", svg)


def test_frontier_axis_spans_the_runs_not_a_rounded_decade():
    """Runs costing $1,200-$1,245: the drawn axis reads 1,200…1,240, not $1,000-$10,000 with
    the dots squeezed against one edge."""
    points = pd.DataFrame({"id": [0, 1], "f1": [0.9, 0.85], "total_cost": [1200.0, 1245.0],
                           "model_name": "m", "run_name": None, "run_id": None,
                           "created_at": pd.Timestamp("2026-11-29")})  # fmt: skip
    frontier = pd.DataFrame({"id": [0], "f1": [0.9], "x": [1200.0]})
    svg = svg_text(
        frontier_layers(frontier_dots(points, x="total_cost"), frontier, x_title="total cost ($)")
    )
    ticks = [float(t.replace(",", "")) for t in re.findall(r">(\d{1,3}(?:,\d{3})+)<", svg)]
    assert len(ticks) >= 3 and all(1100 < t < 1350 for t in ticks), ticks


def test_frontier_spec_does_not_change_with_the_data():
    """Another filter gives the frontier other runs, and the browser then only swaps the data
    into the chart it has drawn: the spec (axis, title, dataset names) stays the same."""
    from mlprod.ui.widgets import chart_spec

    def spec(costs: list[float], shown: int) -> dict:
        points = pd.DataFrame({"id": range(shown), "f1": np.linspace(0.6, 0.9, shown),
                               "total_cost": (costs * shown)[:shown], "model_name": "m",
                               "run_name": None, "run_id": None,
                               "created_at": pd.Timestamp("2026-11-29")})  # fmt: skip
        frontier = pd.DataFrame({"id": [0], "f1": [0.9], "x": [costs[0]]})
        chart = frontier_layers(frontier_dots(points, x="total_cost"), frontier, x_title="cost")
        return chart_spec(chart, "history-frontier-total_cost")

    one, other = spec([1200.0, 1245.0], 2), spec([10.0, 50_000.0], 2000)
    assert one["datasets"].keys() == other["datasets"].keys()
    assert one["datasets"] != other["datasets"]
    assert {**one, "datasets": None} == {**other, "datasets": None}


@pytest.mark.parametrize(
    ("shown", "total", "words"),
    [(1, 1, "Dots: 1 run."), (2, 2, "Dots: 2 runs."),
     (2000, 10_000, "Dots: a random sample of 2,000 of 10,000 runs")],
)  # fmt: skip
def test_frontier_dots_are_counted_in_words(shown, total, words):
    assert sample_words(shown, total).startswith(words)


def test_frontier_title_is_short():
    points = pd.DataFrame({"id": [0], "f1": [0.9], "total_cost": [1200.0], "model_name": "m",
                           "run_name": None, "run_id": None,
                           "created_at": pd.Timestamp("2026-11-29")})  # fmt: skip
    frontier = pd.DataFrame({"id": [0], "f1": [0.9], "x": [1200.0]})
    spec = frontier_layers(
        frontier_dots(points, x="total_cost"), frontier, x_title="total cost ($)"
    ).to_dict()
    assert spec["title"]["text"] == "F1 vs total cost ($)"  # short: it fits half a page


def test_history_charts_send_what_they_draw_not_every_column():
    """2,000 sample dots on a frontier chart: only the axis drawn, F1, the highlight and the
    tooltip go to the browser (the id, the other axis and a copy of x went along unused),
    and model names once each."""
    from mlprod.ui.widgets import chart_spec

    n = 2000
    rng = np.random.default_rng(3)
    points = pd.DataFrame({
        "id": np.arange(n), "f1": rng.uniform(0.5, 0.99, n),
        "total_cost": rng.lognormal(6, 1, n), "latency_ms": rng.lognormal(3, 1, n),
        "model_name": rng.choice(["bert-base", "roberta-large", "distilbert"], n),
        "run_name": None, "run_id": [f"{i:032x}" for i in range(n)],
        "created_at": pd.Timestamp("2026-11-29"),
    })  # fmt: skip
    frontier = pd.DataFrame({"id": [0], "f1": [0.99], "x": [10.0]})
    spec = chart_spec(
        frontier_layers(frontier_dots(points, x="total_cost"), frontier, x_title="cost")
    )
    sent = sum(len(v) for v in spec["datasets"].values())
    assert sent < 140_000, sent  # was 216 KB; 32-character run ids are half of what is left
    dots = pa.ipc.open_stream(max(spec["datasets"].values(), key=len)).read_all()
    assert set(dots.column_names) == {"x", "f1", "answer", "model_name", "run_name", "run_id",
                                      "created_at"}  # fmt: skip
    assert pa.types.is_dictionary(dots.schema.field("model_name").type)


def test_history_charts_are_valid_vega_lite(duckdb_store):
    """The page sends these specs unvalidated (validation cost ~0.1-0.2 s per new filter):
    Altair's schema check runs here instead, on every History chart drawn from the
    sample runs, and the page's spec is that same valid spec."""
    import altair as alt

    from mlprod.config import PROJECT_DIR
    from mlprod.ingest import inspect, resolve_mapping, scored_batches
    from mlprod.saving import save_batch
    from mlprod.store import HistoryFilter
    from mlprod.ui.widgets import chart_spec

    inspection = inspect(PROJECT_DIR / "data" / "sample_runs.csv")
    save_batch(duckdb_store, scored_batches(inspection, resolve_mapping(inspection)),
               source="batch", author="ann")  # fmt: skip
    view = duckdb_store.overview(HistoryFilter())
    charts = [trend_chart(view.trend, view.bucket), best_chart(view.best)]
    for x in ("total_cost", "latency_ms"):
        charts.append(
            frontier_layers(frontier_dots(view.points, x=x), view.frontiers[x], x_title=x)
        )
    for chart in charts:
        themed(chart).to_dict()  # validates against the Vega-Lite schema, or raises
        sent = chart_spec(chart)
        assert sent["datasets"] and all(isinstance(v, bytes) for v in sent["datasets"].values())
        # the spec as sent (its data by name) passes the same schema check
        alt.Chart.from_dict({k: v for k, v in sent.items() if k != "datasets"}, validate=True)


def test_history_chart_specs_built_once_fit_any_filter(duckdb_store):
    """The History page builds each chart's spec once and fills in another filter's data:
    that is exactly the chart Altair would have built for that filter."""
    from mlprod.charts import best_frame, frontier_dots, frontier_layers, trend_frame
    from mlprod.config import PROJECT_DIR
    from mlprod.ingest import inspect, resolve_mapping, scored_batches
    from mlprod.saving import save_batch
    from mlprod.store import HistoryFilter
    from mlprod.ui.widgets import chart_spec, chart_template, filled

    inspection = inspect(PROJECT_DIR / "data" / "sample_runs.csv")
    save_batch(duckdb_store, scored_batches(inspection, resolve_mapping(inspection)),
               source="batch", author="ann")  # fmt: skip
    everything = duckdb_store.overview(HistoryFilter())
    model = everything.best["model_name"].iloc[0]
    one = duckdb_store.overview(HistoryFilter(models=(model,)))

    def charts(view):
        yield lambda t: trend_chart(t, view.bucket), [trend_frame(view.trend)]
        yield best_chart, [best_frame(view.best)]
        for x in ("total_cost", "latency_ms"):
            frames = [frontier_dots(view.points, x=x, highlight={int(view.points["id"][0])}),
                      view.frontiers[x]]  # fmt: skip
            yield lambda d, f: frontier_layers(d, f, x_title="cost"), frames

    assert everything.bucket == one.bucket
    for (build, frames), (_, others) in zip(charts(everything), charts(one), strict=True):
        template = chart_template(build(*frames), frames, "c")
        assert filled(template, others, "c") == chart_spec(build(*others), "c")
        assert filled(template, others, "c") != filled(template, frames, "c")
