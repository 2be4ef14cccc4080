"""A cost scenario: what a person gives to build both costs of a run, and the costs built.

Few people know their cost as one number; they know "8 A100s for 10 hours" and "2 million
requests a month". The calculator page and ``mlprod calc`` gather the same inputs into a
:class:`CostScenario`; :func:`build_costs` turns it into the two costs, their formulas
with the numbers, and the assumptions stored with the calculation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlprod.costs.gpus import training_cost
from mlprod.costs.inference import (
    HOURS_PER_MONTH,
    InferenceCost,
    inference_from_requests,
    inference_from_serving,
    inference_from_tokens,
)
from mlprod.errors import InvalidInput

__all__ = ["BuiltCosts", "CostScenario", "build_costs"]


@dataclass(frozen=True)
class CostScenario:
    """Either cost typed in, or the inputs to build it (``None``: not given).

    Training: ``training_cost``, or ``gpu_model`` × ``gpu_count`` × ``gpu_hours`` (default:
    the training hours) × a price per GPU-hour (``price_per_gpu_hour``, else the table's
    spot or on-demand price at ``provider``, else the cheapest, less ``discount``), plus
    ``extra_costs``.
    Inference: ``inference_cost``, or self-hosted serving (``serving_gpu`` × GPUs per
    replica × replicas × hours per month, replicas from traffic when the throughput per
    replica is given), or requests per month × cost per 1,000, or input/output tokens per
    month × prices per 1M tokens (typed, or ``llm_model`` from the price book), over
    ``months``. Money is in ``currency``.
    """

    training_cost: float | None = None
    gpu_model: str | None = None
    gpu_count: float | None = None
    gpu_hours: float | None = None
    spot: bool = False
    provider: str | None = None
    price_per_gpu_hour: float | None = None
    discount: float = 0.0
    extra_costs: float = 0.0
    inference_cost: float | None = None
    requests_per_month: float | None = None
    cost_per_1k_requests: float | None = None
    tokens_in_per_month: float | None = None
    tokens_out_per_month: float | None = None
    price_in_per_1m: float | None = None
    price_out_per_1m: float | None = None
    llm_model: str | None = None
    llm_provider: str | None = None
    cached_input_share: float | None = None
    price_cached_per_1m: float | None = None
    batch_share: float | None = None
    serving_gpu: str | None = None
    serving_gpus: float | None = None
    replicas: float | None = None
    hours_per_month: float | None = None
    requests_per_s_per_replica: float | None = None
    serving_spot: bool = False
    serving_provider: str | None = None
    serving_price_per_gpu_hour: float | None = None
    months: float = 1.0
    currency: str = "USD"


@dataclass(frozen=True)
class BuiltCosts:
    """Both costs, each built cost's formula with its numbers, and the assumptions."""

    training_cost: float
    inference_cost: float
    formulas: list[str] = field(default_factory=list)
    assumptions: dict[str, Any] = field(default_factory=dict)


def build_costs(scenario: CostScenario, training_hours: float) -> BuiltCosts:
    """Training and inference cost from a scenario; typed costs pass through as they are.

    Raises
    ------
    InvalidInput
        A cost that is neither typed nor buildable from what was given, or a builder's
        input out of range (names the field).

    Examples
    --------
    >>> built = build_costs(CostScenario(training_cost=1000, requests_per_month=2e6,
    ...                                  cost_per_1k_requests=0.1), training_hours=10)
    >>> built.training_cost, built.inference_cost
    (1000, 200.0)
    >>> built.formulas
    ['Inference cost = 2,000,000 requests/month × $0.1 per 1,000 × 1 month = $200']
    """
    s = scenario
    formulas: list[str] = []
    assumptions: dict[str, Any] = {}
    if s.training_cost is not None:
        training = s.training_cost
    elif s.gpu_model and s.gpu_count is not None:
        built = training_cost(
            s.gpu_model,
            s.gpu_count,
            s.gpu_hours or training_hours,
            spot=s.spot,
            provider=s.provider,
            price_override=s.price_per_gpu_hour,
            discount=s.discount,
            extra_costs=s.extra_costs,
            currency=s.currency,
        )
        training = built.total
        formulas.append(built.formula())
        assumptions |= built.assumptions()
    else:
        raise InvalidInput(
            "training_cost",
            "Give the training cost, or a GPU model and GPU count to price GPU hours "
            "(--training-cost, or --gpu and --gpus).",
        )
    if s.inference_cost is not None:
        inference = s.inference_cost
    else:
        served = _built_inference(s)
        inference = served.total
        formulas.append(served.formula())
        assumptions |= served.assumptions()
    return BuiltCosts(training, inference, formulas, assumptions)


def _built_inference(s: CostScenario) -> InferenceCost:
    """The inference cost built the way the scenario gives it (costs.modes): serving GPUs,
    requests, or tokens."""
    if s.serving_gpu:
        return inference_from_serving(
            s.serving_gpu,
            s.serving_gpus if s.serving_gpus is not None else 1.0,
            s.replicas,
            hours_per_month=s.hours_per_month or HOURS_PER_MONTH,
            months=s.months,
            spot=s.serving_spot,
            provider=s.serving_provider,
            price_override=s.serving_price_per_gpu_hour,
            requests_per_month=s.requests_per_month,
            requests_per_s_per_replica=s.requests_per_s_per_replica,
            currency=s.currency,
        )
    if s.requests_per_month is not None or s.cost_per_1k_requests is not None:
        return inference_from_requests(
            s.requests_per_month, s.cost_per_1k_requests, s.months, currency=s.currency
        )
    if s.tokens_in_per_month is not None or s.tokens_out_per_month is not None:
        return inference_from_tokens(
            s.tokens_in_per_month,
            s.tokens_out_per_month,
            s.price_in_per_1m,
            s.price_out_per_1m,
            s.months,
            llm_model=s.llm_model,
            llm_provider=s.llm_provider,
            cached_input_share=s.cached_input_share,
            price_cached_per_1m=s.price_cached_per_1m,
            batch_share=s.batch_share,
            currency=s.currency,
        )
    raise InvalidInput(
        "inference_cost",
        "Give the inference cost, or a serving GPU, or requests per month and the cost "
        "per 1,000 requests, or input/output tokens per month with their prices per 1M "
        "tokens or an LLM from the price book (--inference-cost, --serving-gpu, "
        "--requests-per-month, --tokens-in-per-month ... --llm-model).",
    )
