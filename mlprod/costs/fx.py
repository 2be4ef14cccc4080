"""Exchange rates: how many units of each currency one US dollar buys
(``data/fx_rates.csv``, or ``MLPROD_FX_RATES``)."""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from pathlib import Path

from mlprod import config
from mlprod.costs.tables import as_of_day, positive_number, table_rows
from mlprod.errors import CostTableError, InvalidInput


class FxTable:
    """Units of each currency per US dollar, dated."""

    COLUMNS = ("currency", "per_usd", "as_of", "source")

    def __init__(self, rates: dict[str, tuple[float, date, str]]) -> None:
        self.rates = rates

    @classmethod
    def load(cls, path: Path | None = None) -> FxTable:
        path = path or config.fx_rates_path()
        rates = {}
        for where, row in table_rows(path, cls.COLUMNS):
            code = row["currency"].strip().upper()
            if not re.fullmatch(r"[A-Z]{3}", code):
                raise CostTableError(
                    f"{where}: currency '{row['currency']}' is not a code like EUR."
                )
            rate = positive_number(row["per_usd"], "per_usd", where)
            assert rate is not None
            rates[code] = (rate, as_of_day(row["as_of"], where), row["source"].strip())
        if rates.get("USD", (None,))[0] != 1.0:
            raise CostTableError(f"{path.name}: USD must be listed with per_usd 1.0.")
        return cls(rates)

    def rate(self, currency: str) -> float:
        """How many ``currency`` one US dollar buys.

        >>> day = date(2026, 1, 1)
        >>> FxTable({"USD": (1.0, day, ""), "EUR": (0.9, day, "")}).rate("eur")
        0.9
        """
        try:
            return self.rates[currency.upper()][0]
        except KeyError:
            raise InvalidInput(
                "currency", f"No exchange rate for {currency}; known: {', '.join(self.rates)}."
            ) from None

    def as_of(self, currency: str) -> date:
        return self.rates[currency.upper()][1]


def default_fx() -> FxTable:
    """The team's exchange rates (``MLPROD_FX_RATES`` or data/fx_rates.csv), read once."""
    return _load_fx(config.fx_rates_path())


@cache
def _load_fx(path: Path) -> FxTable:
    return FxTable.load(path)
