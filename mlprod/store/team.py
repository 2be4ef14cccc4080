"""The team's settings kept in the history, each change with who made it and when (the
newest holds): its pricing (issue #33) and the run in production for each model or project
(issue #37). Mixed into ``Store``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from mlprod.access import Person
from mlprod.costs.pricing import Pricing
from mlprod.errors import InvalidInput
from mlprod.store.connection import Connection
from mlprod.store.schema import utc_now

__all__ = ["SCOPES", "ProductionMark", "ProductionMarks", "TeamSettings"]


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


@dataclass(frozen=True)
class ProductionMark:
    """The run (a history id) or group (``group:NAME``) in production for a model or a
    project, who marked it, when, and why."""

    scope_kind: str  # "model" or "project"
    scope: str
    side: str
    marked_by: str
    marked_at: datetime
    note: str | None = None

    def describe(self) -> str:
        """``bert: run 42, marked by ann on 2026-12-07 ("after the Q4 review")``."""
        what = self.side if self.side.startswith("group:") else f"run {self.side}"
        note = f' ("{self.note}")' if self.note else ""
        return (
            f"{self.scope}: {what}, marked by {self.marked_by} on {self.marked_at:%Y-%m-%d}{note}"
        )


SCOPES = ("model", "project")


class ProductionMarks(Connection):
    """Which run is in production for a model or a project (mixed into ``Store``)."""

    def mark_production(
        self, side: str, *, scope_kind: str, scope: str, who: Person, note: str | None = None
    ) -> ProductionMark:
        """Mark ``side`` (a history id as text, or ``group:NAME``) as the one in production
        for ``scope`` (a model or project name); an editor of the project acts. The mark
        and every change of it are kept."""
        return self._production(side, scope_kind, scope, who, note)

    def unmark_production(self, *, scope_kind: str, scope: str, who: Person) -> None:
        """Say that nothing is in production for ``scope`` any more (kept in the log)."""
        self._production(None, scope_kind, scope, who, None)

    def _production(
        self, side: str | None, scope_kind: str, scope: str, who: Person, note: str | None
    ) -> ProductionMark:
        if scope_kind not in SCOPES:
            raise InvalidInput(
                "scope", f"A production mark is for a model or a project, not {scope_kind}."
            )
        who.require_change([scope] if scope_kind == "project" else self._projects_of(side))
        now = utc_now()
        with self.transaction() as cur:
            cur.execute(
                "INSERT INTO production_marks (marked_at, marked_by, scope_kind, scope, side, "
                "note) VALUES (?, ?, ?, ?, ?, ?)",
                [now, who.name, scope_kind, scope, side, note],
            )
        return ProductionMark(scope_kind, scope, side or "", who.name, now, note)

    def _projects_of(self, side: str | None) -> list[str | None]:
        if side is None or not side.isdigit():
            return []
        with self.cursor() as cur:
            row = cur.execute(
                "SELECT project FROM calculations WHERE id = ?", [int(side)]
            ).fetchone()
        return [row[0]] if row else []

    def production(
        self, *, model: str | None = None, project: str | None = None
    ) -> ProductionMark | None:
        """The mark in production for ``model``, else for ``project`` (None: none)."""
        for kind, scope in (("model", model), ("project", project)):
            if scope is None:
                continue
            with self.cursor() as cur:
                row = cur.execute(
                    "SELECT side, marked_by, marked_at, note FROM production_marks "
                    "WHERE scope_kind = ? AND scope = ? ORDER BY marked_at DESC LIMIT 1",
                    [kind, scope],
                ).fetchone()
            if row is not None and row[0] is not None:
                return ProductionMark(kind, scope, row[0], row[1], row[2], row[3])
        return None

    def production_marks(self) -> pd.DataFrame:
        """Every model's and project's current mark (unmarked scopes left out)."""
        with self.cursor() as cur:
            return cur.execute(
                "SELECT scope_kind, scope, side, marked_by, marked_at, note FROM ("
                "SELECT *, row_number() OVER (PARTITION BY scope_kind, scope "
                "ORDER BY marked_at DESC) AS newest FROM production_marks) AS marks "
                "WHERE newest = 1 AND side IS NOT NULL ORDER BY scope_kind, scope"
            ).df()

    def production_log(self, limit: int = 200) -> pd.DataFrame:
        """Every mark and unmark, newest first."""
        with self.cursor() as cur:
            return cur.execute(
                "SELECT marked_at, marked_by, scope_kind, scope, side, note FROM "
                "production_marks ORDER BY marked_at DESC LIMIT ?",
                [limit],
            ).df()
