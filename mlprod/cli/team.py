"""The team's pricing for a command that prices GPU hours (``score``, ``import``,
``calc``): read from the history the command names, when there is one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlprod import config
from mlprod.costs.pricing import Pricing
from mlprod.errors import MlprodError

__all__ = ["team_pricing"]


def team_pricing(args: argparse.Namespace) -> Pricing:
    """The team's pricing kept in the history (``--db``), if there is one to read; the
    default (cheapest listed provider) when none is set or the history cannot be read."""
    database = args.db or config.database()
    if "://" not in str(database) and not Path(database).exists():
        return Pricing()
    from mlprod.store import Store

    try:
        with Store(database, wait=getattr(args, "wait", None)) as store:
            return store.team_pricing()
    except MlprodError as exc:
        print(
            f"note: the team's pricing could not be read ({exc}); priced at list.", file=sys.stderr
        )
        return Pricing()
