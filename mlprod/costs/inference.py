"""Where inference costs come from: requests × a price, tokens × an API's prices, or GPUs
serving all month whatever the traffic.

Each builder returns an :class:`InferenceCost`: the amount, a formula with every number
filled in, and the assumptions stored with the calculation. How the cost scales with
traffic (per request, per token, or fixed GPUs) is what :mod:`mlprod.comparison.break_even` reads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from mlprod.costs.fx import FxTable, default_fx
from mlprod.costs.gpus import PriceTable, gpu_hour_price
from mlprod.costs.llm import LlmPriceBook, default_llm_prices
from mlprod.costs.modes import INFERENCE_FIELDS
from mlprod.costs.tables import checked_number
from mlprod.errors import InvalidInput
from mlprod.formatting import format_money, format_ratio

__all__ = [
    "HOURS_PER_MONTH",
    "InferenceCost",
    "inference_from_requests",
    "inference_from_serving",
    "inference_from_tokens",
]


def _named(field: str) -> tuple[str, str]:
    """A builder input's field and the words a person saw for it (costs.modes)."""
    return field, INFERENCE_FIELDS[field].label


#: A month of always-on serving: 365 × 24 / 12.
HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class InferenceCost:
    """An inference cost built from traffic, tokens or serving GPUs over ``months``."""

    mode: str  # the key of one of costs.modes.INFERENCE_MODES
    months: float
    currency: str
    total: float
    requests_per_month: float | None = None
    cost_per_1k_requests: float | None = None
    tokens_in_per_month: float | None = None
    tokens_out_per_month: float | None = None
    price_in_per_1m: float | None = None
    price_out_per_1m: float | None = None
    cached_input_share: float | None = None  # of the input tokens, at the cached price
    price_cached_per_1m: float | None = None
    batch_share: float | None = None  # of all tokens, at the book's batch discount
    llm_batch_discount: float | None = None
    llm_model: str | None = None
    llm_provider: str | None = None
    llm_prices_as_of: date | None = None
    serving_gpu: str | None = None
    serving_gpus: float | None = None  # per replica
    replicas: float | None = None
    hours_per_month: float | None = None
    requests_per_s_per_replica: float | None = None
    serving_price_per_gpu_hour: float | None = None  # in ``currency``
    serving_price_kind: str | None = None  # "on-demand", "spot" or "override"
    serving_provider: str | None = None
    serving_price_as_of: date | None = None

    def formula(self) -> str:
        """The cost with every number filled in.

        >>> inference_from_requests(2_000_000, 0.1, 1).formula()
        'Inference cost = 2,000,000 requests/month × $0.1 per 1,000 × 1 month = $200'
        >>> inference_from_serving("L4", 2, 1, price_override=0.8).formula()
        'Inference cost = 2 L4 GPUs × 1 replica × 730 h/month × 1 month × $0.8/GPU-h (your price) = $1,168'
        """  # noqa: E501

        def money(amount: float) -> str:
            return format_money(amount, self.currency)

        months = f"{format_ratio(self.months)} month{'s' if self.months != 1 else ''}"
        if self.mode == "requests":
            return (
                f"Inference cost = {self.requests_per_month:,.0f} requests/month × "
                f"{money(self.cost_per_1k_requests or 0)} per 1,000 × {months} = "
                f"{money(self.total)}"
            )
        if self.mode == "serving":
            where = (
                "your price"
                if self.serving_price_kind == "override"
                else f"{self.serving_provider} {self.serving_price_kind}, "
                f"{self.serving_price_as_of}"
            )
            gpus = "GPU" if self.serving_gpus == 1 else "GPUs"
            replicas = "replica" if self.replicas == 1 else "replicas"
            text = (
                f"Inference cost = {format_ratio(self.serving_gpus or 0)} {self.serving_gpu} "
                f"{gpus} × {format_ratio(self.replicas or 0)} {replicas} × "
                f"{format_ratio(self.hours_per_month or 0)} h/month × {months} × "
                f"{money(self.serving_price_per_gpu_hour or 0)}/GPU-h ({where}) = "
                f"{money(self.total)}"
            )
            if self.requests_per_s_per_replica:
                text += (
                    f"; replicas = ⌈{self.requests_per_month or 0:,.0f} requests/month ÷ "
                    f"({format_ratio(self.requests_per_s_per_replica)} requests/s × 3,600 s × "
                    f"{format_ratio(self.hours_per_month or 0)} h)⌉"
                )
            return text
        model = (
            f" ({self.llm_model}, {self.llm_provider}, {self.llm_prices_as_of})"
            if (self.llm_model)
            else ""
        )
        cached = self.cached_input_share or 0.0
        price_in = money(self.price_in_per_1m or 0)
        if cached:
            price_in = (
                f"({price_in} × {1 - cached:.0%} + {money(self.price_cached_per_1m or 0)} "
                f"cached × {cached:.0%})"
            )
        batch = (
            f" × (1 − {self.llm_batch_discount:.0%} batch discount × {self.batch_share:.0%} "
            "of tokens)"
            if self.batch_share and self.llm_batch_discount
            else ""
        )
        return (
            f"Inference cost = ({self.tokens_in_per_month:,.0f} tokens in × {price_in} + "
            f"{self.tokens_out_per_month:,.0f} tokens out × {money(self.price_out_per_1m or 0)}) "
            f"per 1M per month{model} × {months}{batch} = {money(self.total)}"
        )

    def assumptions(self) -> dict[str, Any]:
        """What the cost assumed, as stored with the calculation (unset fields left out)."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out["inference_mode"] = out.pop("mode")
        out.pop("total")
        out.pop("currency")
        return out


def inference_from_requests(
    requests_per_month: float | None,
    cost_per_1k_requests: float | None,
    months: float = 1.0,
    *,
    currency: str = "USD",
) -> InferenceCost:
    """Inference cost = requests per month ÷ 1,000 × cost per 1,000 requests × months
    (the cost per 1,000 requests in ``currency``).

    >>> inference_from_requests(2_000_000, 0.1, 1).total
    200.0
    """
    requests = checked_number(requests_per_month, *_named("requests_per_month"))
    price = checked_number(cost_per_1k_requests, *_named("cost_per_1k_requests"))
    span = checked_number(months, *_named("months"), strict=True)
    total = round(requests / 1000 * price * span, 6)
    return InferenceCost(
        "requests",
        span,
        currency.upper(),
        total,
        requests_per_month=requests,
        cost_per_1k_requests=price,
    )


def inference_from_tokens(
    tokens_in_per_month: float | None,
    tokens_out_per_month: float | None,
    price_in_per_1m: float | None = None,
    price_out_per_1m: float | None = None,
    months: float = 1.0,
    *,
    llm_model: str | None = None,
    llm_provider: str | None = None,
    cached_input_share: float | None = None,
    price_cached_per_1m: float | None = None,
    batch_share: float | None = None,
    currency: str = "USD",
    book: LlmPriceBook | None = None,
    fx: FxTable | None = None,
) -> InferenceCost:
    """Inference cost = (tokens in × price in + tokens out × price out) per 1M tokens, per
    month, × months (prices in ``currency``).

    With ``llm_model`` the prices come from the price book (US$, converted at the exchange
    rate), unless a price is typed: a typed price wins. A share of the input tokens read
    from the provider's cache (``cached_input_share``) is priced at the cached-input price
    (the book's, or ``price_cached_per_1m``); a share of all tokens sent through the
    provider's batch API (``batch_share``) gets the book's batch discount.

    >>> inference_from_tokens(50_000_000, 10_000_000, 0.5, 1.5, 2).total
    80.0
    >>> inference_from_tokens(10_000_000, 2_000_000, llm_model="gpt-4.1-mini").total  # 10 × 0.4 + 2 × 1.6
    7.2
    >>> built = inference_from_tokens(10_000_000, 2_000_000, llm_model="gpt-4.1-mini",
    ...                               cached_input_share=0.5, batch_share=0.4)
    >>> built.total  # (10 × (0.4 × 50% + 0.1 × 50%) + 2 × 1.6) × (1 − 50% × 40%)
    4.56
    >>> print(built.formula())
    Inference cost = (10,000,000 tokens in × ($0.4 × 50% + $0.1 cached × 50%) + 2,000,000 tokens out × $1.60) per 1M per month (gpt-4.1-mini, OpenAI, 2026-10-01) × 1 month × (1 − 50% batch discount × 40% of tokens) = $4.56

    Raises
    ------
    InvalidInput
        A share outside 0–1, a cached share without a cached-input price, a batch share
        for a model the book has no batch price for (or for typed prices).
    """  # noqa: E501
    listed = None
    rate = (fx or default_fx()).rate(currency)
    if llm_model is not None and str(llm_model).strip():
        listed = (book or default_llm_prices()).price(str(llm_model), llm_provider)
        if price_in_per_1m is None:
            price_in_per_1m = listed.input_per_1m * rate
        if price_out_per_1m is None:
            price_out_per_1m = listed.output_per_1m * rate
        if price_cached_per_1m is None and listed.cached_input_per_1m is not None:
            price_cached_per_1m = listed.cached_input_per_1m * rate
    t_in = checked_number(tokens_in_per_month, *_named("tokens_in_per_month"))
    t_out = checked_number(tokens_out_per_month, *_named("tokens_out_per_month"))
    p_in = checked_number(price_in_per_1m, *_named("price_in_per_1m"))
    p_out = checked_number(price_out_per_1m, *_named("price_out_per_1m"))
    span = checked_number(months, *_named("months"), strict=True)
    cached = _share(cached_input_share, "cached_input_share")
    batch = _share(batch_share, "batch_share")
    p_cached = None
    if cached:
        if price_cached_per_1m is None:
            raise InvalidInput(
                "price_cached_per_1m",
                f"{listed.label if listed else 'Typed prices'}: no cached-input price "
                "in the price book; give the price per 1M cached input tokens.",
            )
        p_cached = checked_number(price_cached_per_1m, *_named("price_cached_per_1m"))
    discount = None
    if batch:
        if listed is None or listed.batch_discount is None:
            raise InvalidInput(
                "batch_share",
                (
                    f"{listed.label} has no batch price in the price book"
                    if listed
                    else "Batch pricing comes from the price book: choose an API model"
                )
                + "; or type the prices you pay.",
            )
        discount = listed.batch_discount
    per_month = t_in * ((1 - cached) * p_in + cached * (p_cached or 0.0)) + t_out * p_out
    total = round(per_month / 1_000_000 * span * (1 - batch * (discount or 0.0)), 6)
    return InferenceCost(
        "tokens",
        span,
        currency.upper(),
        total,
        tokens_in_per_month=t_in,
        tokens_out_per_month=t_out,
        price_in_per_1m=p_in,
        price_out_per_1m=p_out,
        cached_input_share=cached or None,
        price_cached_per_1m=p_cached,
        batch_share=batch or None,
        llm_batch_discount=discount,
        llm_model=listed.model if listed else None,
        llm_provider=listed.provider if listed else None,
        llm_prices_as_of=listed.as_of if listed else None,
    )


def _share(value: float | None, field: str) -> float:
    """A share from 0 to 1 (None: 0)."""
    if value is None:
        return 0.0
    share = checked_number(value, *_named(field))
    if share > 1:
        raise InvalidInput(field, f"{_named(field)[1]} is a share from 0 to 1, got {value:g}.")
    return share


def replicas_for(
    requests_per_month: float, requests_per_s_per_replica: float, hours_per_month: float
) -> int:
    """Replicas needed to serve the traffic: ⌈requests ÷ (requests/s × 3,600 × hours)⌉,
    at least one.

    >>> replicas_for(20_000_000, 5, 730)  # 5 req/s × 3,600 × 730 h = 13.14M per replica
    2
    """
    capacity = requests_per_s_per_replica * 3600 * hours_per_month
    return max(1, math.ceil(round(requests_per_month / capacity, 9)))


def inference_from_serving(
    gpu_model: str,
    gpus_per_replica: float,
    replicas: float | None = None,
    *,
    hours_per_month: float = HOURS_PER_MONTH,
    months: float = 1.0,
    spot: bool = False,
    provider: str | None = None,
    price_override: float | None = None,
    requests_per_month: float | None = None,
    requests_per_s_per_replica: float | None = None,
    currency: str = "USD",
    prices: PriceTable | None = None,
    fx: FxTable | None = None,
) -> InferenceCost:
    """Self-hosted serving: GPUs per replica × replicas × hours served per month × months ×
    price per GPU-hour (the table's cheapest on-demand price unless ``provider``, ``spot``
    or ``price_override``, in ``currency``).

    With ``requests_per_s_per_replica`` (one replica's throughput) and
    ``requests_per_month``, the replicas follow from the traffic (:func:`replicas_for`).

    >>> inference_from_serving("L4", 2, 1, provider="AWS").total  # 2 × 1 × 730 h × $0.80
    1168.0
    >>> inference_from_serving("L4", 1, hours_per_month=730, requests_per_month=20e6,
    ...                        requests_per_s_per_replica=5, price_override=1).replicas
    2.0
    """
    count = checked_number(gpus_per_replica, *_named("serving_gpus"), strict=True)
    hours = checked_number(
        hours_per_month, "hours_per_month", "Hours served per month", strict=True
    )
    if hours > 744:  # 31 days
        raise InvalidInput(
            "hours_per_month",
            f"A month has at most 744 hours (730 = always on); got {format_ratio(hours)}.",
        )
    span = checked_number(months, *_named("months"), strict=True)
    traffic = None
    if requests_per_month is not None:
        traffic = checked_number(requests_per_month, *_named("requests_per_month"))
    throughput = None
    if requests_per_s_per_replica is not None:
        throughput = checked_number(
            requests_per_s_per_replica,
            "requests_per_s_per_replica",
            "Requests per second per replica",
            strict=True,
        )
        if traffic is None:
            raise InvalidInput(
                "requests_per_month",
                "Replicas follow from traffic: give the requests per month with the "
                "throughput per replica.",
            )
        replicas = replicas_for(traffic, throughput, hours)
    if replicas is None:
        replicas = 1.0
    many = checked_number(replicas, *_named("replicas"), strict=True)
    gpu_model, price, kind, where, as_of = gpu_hour_price(
        gpu_model,
        spot=spot,
        provider=provider,
        price_override=price_override,
        rate=(fx or default_fx()).rate(currency),
        prices=prices,
    )
    total = round(count * many * hours * span * price, 6)
    return InferenceCost(
        "serving",
        span,
        currency.upper(),
        total,
        requests_per_month=traffic,
        serving_gpu=gpu_model,
        serving_gpus=count,
        replicas=float(many),
        hours_per_month=hours,
        requests_per_s_per_replica=throughput,
        serving_price_per_gpu_hour=price,
        serving_price_kind=kind,
        serving_provider=where,
        serving_price_as_of=as_of,
    )
