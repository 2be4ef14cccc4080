"""The calculator's cost builders (inputs for a :class:`~mlprod.costs.scenario.CostScenario`)
and its ratio cards."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mlprod.costs.fx import default_fx
from mlprod.costs.gpus import default_prices
from mlprod.costs.llm import default_llm_prices
from mlprod.costs.modes import INFERENCE_FIELDS, INFERENCE_MODES, MONTHS, CostField, inference_mode
from mlprod.costs.pricing import Pricing
from mlprod.formatting import format_ratio, readable
from mlprod.metrics import Ratios
from mlprod.quality import F1, Metric
from mlprod.text import md
from mlprod.ui.team_pricing import discount_input

__all__ = [
    "INFER_MODES",
    "TRAIN_MODES",
    "inference_cost_inputs",
    "ratio_cards",
    "training_cost_inputs",
]

TRAIN_MODES = ("Enter it", "From GPU hours")
#: The inference cost typed, or built as :data:`~mlprod.costs.modes.INFERENCE_MODES` says.
INFER_MODES = ("Enter it", *(mode.label for mode in INFERENCE_MODES))
TYPED_PRICES = "(type the prices)"
CHEAPEST = "Cheapest"


def training_cost_inputs(mode: str, currency: str, team: Pricing | None = None) -> dict[str, Any]:
    """The training-cost inputs for ``mode``, as :class:`~mlprod.costs.scenario.CostScenario`
    fields (GPU hours left empty mean the training time). The provider, spot and discount
    start at the team's pricing (``team``); a GPU the table does not list but the team
    prices is priced at the team's price."""
    team = team or Pricing()
    if mode == TRAIN_MODES[0]:
        typed = st.number_input(
            "Training cost",
            value=1000.0,
            step=100.0,
            format="%.2f",
            key="calc-training-cost",
            help=f"In {currency}. Compute, storage and people for the training run.",
        )
        return {"training_cost": typed}
    prices = default_prices()
    own = {name: usd for name, usd in team.gpu_prices.items() if not prices.canonical(name)}
    left, right = st.columns(2)
    gpu = left.selectbox("GPU model", [*prices.models(), *own], key="calc-gpu")
    count = right.number_input("GPUs", value=8.0, min_value=0.0, step=1.0, key="calc-gpus")
    left, right = st.columns(2)
    gpu_hours = left.number_input(
        "Hours per GPU",
        value=None,
        min_value=0.0,
        step=1.0,
        key="calc-gpu-hours",
        placeholder="auto",
        help="Hours each GPU ran (GPU-hours are GPUs × this); empty: the training time.",
    )
    kind = right.radio(
        "Price", ("On-demand", "Spot"), index=int(team.spot), key="calc-price-kind", horizontal=True
    )
    providers = [CHEAPEST, *prices.providers()]
    left, right = st.columns(2)
    provider = left.selectbox(
        "Provider",
        providers,
        index=providers.index(team.provider) if team.provider in providers else 0,
        key="calc-provider",
    )
    discount = discount_input(right, team, key="calc-discount")
    team_price = own.get(gpu)
    override = st.number_input(
        f"Your price per GPU-hour ({currency})",
        value=None,
        min_value=0.0,
        step=0.1,
        key="calc-price-override",
        placeholder="the team's" if team_price is not None else "table",
    )
    if override is None and team_price is not None:
        override = team_price * default_fx().rate(currency)
    extra = st.number_input(
        f"Extra training costs ({currency})",
        value=0.0,
        min_value=0.0,
        step=50.0,
        key="calc-extra-costs",
        help="Storage, data labelling, people, …",
    )
    return {
        "gpu_model": gpu,
        "gpu_count": count,
        "gpu_hours": gpu_hours,
        "spot": kind == "Spot",
        "provider": None if provider == CHEAPEST else provider,
        "price_per_gpu_hour": override,
        "discount": discount,
        "extra_costs": extra,
    }


def _amount(field: CostField, currency: str, key: str, **options: Any) -> float | None:
    """A number input for a builder's field, worded and stepped as the spec says."""
    return st.number_input(
        field.label_in(currency),
        min_value=0.0,
        max_value=field.maximum,
        step=field.step,
        format=field.format,
        key=key,
        **options,
    )


