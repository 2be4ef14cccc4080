"""The ways an inference cost is given, named once: each mode, the fields it reads, their
words and units. The calculator's and the Batch page's builders draw their inputs from
here, ``--set`` and the batch scenario accept these fields, :class:`CostScenario` and
:class:`InferenceCost` carry them, and the history stores them as cost assumptions
(``tests/test_costs.py`` checks that every one of those knows every field).

A new way to price inference is a new :class:`InferenceMode` here and its builder in
:mod:`~mlprod.costs.inference`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INFERENCE_FIELDS",
    "INFERENCE_MODES",
    "MONTHS",
    "CostField",
    "InferenceMode",
    "inference_mode",
]


@dataclass(frozen=True)
class CostField:
    """One input of a cost builder: its field name (a scenario's, ``--set``'s and the
    history's), the words a person reads, and how an input for it steps."""

    name: str
    label: str
    #: An amount of money: its label names the currency.
    money: bool = False
    #: Text (a model from a table), not a number.
    text: bool = False
    step: float = 1.0
    #: How a number input shows it (``"%.0f"`` for counts of requests and tokens).
    format: str | None = None
    #: The largest value that makes sense (hours in a month).
    maximum: float | None = None

    def label_in(self, currency: str) -> str:
        """The label, with the currency where the field is money.

        >>> INFERENCE_FIELDS["cost_per_1k_requests"].label_in("EUR")
        'Cost per 1,000 requests (EUR)'
        """
        return f"{self.label} ({currency})" if self.money else self.label


@dataclass(frozen=True)
class InferenceMode:
    """A way to give the inference cost: ``key`` is what the history stores as
    ``inference_mode``; ``needed`` the fields it cannot build without."""

    key: str
    label: str
    fields: tuple[CostField, ...]
    needed: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


MONTHS = CostField("months", "Months of serving")
_REQUESTS = CostField("requests_per_month", "Requests per month", step=100_000.0, format="%.0f")

INFERENCE_MODES = (
    InferenceMode(
        "requests",
        "From requests",
        (
            _REQUESTS,
            CostField(
                "cost_per_1k_requests",
                "Cost per 1,000 requests",
                money=True,
                step=0.01,
                format="%.4f",
            ),
            MONTHS,
        ),
        needed=("requests_per_month", "cost_per_1k_requests"),
    ),
    InferenceMode(
        "tokens",
        "From tokens",
        (
            CostField(
                "tokens_in_per_month", "Input tokens per month", step=1_000_000.0, format="%.0f"
            ),
            CostField(
                "tokens_out_per_month", "Output tokens per month", step=1_000_000.0, format="%.0f"
            ),
            CostField("llm_model", "API model (LLM price book)", text=True),
            CostField("price_in_per_1m", "Price per 1M input tokens", money=True, step=0.1),
            CostField("price_out_per_1m", "Price per 1M output tokens", money=True, step=0.1),
            CostField(
                "cached_input_share", "Share of input tokens cached (0–1)", step=0.05, maximum=1.0
            ),
            CostField(
                "price_cached_per_1m", "Price per 1M cached input tokens", money=True, step=0.01
            ),
            CostField(
                "batch_share", "Share of tokens through the batch API (0–1)", step=0.05, maximum=1.0
            ),
            MONTHS,
        ),
        needed=("tokens_in_per_month", "tokens_out_per_month"),
    ),
    InferenceMode(
        "serving",
        "Self-hosted GPUs",
        (
            CostField("serving_gpu", "Serving GPU", text=True),
            CostField("serving_gpus", "GPUs per replica"),
            CostField("replicas", "Replicas"),
            CostField("hours_per_month", "Hours served per month", step=10.0, maximum=744.0),
            _REQUESTS,
            CostField("requests_per_s_per_replica", "Requests/s per replica"),
            CostField(
                "serving_price_per_gpu_hour", "Serving price per GPU-hour", money=True, step=0.1
            ),
            MONTHS,
        ),
        needed=("serving_gpu",),
    ),
)

#: Every builder field by name.
INFERENCE_FIELDS = {f.name: f for mode in INFERENCE_MODES for f in mode.fields}


def inference_mode(label_or_key: str) -> InferenceMode | None:
    """The mode a page's choice or a stored ``inference_mode`` names (None: typed).

    >>> inference_mode("From tokens").key, inference_mode("serving").label
    ('tokens', 'Self-hosted GPUs')
    """
    for mode in INFERENCE_MODES:
        if label_or_key in (mode.key, mode.label):
            return mode
    return None
