"""Where training costs come from: GPU hours x prices, in a currency (inference costs:
:mod:`mlprod.costs.inference`).

Every builder returns the amount *and* the assumptions behind it (price used, its date and
source, traffic, ...) with a formula a person can check, so the assumptions can travel
with the result into the history, the comparison and the exports.

Prices in ``data/gpu_prices.csv`` are US dollars per GPU-hour; ``data/fx_rates.csv`` says
how many units of each currency one dollar buys.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import asdict, dataclass
from datetime import date
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlprod import config
from mlprod.costs.fx import FxTable, default_fx
from mlprod.costs.pricing import Pricing, gpu_price_key
from mlprod.costs.tables import as_of_day, checked_number, positive_number, table_rows
from mlprod.errors import CostTableError, InvalidInput
from mlprod.formatting import format_money, format_ratio


def gpu_key(name: str) -> str:
    """A GPU name as lookups see it: ``"A100 80GB"``, ``"a100-80gb"`` and ``"A100_80GB"``
    are the same GPU.

    >>> gpu_key(" A100 80GB "), gpu_key("h100-80gb")
    ('a10080gb', 'h10080gb')
    """
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class GpuPrice:
    provider: str
    gpu_model: str
    on_demand: float  # USD per GPU-hour
    spot: float | None  # None where the provider has no spot market
    as_of: date
    source: str


class PriceTable:
    """GPU prices per provider, validated when loaded."""

    COLUMNS = (
        "provider",
        "gpu_model",
        "on_demand_usd_per_gpu_hour",
        "spot_usd_per_gpu_hour",
        "as_of",
        "source",
    )

    ALIAS_COLUMNS = ("alias", "gpu_model")

    def __init__(self, prices: list[GpuPrice], aliases: dict[str, str] | None = None) -> None:
        if not prices:
            raise CostTableError("The GPU price table is empty.")
        self.prices = prices
        self._models = {gpu_key(p.gpu_model): p.gpu_model for p in prices}
        #: gpu_key of a name as logged -> the price table's name for that GPU
        self.aliases = {gpu_key(k): v for k, v in (aliases or {}).items()}

    @classmethod
    def load(cls, path: Path | None = None, aliases: Path | None = None) -> PriceTable:
        """Read and validate a price table and its GPU aliases (``aliases``, by default
        ``MLPROD_GPU_ALIASES`` or data/gpu_aliases.csv; a missing file means none); a bad
        row raises CostTableError naming it.

        An alias must point at a GPU the price table lists, except that when a team brings
        its own price table but keeps the shipped aliases, the shipped aliases of GPUs it
        does not price are left out (they could price nothing).
        """
        price_path = path or config.gpu_prices_path()
        table = cls._read_prices(price_path)
        alias_path = aliases or config.gpu_aliases_path()
        if not alias_path.exists():
            return table
        shipped = config.PROJECT_DIR / "data"
        lenient = config.same_file(
            alias_path, shipped / "gpu_aliases.csv"
        ) and not config.same_file(price_path, shipped / "gpu_prices.csv")
        named: dict[str, str] = {}
        for where, row in table_rows(alias_path, cls.ALIAS_COLUMNS):
            alias, model = row["alias"].strip(), row["gpu_model"].strip()
            if not alias or not model:
                raise CostTableError(f"{where}: alias and gpu_model are required.")
            if gpu_key(model) not in table._models:
                if lenient:
                    continue
                raise CostTableError(
                    f"{where}: '{alias}' points at {model}, which the price table does not "
                    f"list; known: {', '.join(table.models())}."
                )
            if gpu_key(alias) in named and named[gpu_key(alias)] != model:
                raise CostTableError(f"{where}: '{alias}' is listed twice, for two GPUs.")
            named[gpu_key(alias)] = table._models[gpu_key(model)]
        return cls(table.prices, named)

    @classmethod
    def _read_prices(cls, path: Path) -> PriceTable:
        prices, seen = [], set()
        for where, row in table_rows(path, cls.COLUMNS):
            if not row["provider"].strip() or not row["gpu_model"].strip():
                raise CostTableError(f"{where}: provider and gpu_model are required.")
            key = (row["provider"].strip().lower(), gpu_key(row["gpu_model"]))
            if key in seen:
                raise CostTableError(
                    f"{where}: {row['provider']} {row['gpu_model']} is listed twice."
                )
            seen.add(key)
            on_demand = positive_number(row["on_demand_usd_per_gpu_hour"], "on-demand price", where)
            spot = positive_number(row["spot_usd_per_gpu_hour"], "spot price", where, optional=True)
            assert on_demand is not None
            if spot is not None and spot > on_demand:
                raise CostTableError(f"{where}: the spot price is above the on-demand price.")
            prices.append(
                GpuPrice(
                    row["provider"].strip(),
                    row["gpu_model"].strip(),
                    on_demand,
                    spot,
                    as_of_day(row["as_of"], where),
                    row["source"].strip(),
                )
            )
        return cls(prices)

    def canonical(self, name: str) -> str | None:
        """The price table's name for a GPU as written or as a tracker logged it
        (``"NVIDIA A100-SXM4-80GB"`` is ``"A100-80GB"``); None when unknown.

        >>> table = default_prices()
        >>> table.canonical("Tesla T4"), table.canonical("a100 80gb"), table.canonical("X9")
        ('T4', 'A100-80GB', None)
        """
        key = gpu_key(name)
        return self._models.get(key) or self.aliases.get(key)

    def unknown_gpu(self, name: str) -> str:
        """Why a GPU name cannot be priced: the known names closest to it, then all."""
        if not str(name or "").strip():
            return f"GPU model is empty; known: {', '.join(self.models())}."
        names = {**{k: v for k, v in self._models.items()}, **self.aliases}
        close = difflib.get_close_matches(gpu_key(name), list(names), n=6, cutoff=0.5)
        nearest = list(dict.fromkeys(names[k] for k in close))[:3]
        hint = f" closest: {', '.join(nearest)};" if nearest else ""
        return (
            f"GPU '{name}' is not in the price table;{hint} known: {', '.join(self.models())}. "
            f"Give its price per GPU-hour (on the Batch page, or --set "
            f'"{gpu_price_key(str(name))}=PRICE").'
        )

    def models(self) -> list[str]:
        """Every GPU model in the table, as written there."""
        return sorted({p.gpu_model for p in self.prices}, key=gpu_key)

    def providers(self, gpu_model: str | None = None) -> list[str]:
        return sorted(
            {
                p.provider
                for p in self.prices
                if gpu_model is None or p.gpu_model == self.canonical(gpu_model)
            }
        )

    def price(self, gpu_model: str, *, spot: bool = False, provider: str | None = None) -> GpuPrice:
        """The price of one GPU: at ``provider``, or the cheapest provider listing it.

        Raises
        ------
        InvalidInput
            Unknown GPU or provider, or no spot market there; the message lists what is known.
        """
        model = self.canonical(gpu_model)
        found = [p for p in self.prices if model and p.gpu_model == model]
        if not found:
            raise InvalidInput("gpu_model", self.unknown_gpu(gpu_model))
        if provider:
            found = [p for p in found if p.provider.lower() == provider.lower()]
            if not found:
                raise InvalidInput(
                    "provider",
                    f"{provider} does not list {gpu_model}; it is listed by "
                    f"{', '.join(self.providers(gpu_model))}.",
                )
        if spot:
            found = [p for p in found if p.spot is not None]
            if not found:
                raise InvalidInput("spot", f"No spot price for {gpu_model} at {provider}.")
            return min(found, key=lambda p: p.spot or math.inf)
        return min(found, key=lambda p: p.on_demand)

    def hourly_prices(
        self,
        gpu_models: pa.Array,
        pricing: Pricing | None = None,
        *,
        providers: pa.Array | None = None,
        spots: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """US$ per GPU-hour for a column of GPU names as ``pricing`` prices them: at its
        provider (or each row's own, ``providers``; empty cells take the pricing's), on
        demand or spot (``spots`` per row), less its discount; the team's own price for a
        GPU it names. Returns ``price`` (numpy; NaN where a row cannot be priced) and, as
        Arrow columns, each row's ``kind``, ``provider``, ``as_of``, the table's name of
        its GPU (``gpu_model``) and ``why`` it could not be priced.

        Columnar: the rows' (GPU, provider, spot) are dictionary-encoded, each distinct
        one is priced once (a file holds a handful), and the answers taken row by row."""
        pricing = pricing or Pricing()
        n = len(gpu_models)
        logged = pc.fill_null(pc.cast(gpu_models, pa.string()), "")
        asked = pa.nulls(n, pa.string()) if providers is None else pc.cast(providers, pa.string())
        asked = pc.utf8_lower(pc.utf8_trim_whitespace(pc.fill_null(asked, "")))
        asked = pc.if_else(pc.equal(asked, ""), (pricing.provider or "").lower(), asked)
        spot = np.full(n, pricing.spot) if spots is None else np.asarray(spots, dtype=bool)
        kinds = pa.array(np.where(spot, "s", "o"))
        # One key per row: the name's length first, so any text in a name or a provider
        # (a separator among it) parses back the same.
        length = pc.cast(pc.utf8_length(logged), pa.string())
        encoded = pc.dictionary_encode(
            pc.binary_join_element_wise(length, logged, asked, kinds, "\x1f")
        )
        answers = [self._priced(*_case(key), pricing) for key in encoded.dictionary.to_pylist()]
        at = encoded.indices

        def column(index: int, kind: pa.DataType) -> pa.Array:
            return pc.take(pa.array([a[index] for a in answers], kind), at)

        prices = np.array([a[0] for a in answers], dtype=float)
        return {
            "price": prices[np.asarray(at)] if len(prices) else np.full(n, np.nan),
            "kind": column(1, pa.string()),
            "provider": column(2, pa.string()),
            "as_of": column(3, pa.date32()),
            "gpu_model": column(4, pa.string()),
            "why": column(5, pa.string()),
        }

    def _priced(
        self, name: str, provider: str, spot: str, pricing: Pricing
    ) -> tuple[float, str | None, str | None, date | None, str | None, str | None]:
        """One (GPU as logged, provider, "s"pot or "o"n-demand): its price per GPU-hour,
        kind, provider, date, the table's name for the GPU, and why it has no price."""
        model = self.canonical(name) if name.strip() else None
        own = {gpu_key(k): v for k, v in pricing.gpu_prices.items()}
        for key in (gpu_key(name), gpu_key(model or "")):
            if key and key in own:  # the team's own price for this GPU
                return own[key], "your price", None, None, model, None
        listed = self._listings.get(f"{provider}|{gpu_key(model or '')}|{spot}")
        if model is None or listed is None:
            return (
                math.nan,
                None,
                None,
                None,
                model,
                self._why_unpriced(name, provider, spot == "s"),
            )
        usd, price = listed
        kind = "spot" if spot == "s" else "on-demand"
        return usd * (1 - pricing.discount), kind, price.provider, price.as_of, model, None

    @cached_property
    def _listings(self) -> dict[str, tuple[float, GpuPrice]]:
        """``provider|gpu|o`` (or ``s`` for spot) -> its price; an empty provider is the
        cheapest one listing the GPU."""
        out: dict[str, tuple[float, GpuPrice]] = {}
        for p in self.prices:
            gpu = gpu_key(p.gpu_model)
            for kind, usd in (("o", p.on_demand), ("s", p.spot)):
                if usd is None:
                    continue
                out[f"{p.provider.lower()}|{gpu}|{kind}"] = (usd, p)
                cheapest = f"|{gpu}|{kind}"
                if cheapest not in out or usd < out[cheapest][0]:
                    out[cheapest] = (usd, p)
        return out

    def _why_unpriced(self, name: str | None, provider: str, spot: bool) -> str:
        """Why a GPU cannot be priced (unknown, not at that provider, no spot there), and
        how to price it."""
        if not (name or "").strip() or not self.canonical(name or ""):
            return self.unknown_gpu(name or "")
        spelled = {p.lower(): p for p in self.providers()}
        if provider and provider not in spelled:
            return (
                f"'{provider}' is not a provider in the price table; providers: "
                f"{', '.join(self.providers())}."
            )
        try:
            self.price(name or "", spot=spot, provider=spelled.get(provider))
        except InvalidInput as exc:
            return str(exc)
        return f"GPU '{name}' could not be priced."