def inference_cost_inputs(choice: str, currency: str) -> dict[str, Any]:
    """The inference-cost inputs for the mode chosen (``INFER_MODES``), as
    :class:`~mlprod.costs.scenario.CostScenario` fields."""
    mode = inference_mode(choice)
    if mode is None:
        typed = st.number_input(
            "Inference cost",
            value=200.0,
            step=10.0,
            format="%.2f",
            key="calc-inference-cost",
            help=f"In {currency}. Serving cost over the period you compare.",
        )
        return {"inference_cost": typed}
    months = _amount(MONTHS, currency, "calc-months", value=1.0)
    field = INFERENCE_FIELDS
    if mode.key == "serving":
        return _serving_inputs(currency) | {"months": months}
    if mode.key == "requests":
        requests = _amount(
            field["requests_per_month"], currency, "calc-requests", value=2_000_000.0
        )
        per_1k = _amount(field["cost_per_1k_requests"], currency, "calc-cost-per-1k", value=0.1)
        return {"requests_per_month": requests, "cost_per_1k_requests": per_1k, "months": months}
    tokens_in = _amount(field["tokens_in_per_month"], currency, "calc-tokens-in", value=50e6)
    tokens_out = _amount(field["tokens_out_per_month"], currency, "calc-tokens-out", value=10e6)
    book = default_llm_prices()
    model = st.selectbox(
        field["llm_model"].label,
        [TYPED_PRICES, *book.models()],
        key="calc-llm-model",
        help="Prices per 1M tokens from data/llm_prices.csv (dated; check them). A price typed "
        "below wins.",
    )
    chosen = None if model == TYPED_PRICES else book.price(model)
    if chosen is not None:
        st.caption(
            f"{md(chosen.label)}: US\\${chosen.input_per_1m:g} in / US\\${chosen.output_per_1m:g} "
            f"out per 1M tokens, as of {md(chosen.as_of)} ({md(chosen.source)})."
        )
    # One per row: side by side in the form's column the labels wrapped and the inputs lost
    # their +/- buttons.
    book_key = "-book" if chosen else ""
    price_in = _amount(
        field["price_in_per_1m"],
        currency,
        f"calc-price-in{book_key}",
        value=None if chosen else 0.5,
        placeholder="the book's",
    )
    price_out = _amount(
        field["price_out_per_1m"],
        currency,
        f"calc-price-out{book_key}",
        value=None if chosen else 1.5,
        placeholder="the book's",
    )
    # The calculator is a form: what shows cannot follow the model picked until it is
    # sent, so the book's parts always show; the builder says what a choice cannot price.
    cached = _amount(field["cached_input_share"], currency, "calc-cached-share", value=0.0)
    price_cached = _amount(
        field["price_cached_per_1m"],
        currency,
        f"calc-price-cached{book_key}",
        value=None,
        placeholder="the book's",
        help="Only needed for typed prices, or a model the book has no cached price for.",
    )
    batch = _amount(
        field["batch_share"],
        currency,
        "calc-batch-share",
        value=0.0,
        help="Priced at the book's batch discount for the model (e.g. 50% off).",
    )
    return {
        "tokens_in_per_month": tokens_in,
        "tokens_out_per_month": tokens_out,
        "price_in_per_1m": price_in,
        "price_out_per_1m": price_out,
        "cached_input_share": cached or None,
        "price_cached_per_1m": price_cached,
        "batch_share": batch or None,
        "months": months,
        "llm_model": chosen.model if chosen else None,
    }


def _serving_inputs(currency: str) -> dict[str, Any]:
    """Self-hosted serving: GPUs that serve all month whatever the traffic."""
    prices = default_prices()
    models = prices.models()
    field = INFERENCE_FIELDS
    gpu = st.selectbox(
        field["serving_gpu"].label,
        models,
        key="calc-serving-gpu",
        index=models.index("L4") if "L4" in models else 0,
    )
    per_replica = _amount(field["serving_gpus"], currency, "calc-serving-gpus", value=1.0)
    replicas = _amount(
        field["replicas"],
        currency,
        "calc-replicas",
        value=1.0,
        help="Ignored when the throughput below is given: replicas then follow from traffic.",
    )
    hours = _amount(
        field["hours_per_month"],
        currency,
        "calc-hours-per-month",
        value=730.0,
        help="730 = always on.",
    )
    traffic = _amount(
        field["requests_per_month"],
        currency,
        "calc-serving-requests",
        value=None,
        placeholder="optional",
        help="Today's traffic: with a throughput, replicas follow from it; the compare page's "
        "break-even reads it.",
    )
    throughput = _amount(
        field["requests_per_s_per_replica"],
        currency,
        "calc-serving-throughput",
        value=None,
        placeholder="optional",
    )
    provider = st.selectbox(
        "Serving provider", [CHEAPEST, *prices.providers(gpu)], key="calc-serving-provider"
    )
    kind = st.radio(
        "Serving price", ("On-demand", "Spot"), key="calc-serving-kind", horizontal=True
    )
    override = _amount(
        field["serving_price_per_gpu_hour"],
        currency,
        "calc-serving-price",
        value=None,
        placeholder="table",
    )
    return {
        "serving_gpu": gpu,
        "serving_gpus": per_replica,
        "replicas": replicas,
        "hours_per_month": hours,
        "requests_per_month": traffic,
        "requests_per_s_per_replica": throughput,
        "serving_spot": kind == "Spot",
        "serving_provider": None if provider == CHEAPEST else provider,
        "serving_price_per_gpu_hour": override,
    }


def ratio_cards(
    ratios: Ratios, currency: str, formulas: dict[str, str], metric: Metric = F1
) -> None:
    """Three metrics, each with its raw value, a readable form (in the run's quality
    metric) and its formula."""
    words = readable(ratios, currency, metric)
    meaning = {"cer": "Cost efficiency", "ter": "Time efficiency", "psr": "Performance over speed"}
    for column, name in zip(st.columns(3), ("cer", "ter", "psr"), strict=True):
        with column:
            st.metric(
                name.upper(),
                format_ratio(getattr(ratios, name), 3),
                help=formulas[name],
                border=True,
            )
            st.caption(f"**{meaning[name]}**: {words[name]}")
