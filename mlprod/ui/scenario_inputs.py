"""Batch scoring's scenario: one value for every run where the file has none.

The same fields as ``mlprod score --set``; the inference cost is typed, or built from
requests or tokens per month as in the calculator. What a person chose is remembered for
the session (``batch-scenario``), also when they visit another page and come back.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from mlprod.costs.gpus import default_prices
from mlprod.costs.llm import default_llm_prices
from mlprod.costs.modes import INFERENCE_MODES, InferenceMode, inference_mode
from mlprod.costs.pricing import Pricing

__all__ = ["INFERENCE_FROM", "scenario_inputs"]

#: Where every run's inference cost comes from: its own column, one value, or a builder of
#: :data:`~mlprod.costs.modes.INFERENCE_MODES`.
INFERENCE_FROM = ("The file", "One value", *(mode.label for mode in INFERENCE_MODES))
FROM_FILE = "(from the file)"
TYPED = "(type the prices)"
_USES = {
    "The file": (),
    "One value": ("inference_cost",),
    **{mode.label: mode.names for mode in INFERENCE_MODES},
}
#: What an empty input of a builder stands for.
_EMPTY_MEANS = {
    "serving_gpus": "1",
    "replicas": "1",
    "hours_per_month": "730 (always on)",
    "serving_price_per_gpu_hour": "the price table's cheapest",
    "cached_input_share": "0 (none cached)",
    "batch_share": "0 (none batched)",
}
KEY = "batch-scenario"


def _number(
    label: str, name: str, kept: dict[str, Any], *, needed: bool = False, **options: Any
) -> None:
    """A number input whose value, when given, becomes the scenario's ``name``; an empty
    ``needed`` one stays in the scenario as missing, so the page can name it."""
    value = st.number_input(label, value=kept.get(name), key=f"{KEY}-{name}", **options)
    if value is not None:
        kept[name] = float(value)
    elif needed:
        kept[name] = None
    else:
        kept.pop(name, None)


def _builder(mode: InferenceMode, currency: str, kept: dict[str, Any]) -> None:
    """The inputs of one way to build the inference cost, in the spec's order."""
    typed_prices = True
    for field in mode.fields:
        if field.name == "serving_gpu":
            models = default_prices().models()
            current = kept.get("serving_gpu", "L4" if "L4" in models else models[0])
            kept["serving_gpu"] = st.selectbox(
                field.label,
                models,
                key=f"{KEY}-serving_gpu",
                index=models.index(current) if current in models else 0,
            )
        elif field.name == "llm_model":
            book = [TYPED, *default_llm_prices().models()]
            model = st.selectbox(
                field.label,
                book,
                key=f"{KEY}-llm_model",
                index=book.index(kept["llm_model"]) if kept.get("llm_model") in book else 0,
            )
            typed_prices = model == TYPED
            if typed_prices:
                kept.pop("llm_model", None)
            else:
                kept["llm_model"] = model
        else:
            price = field.name.startswith("price_")
            empty = "the book's" if price and not typed_prices else _EMPTY_MEANS.get(field.name)
            if mode.key == "serving" and field.name.startswith("requests"):
                empty = "optional"
            _number(
                field.label_in(currency),
                field.name,
                kept,
                needed=field.name in mode.needed
                or (field.name in ("price_in_per_1m", "price_out_per_1m") and typed_prices),
                min_value=0.0,
                max_value=field.maximum,
                step=field.step,
                format=field.format,
                placeholder=empty,
            )


