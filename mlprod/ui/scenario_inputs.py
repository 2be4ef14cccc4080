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

__all__ = ["INFERENCE_FROM", "scenario_inputs"]

INFERENCE_FROM = (
    "The file", "One value", "Requests per month", "Tokens per month", "Self-hosted GPUs"
)  # fmt: skip
FROM_FILE = "(from the file)"
TYPED = "(type the prices)"
_USES = {
    INFERENCE_FROM[0]: (),
    INFERENCE_FROM[1]: ("inference_cost",),
    INFERENCE_FROM[2]: ("requests_per_month", "cost_per_1k_requests", "months"),
    INFERENCE_FROM[3]: (
        "tokens_in_per_month",
        "tokens_out_per_month",
        "price_in_per_1m",
        "price_out_per_1m",
        "llm_model",
        "months",
    ),
    INFERENCE_FROM[4]: (
        "serving_gpu",
        "serving_gpus",
        "replicas",
        "hours_per_month",
        "requests_per_month",
        "requests_per_s_per_replica",
        "serving_price_per_gpu_hour",
        "months",
    ),
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


def _serving(currency: str, kept: dict[str, Any]) -> None:
    """Self-hosted serving for every run: GPUs that serve all month whatever the traffic."""
    models = default_prices().models()
    current = kept.get("serving_gpu", "L4" if "L4" in models else models[0])
    kept["serving_gpu"] = st.selectbox(
        "Serving GPU", models, key=f"{KEY}-serving_gpu",
        index=models.index(current) if current in models else 0,
    )  # fmt: skip
    _number("GPUs per replica", "serving_gpus", kept, min_value=0.0, step=1.0, placeholder="1")
    _number("Replicas", "replicas", kept, min_value=0.0, step=1.0, placeholder="1")
    _number("Hours served per month", "hours_per_month", kept, min_value=0.0, max_value=744.0,
            step=10.0, placeholder="730 (always on)")  # fmt: skip
    _number("Requests per month", "requests_per_month", kept, min_value=0.0, step=100_000.0,
            format="%.0f", placeholder="optional")  # fmt: skip
    _number("Requests/s per replica (replicas follow traffic)", "requests_per_s_per_replica",
            kept, min_value=0.0, step=1.0, placeholder="optional")  # fmt: skip
    _number(f"Serving price per GPU-hour ({currency})", "serving_price_per_gpu_hour", kept,
            min_value=0.0, step=0.1, placeholder="the price table's cheapest")  # fmt: skip
    _number("Months of serving", "months", kept, min_value=0.0, step=1.0)


def scenario_inputs(currency: str, missing: list[str]) -> dict[str, Any]:
    """The scenario's widgets; returns its values (``--set`` fields).

    ``missing`` names the fields no column holds: the inference cost then starts on "One
    value" so the person sees what to give.
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
        elif mode == INFERENCE_FROM[2]:
            _number(
                "Requests per month",
                "requests_per_month",
                kept,
                needed=True,
                min_value=0.0,
                step=100_000.0,
                format="%.0f",
            )
            _number(
                f"Cost per 1,000 requests ({currency})",
                "cost_per_1k_requests",
                kept,
                needed=True,
                min_value=0.0,
                step=0.01,
                format="%.4f",
            )
            _number("Months of serving", "months", kept, min_value=0.0, step=1.0)
        elif mode == INFERENCE_FROM[4]:
            _serving(currency, kept)
        elif mode == INFERENCE_FROM[3]:
            _number(
                "Input tokens per month",
                "tokens_in_per_month",
                kept,
                needed=True,
                min_value=0.0,
                step=1_000_000.0,
                format="%.0f",
            )
            _number(
                "Output tokens per month",
                "tokens_out_per_month",
                kept,
                needed=True,
                min_value=0.0,
                step=1_000_000.0,
                format="%.0f",
            )
            book = [TYPED, *default_llm_prices().models()]
            model = st.selectbox(
                "API model (LLM price book)", book, key=f"{KEY}-llm_model",
                index=book.index(kept["llm_model"]) if kept.get("llm_model") in book else 0,
            )  # fmt: skip
            if model == TYPED:
                kept.pop("llm_model", None)
            else:
                kept["llm_model"] = model
            _number(
                f"Price per 1M input tokens ({currency})",
                "price_in_per_1m",
                kept,
                needed=model == TYPED,
                min_value=0.0,
                step=0.1,
                placeholder="the book's" if model != TYPED else None,
            )
            _number(
                f"Price per 1M output tokens ({currency})",
                "price_out_per_1m",
                kept,
                needed=model == TYPED,
                min_value=0.0,
                step=0.1,
                placeholder="the book's" if model != TYPED else None,
            )
            _number("Months of serving", "months", kept, min_value=0.0, step=1.0)
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
        _number(
            f"Your price per GPU-hour ({currency})",
            "price_per_gpu_hour",
            kept,
            min_value=0.0,
            step=0.1,
            placeholder="the price table's cheapest",
        )
        _number("Training time (hours)", "training_hours", kept, min_value=0.0, step=0.5)
        _number("Latency (ms)", "latency_ms", kept, min_value=0.0, step=1.0)
        _number(f"Training cost per run ({currency})", "training_cost", kept, min_value=0.0,
                step=100.0)  # fmt: skip
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
