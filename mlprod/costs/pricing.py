"""A team's pricing: which provider's list it pays, on-demand or spot, its discount off
list price, and its own price for GPUs the table does not list.

An admin sets it once for the dashboard (kept in the history with who and when); a batch
overrides it (``--set provider=AWS``, ``--set spot=true``, ``--set discount=0.25``,
``--set "price_per_gpu_hour[RTX 4090]=0.69"``), and a run overrides the batch where its
file has a provider or spot column. Nothing set: each GPU at the cheapest listed provider,
on demand, at list price.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mlprod.errors import InvalidInput

__all__ = [
    "GPU_PRICE_FIELD",
    "ON_DEMAND_WORDS",
    "SPOT_WORDS",
    "Pricing",
    "gpu_price_key",
    "parse_spot",
]

#: ``price_per_gpu_hour[NAME]``: one GPU's price per GPU-hour (the batch's currency).
GPU_PRICE_FIELD = re.compile(r"^price_per_gpu_hour\[(?P<gpu>.+)\]$", re.DOTALL)

#: How a file or ``--set`` says spot, and on demand.
SPOT_WORDS = ("true", "yes", "y", "1", "spot", "on")
ON_DEMAND_WORDS = ("false", "no", "n", "0", "on-demand", "on_demand", "ondemand", "off", "")


def gpu_price_key(name: str) -> str:
    """The field a price for one GPU is given as: ``price_per_gpu_hour[RTX 4090]``."""
    return f"price_per_gpu_hour[{name.strip()}]"


def parse_spot(value: object, label: str = "spot") -> bool:
    """``true``/``yes``/``spot`` or ``false``/``no``/``on-demand`` as a bool.

    >>> parse_spot("Yes"), parse_spot("on-demand"), parse_spot(True)
    (True, False, True)
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in SPOT_WORDS:
        return True
    if text in ON_DEMAND_WORDS:
        return False
    raise InvalidInput("spot", f"{label}: '{value}' is not true or false (spot or on-demand).")


def _discount(value: object) -> float:
    """A share off list price: ``0.25`` or ``25%``; from 0 up to (not including) 1."""
    text = str(value).strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        share = math.nan
    if not (math.isfinite(share) and 0 <= share < 1):
        raise InvalidInput(
            "discount",
            f"Discount off list price must be a share from 0 up to 1 (0.25 or 25%), got '{value}'.",
        )
    return share


@dataclass(frozen=True)
class Pricing:
    """How GPU hours are priced for a team (see the module's notes)."""

    provider: str | None = None  # None: the cheapest provider listing each GPU
    spot: bool = False
    discount: float = 0.0  # share off list price (committed use)
    #: US$ per GPU-hour for GPUs by name (as logged), e.g. a card the table does not list
    gpu_prices: Mapping[str, float] = field(default_factory=dict)
    set_by: str | None = None
    set_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "discount", _discount(self.discount))
        object.__setattr__(self, "provider", (self.provider or "").strip() or None)
        for gpu, price in self.gpu_prices.items():
            if not (isinstance(price, int | float) and math.isfinite(price) and price > 0):
                raise InvalidInput(
                    "price_per_gpu_hour", f"The price of {gpu} per GPU-hour must be above 0."
                )

    def describe(self) -> str:
        """In words, as every page that prices shows it.

        >>> Pricing().describe()
        'each GPU at the cheapest listed provider, on-demand, list price'
        >>> Pricing("AWS", spot=True, discount=0.25, gpu_prices={"RTX 4090": 0.69}).describe()
        'AWS, spot, 25% off list; your price for 1 GPU (RTX 4090 $0.69/GPU-h)'
        """
        where = self.provider or "each GPU at the cheapest listed provider"
        kind = "spot" if self.spot else "on-demand"
        off = f"{self.discount:.0%} off list" if self.discount else "list price"
        text = f"{where}, {kind}, {off}"
        if self.gpu_prices:
            own = ", ".join(f"{gpu} ${price:.2f}/GPU-h" for gpu, price in self.gpu_prices.items())
            n = len(self.gpu_prices)
            text += f"; your price for {n} GPU{'s' if n != 1 else ''} ({own})"
        return text

    def with_values(self, values: Mapping[str, Any], *, fx_rate: float = 1.0) -> Pricing:
        """This pricing with a batch's values over it (``provider``, ``spot``,
        ``discount``, ``price_per_gpu_hour[NAME]`` in the batch's currency, ``fx_rate``
        units per US$)."""
        changes: dict[str, Any] = {}
        if values.get("provider") is not None:
            changes["provider"] = str(values["provider"])
        if values.get("spot") is not None:
            changes["spot"] = parse_spot(values["spot"])
        if values.get("discount") is not None:
            changes["discount"] = _discount(values["discount"])
        own = {
            m["gpu"].strip(): float(v) / fx_rate
            for k, v in values.items()
            if (m := GPU_PRICE_FIELD.match(k))
        }
        if own:
            changes["gpu_prices"] = {**self.gpu_prices, **own}
        return replace(self, **changes) if changes else self

    def as_record(self) -> dict[str, Any]:
        """What the history keeps of it (``gpu_prices`` as a mapping)."""
        return {
            "provider": self.provider,
            "spot": self.spot,
            "discount": self.discount,
            "gpu_prices": dict(self.gpu_prices),
        }