def _pricing(kept: dict[str, Any], team: Pricing) -> None:
    """How this batch's GPU hours are priced: the team's pricing unless changed here (a
    run's own provider or spot column still wins)."""
    providers = [f"Team's ({team.provider or 'cheapest listed'})", *default_prices().providers()]
    current = kept.get("provider", providers[0])
    provider = st.selectbox(
        "Provider",
        providers,
        key=f"{KEY}-provider",
        index=providers.index(current) if current in providers else 0,
        help="Where the file has no provider column (or an empty cell).",
    )
    if provider == providers[0]:
        kept.pop("provider", None)
    else:
        kept["provider"] = provider
    kinds = [f"Team's ({'spot' if team.spot else 'on-demand'})", "On-demand", "Spot"]
    kind = st.selectbox(
        "Price",
        kinds,
        key=f"{KEY}-spot",
        index=kinds.index({None: kinds[0], "false": kinds[1], "true": kinds[2]}[kept.get("spot")]),
    )
    if kind == kinds[0]:
        kept.pop("spot", None)
    else:
        kept["spot"] = "true" if kind == "Spot" else "false"
    _number(
        "Discount off list price (%)",
        "_discount_percent",
        kept,
        min_value=0.0,
        max_value=99.0,
        step=5.0,
        placeholder=f"team's: {team.discount:.0%}",
    )
    if kept.get("_discount_percent") is not None:
        kept["discount"] = kept["_discount_percent"] / 100
    else:
        kept.pop("discount", None)


def scenario_inputs(
    currency: str, missing: list[str], team: Pricing | None = None
) -> dict[str, Any]:
    """The scenario's widgets; returns its values (``--set`` fields).

    ``missing`` names the fields no column holds: the inference cost then starts on "One
    value" so the person sees what to give. ``team`` is the team's pricing, which the
    batch's provider, spot and discount start from.
    """
    kept: dict[str, Any] = st.session_state.setdefault(KEY, {})
    mode_key = f"{KEY}-inference-from"
    if mode_key not in st.session_state:
        st.session_state[mode_key] = kept.get(
            "_inference_from", INFERENCE_FROM[1 if "inference_cost" in missing else 0]
        )
    st.caption(
        "Trackers rarely log a cost. Values here go to every run where the file has no "
        "column for the field, or an empty cell; a cell's own value always wins. They are "
        "stored with each run as its cost assumptions."
    )
    left, right = st.columns(2)
    with left:
        mode = st.radio("Inference cost from", INFERENCE_FROM, key=mode_key, horizontal=True)
        kept["_inference_from"] = mode
        for name in {n for fields in _USES.values() for n in fields} - set(_USES[mode]):
            kept.pop(name, None)  # a builder not chosen gives nothing
        if mode == INFERENCE_FROM[1]:
            _number(
                f"Inference cost per run ({currency})",
                "inference_cost",
                kept,
                needed=True,
                min_value=0.0,
                step=10.0,
            )
        elif (builder := inference_mode(mode)) is not None:
            _builder(builder, currency, kept)
    with right:
        models = [FROM_FILE, *default_prices().models()]
        current = kept.get("gpu_model", FROM_FILE)
        gpu = st.selectbox(
            "GPU model for every run",
            models,
            key=f"{KEY}-gpu_model",
            index=models.index(current) if current in models else 0,
        )
        if gpu == FROM_FILE:
            kept.pop("gpu_model", None)
        else:
            kept["gpu_model"] = gpu
        _number("GPUs per run", "gpu_count", kept, min_value=0.0, step=1.0)
        _pricing(kept, team or Pricing())
        _number(
            f"One price per GPU-hour for every GPU ({currency})",
            "price_per_gpu_hour",
            kept,
            min_value=0.0,
            step=0.1,
            placeholder="the price table's",
        )
        _number("Training time (hours)", "training_hours", kept, min_value=0.0, step=0.5)
        _number("Latency (ms)", "latency_ms", kept, min_value=0.0, step=1.0)
        _number(
            f"Training cost per run ({currency})", "training_cost", kept, min_value=0.0, step=100.0
        )
    cells = st.columns(3)
    for column, (name, label) in zip(
        cells,
        (("model_name", "Model name"), ("project", "Project"), ("tags", "Tags")),
        strict=True,
    ):
        text = column.text_input(label, value=kept.get(name, ""), key=f"{KEY}-{name}").strip()
        if text:
            kept[name] = text
        else:
            kept.pop(name, None)
    return {k: v for k, v in kept.items() if not k.startswith("_")}