def _case(key: str) -> tuple[str, str, str]:
    r"""A row's (GPU as logged, provider, "s" or "o") back from its key.

    >>> _case("5\x1fA\x1fB,C\x1faws\x1fs")
    ('A\x1fB,C', 'aws', 's')
    """
    length, rest = key.split("\x1f", 1)
    name, rest = rest[: int(length)], rest[int(length) + 1 :]
    provider, spot = rest.rsplit("\x1f", 1)
    return name, provider, spot


def default_prices() -> PriceTable:
    """The team's price table (``MLPROD_GPU_PRICES`` or data/gpu_prices.csv), read once."""
    return _load_prices(config.gpu_prices_path())


@cache
def _load_prices(path: Path) -> PriceTable:
    return PriceTable.load(path)


@dataclass(frozen=True)
class TrainingCost:
    """A training cost built from GPU hours, with the assumptions behind it."""

    gpu_model: str
    gpu_count: float
    gpu_hours: float
    price_per_gpu_hour: float  # in ``currency``
    price_kind: str  # "on-demand", "spot" or "override"
    price_provider: str | None
    price_as_of: date | None
    price_discount: float | None  # share off the table's list price; None: your price
    extra_costs: float
    currency: str
    fx_rate: float
    total: float

    def formula(self) -> str:
        """The cost with every number filled in.

        >>> t = training_cost("A100-80GB", 8, 10, price_override=2.5)
        >>> t.formula()
        'Training cost = 8 GPUs × 10 h × $2.50/GPU-h (your price) = $200'
        """

        def money(amount: float) -> str:
            return format_money(amount, self.currency)

        off = f", {self.price_discount:.0%} off list" if self.price_discount else ""
        where = (
            "your price"
            if self.price_kind == "override"
            else f"{self.price_provider} {self.price_kind}{off}, {self.price_as_of}"
        )
        gpus = "GPU" if self.gpu_count == 1 else "GPUs"
        text = (
            f"Training cost = {format_ratio(self.gpu_count)} {gpus} × "
            f"{format_ratio(self.gpu_hours)} h × {money(self.price_per_gpu_hour)}/GPU-h "
            f"({where})"
        )
        if self.extra_costs:
            text += f" + {money(self.extra_costs)} extra"
        return f"{text} = {money(self.total)}"

    def assumptions(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("total")
        return out


def gpu_hour_price(
    gpu_model: str,
    *,
    spot: bool = False,
    provider: str | None = None,
    price_override: float | None = None,
    rate: float = 1.0,
    prices: PriceTable | None = None,
) -> tuple[str, float, str, str | None, date | None]:
    """One GPU-hour's price for training or serving: the table's name for the GPU ("Tesla
    T4" is T4), the price in the currency (``rate`` units per US dollar), its kind
    ("on-demand", "spot" or "override"), provider and date. ``price_override`` is already
    in the currency.

    >>> gpu_hour_price("Tesla T4", provider="AWS")
    ('T4', 0.53, 'on-demand', 'AWS', datetime.date(2026, 10, 1))
    """
    table = prices or default_prices()
    gpu_model = table.canonical(gpu_model) or gpu_model
    if price_override is not None:
        price = checked_number(
            price_override, "price_per_gpu_hour", "Price per GPU-hour", strict=True
        )
        return gpu_model, price, "override", None, None
    listed = table.price(gpu_model, spot=spot, provider=provider)
    usd = listed.spot if spot and listed.spot is not None else listed.on_demand
    return gpu_model, usd * rate, ("spot" if spot else "on-demand"), listed.provider, listed.as_of


def training_cost(
    gpu_model: str,
    gpu_count: float,
    gpu_hours: float,
    *,
    spot: bool = False,
    provider: str | None = None,
    price_override: float | None = None,
    discount: float = 0.0,
    extra_costs: float = 0.0,
    currency: str = "USD",
    prices: PriceTable | None = None,
    fx: FxTable | None = None,
) -> TrainingCost:
    """Training cost = GPUs × hours × price per GPU-hour + extra costs, in ``currency``.

    The price is ``price_override`` (already in ``currency``) or the table's on-demand or
    spot price (USD, converted at the table's rate) less ``discount`` (a share off list,
    e.g. a committed-use discount of 0.25).

    Raises
    ------
    InvalidInput
        Unknown GPU (listing the known ones), a count or hours not above 0, and so on.

    >>> training_cost("A100-80GB", 8, 10, provider="AWS").total  # 8 × 10 × $5.12
    409.6
    >>> print(training_cost("A100-80GB", 8, 10, provider="AWS", discount=0.25).formula())
    Training cost = 8 GPUs × 10 h × $3.84/GPU-h (AWS on-demand, 25% off list, 2026-10-01) = $307.20
    """
    count = checked_number(gpu_count, "gpu_count", "GPU count", strict=True)
    hours = checked_number(gpu_hours, "gpu_hours", "GPU hours", strict=True)
    extra = checked_number(extra_costs, "extra_costs", "Extra costs")
    rate = (fx or default_fx()).rate(currency)
    gpu_model, price, kind, where, as_of = gpu_hour_price(
        gpu_model,
        spot=spot,
        provider=provider,
        price_override=price_override,
        rate=rate,
        prices=prices,
    )
    share = Pricing(discount=discount).discount if kind != "override" else None
    price = price * (1 - (share or 0.0))
    total = round(count * hours * price + extra, 6)
    return TrainingCost(
        gpu_model,
        count,
        hours,
        price,
        kind,
        where,
        as_of,
        share,
        extra,
        currency.upper(),
        rate,
        total,
    )
