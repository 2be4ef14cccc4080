"""The LLM price book: what API models charge per 1M tokens, dated, with its source.

``data/llm_prices.csv`` (or the team's own, ``MLPROD_LLM_PRICES``) lists per provider and
model the US$ per 1M input, output and cached-input tokens, the batch discount where the
provider has one, the date the prices were read and where. It is validated when read, like
the GPU price table: a bad row is named. Prices change often: check the dates.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from mlprod import config
from mlprod.costs.tables import as_of_day, positive_number, table_rows
from mlprod.errors import CostTableError, InvalidInput

__all__ = ["LlmPrice", "LlmPriceBook", "default_llm_prices", "model_key"]


def model_key(name: str) -> str:
    """A model name as lookups see it: case and spaces do not matter.

    >>> model_key(" GPT-4.1 Mini "), model_key("gpt-4.1-mini")
    ('gpt-4.1-mini', 'gpt-4.1-mini')
    """
    return "-".join(str(name).lower().split())


@dataclass(frozen=True)
class LlmPrice:
    provider: str
    model: str
    input_per_1m: float  # USD
    output_per_1m: float  # USD
    cached_input_per_1m: float | None
    batch_discount: float | None  # 0.5 = half price through the provider's batch API
    as_of: date
    source: str

    @property
    def label(self) -> str:
        return f"{self.model} ({self.provider})"


class LlmPriceBook:
    """API model prices, validated when loaded."""

    COLUMNS = (
        "provider",
        "model",
        "input_usd_per_1m",
        "output_usd_per_1m",
        "cached_input_usd_per_1m",
        "batch_discount",
        "as_of",
        "source",
    )

    def __init__(self, prices: list[LlmPrice]) -> None:
        if not prices:
            raise CostTableError("The LLM price book is empty.")
        self.prices = prices

    @classmethod
    def load(cls, path: Path | None = None) -> LlmPriceBook:
        """Read and validate a price book; a bad row raises CostTableError naming it.

        >>> book = LlmPriceBook.load()
        >>> book.price("gpt-4.1-mini").output_per_1m
        1.6
        """
        path = path or config.llm_prices_path()
        prices, seen = [], set()
        for where, row in table_rows(path, cls.COLUMNS):
            provider, model = row["provider"].strip(), row["model"].strip()
            if not provider or not model:
                raise CostTableError(f"{where}: provider and model are required.")
            key = (provider.lower(), model_key(model))
            if key in seen:
                raise CostTableError(f"{where}: {provider} {model} is listed twice.")
            seen.add(key)
            price_in = positive_number(row["input_usd_per_1m"], "input price", where)
            price_out = positive_number(row["output_usd_per_1m"], "output price", where)
            cached = positive_number(
                row["cached_input_usd_per_1m"], "cached-input price", where, optional=True
            )
            assert price_in is not None and price_out is not None
            if cached is not None and cached > price_in:
                raise CostTableError(f"{where}: the cached-input price is above the input price.")
            discount = positive_number(
                row["batch_discount"], "batch discount", where, optional=True
            )
            if discount is not None and discount >= 1:
                raise CostTableError(
                    f"{where}: batch_discount is a share of the price taken off (0.5 = half "
                    f"price), below 1; got '{row['batch_discount']}'."
                )
            prices.append(
                LlmPrice(
                    provider,
                    model,
                    price_in,
                    price_out,
                    cached,
                    discount,
                    as_of_day(row["as_of"], where),
                    row["source"].strip(),
                )
            )
        return cls(prices)

    def models(self) -> list[str]:
        """Every model the book prices, as written there (a model listed by two providers
        once)."""
        return sorted({p.model for p in self.prices}, key=model_key)

    def price(self, model: str, provider: str | None = None) -> LlmPrice:
        """The price of ``model`` (at ``provider``, else the cheapest listing it, by the
        price of 1M input plus 1M output tokens).

        Raises
        ------
        InvalidInput
            Unknown model or provider; the message lists the closest names and all.
        """
        found = [p for p in self.prices if model_key(p.model) == model_key(model)]
        if provider:
            found = [p for p in found if p.provider.lower() == provider.strip().lower()]
        if not found:
            names = self.models()
            close = difflib.get_close_matches(model_key(model), [model_key(n) for n in names])
            hint = f" closest: {', '.join(close[:3])};" if close else ""
            at = f" at {provider}" if provider else ""
            raise InvalidInput(
                "llm_model",
                f"LLM '{model}'{at} is not in the price book;{hint} known: {', '.join(names)}. "
                "Add a row to data/llm_prices.csv, or type the prices per 1M tokens.",
            )
        return min(found, key=lambda p: p.input_per_1m + p.output_per_1m)


def default_llm_prices() -> LlmPriceBook:
    """The team's price book (``MLPROD_LLM_PRICES`` or data/llm_prices.csv), read once."""
    return _load(config.llm_prices_path())


@cache
def _load(path: Path) -> LlmPriceBook:
    return LlmPriceBook.load(path)
