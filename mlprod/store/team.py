"""The team's settings kept in the history: its pricing (issue #33), each change with who
made it and when; the newest holds. Mixed into ``Store``."""

from __future__ import annotations

import json

import pandas as pd

from mlprod.access import Person
from mlprod.costs.pricing import Pricing
from mlprod.store.connection import Connection
from mlprod.store.schema import utc_now

__all__ = ["TeamSettings"]


class TeamSettings(Connection):
    """The team's pricing: read by every page and command that prices GPU hours."""

    def team_pricing(self) -> Pricing:
        """The pricing an admin set last; the default (cheapest provider, on demand, list
        price) when none was set."""
        with self.cursor() as cur:
            row = cur.execute(
                "SELECT provider, spot, discount, gpu_prices, set_by, set_at FROM team_pricing "
                "ORDER BY set_at DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return Pricing()
        provider, spot, discount, prices, by, at = row
        return Pricing(provider, bool(spot), float(discount), json.loads(prices), by, at)

    def set_team_pricing(self, pricing: Pricing, *, who: Person) -> Pricing:
        """Keep ``pricing`` as the team's (admins only); returns it with who and when."""
        who.require_admin("Setting the team's pricing")
        now = utc_now()
        record = pricing.as_record()
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO team_pricing (set_at, set_by, provider, spot, discount, gpu_prices) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    now,
                    who.name,
                    record["provider"],
                    record["spot"],
                    record["discount"],
                    json.dumps(record["gpu_prices"], sort_keys=True),
                ],
            )
        return Pricing(**record, set_by=who.name, set_at=now)

    def pricing_changes(self, limit: int = 50) -> pd.DataFrame:
        """The newest changes of the team's pricing first: when, who, and what it became."""
        with self.cursor() as cur:
            return cur.execute(
                "SELECT set_at, set_by, provider, spot, discount, gpu_prices FROM team_pricing "
                "ORDER BY set_at DESC LIMIT ?",
                [limit],
            ).df()
