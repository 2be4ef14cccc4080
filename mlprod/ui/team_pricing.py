"""The team's pricing on every page that prices GPU hours: what it is and who set it, and
for admins the form that changes it (kept in the history, each change with who and when)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from mlprod.access import Person
from mlprod.costs.fx import default_fx
from mlprod.costs.gpus import default_prices
from mlprod.costs.pricing import Pricing
from mlprod.errors import DatabaseError, InvalidInput
from mlprod.text import md
from mlprod.ui.resources import store, writing, written
from mlprod.ui.shell import person

__all__ = [
    "GPU_PRICES",
    "discount_input",
    "keep_gpu_prices",
    "pricing_bar",
    "team_pricing",
    "unpriced_gpus",
]

CHEAPEST = "Cheapest listed"
#: The Batch page's prices for GPUs the table does not list: name -> price per GPU-hour
#: (the batch's currency), for the session.
GPU_PRICES = "batch-gpu-prices"


def discount_input(where: Any, pricing: Pricing, *, key: str) -> float:
    """The discount off list price, in percent, starting at ``pricing``'s; as a share."""
    percent = where.number_input(
        "Discount off list price (%)",
        value=round(pricing.discount * 100, 4),
        min_value=0.0,
        max_value=99.0,
        step=5.0,
        help="A committed-use or negotiated discount off the providers' list prices.",
        key=key,
    )
    return float(percent) / 100


def team_pricing() -> Pricing:
    """The team's pricing as kept in the history (read on every run: one row)."""
    try:
        return store().team_pricing()
    except DatabaseError:  # the page says what is wrong with the history elsewhere
        return Pricing()


def _admin() -> Person | None:
    """The person acting, when an admin (the local operator without sign-in is one)."""
    me = person()
    if me is None or not me.at_least("admin"):
        return None
    return me if me.name else Person.local("local operator")


def pricing_bar(page: str) -> Pricing:
    """One line saying how GPU hours are priced here, and for admins the form to change
    it; returns the team's pricing."""
    pricing = team_pricing()
    who = (
        f" — set by {md(pricing.set_by)} on {pricing.set_at:%Y-%m-%d}"
        if pricing.set_by and pricing.set_at
        else " (the default: an admin can set the team's)"
    )
    st.caption(f":material/sell: GPU hours priced at {md(pricing.describe())}{who}.")
    admin = _admin()
    if admin is not None:
        with st.expander("Team pricing (admins)"):
            _editor(pricing, admin, page)
    return pricing


def _editor(pricing: Pricing, admin: Person, page: str) -> None:
    prices = default_prices()
    providers = [CHEAPEST, *prices.providers()]
    with st.form(f"{page}-team-pricing"):
        left, middle, right = st.columns(3)
        provider = left.selectbox(
            "Provider",
            providers,
            index=providers.index(pricing.provider) if pricing.provider in providers else 0,
            key=f"{page}-team-provider",
        )
        kind = middle.radio(
            "Price",
            ("On-demand", "Spot"),
            index=int(pricing.spot),
            horizontal=True,
            key=f"{page}-team-spot",
        )
        discount = discount_input(right, pricing, key=f"{page}-team-discount")
        st.caption("Your own price (US$ per GPU-hour) for GPUs the table does not list:")
        own = st.data_editor(
            pd.DataFrame(
                {
                    "GPU": list(pricing.gpu_prices),
                    "US$ per GPU-hour": list(pricing.gpu_prices.values()),
                }
            ).astype({"GPU": "string", "US$ per GPU-hour": "float64"}),
            num_rows="dynamic",
            hide_index=True,
            key=f"{page}-team-gpu-prices",
        )
        if not st.form_submit_button("Keep for the team", icon=":material/save:"):
            return
    try:
        chosen = Pricing(
            None if provider == CHEAPEST else provider,
            kind == "Spot",
            discount,
            {
                str(row["GPU"]).strip(): float(row["US$ per GPU-hour"])
                for _, row in own.iterrows()
                if pd.notna(row["GPU"]) and str(row["GPU"]).strip()
            },
        )
    except (InvalidInput, TypeError, ValueError) as exc:
        st.error(md(exc), icon=":material/error:")
        return
    with writing() as history:
        history.set_team_pricing(chosen, who=admin)
    written()
    st.toast(f"Team pricing kept: {chosen.describe()}.")
    st.rerun()


def keep_gpu_prices(prices_usd: Mapping[str, float]) -> bool:
    """Add GPUs' own prices (US$ per GPU-hour) to the team's pricing, when an admin is
    acting; returns whether they were kept."""
    admin = _admin()
    if admin is None:
        return False
    pricing = team_pricing()
    with writing() as history:
        history.set_team_pricing(
            replace(pricing, gpu_prices={**pricing.gpu_prices, **prices_usd}), who=admin
        )
    written()
    return True


def unpriced_gpus(counts: Mapping[str, int], currency: str) -> None:
    """Each GPU the price table does not list, once, with its runs and an input for its
    price per GPU-hour: the price prices exactly those runs (others keep theirs)."""
    fx_rate = default_fx().rate(currency)
    with st.form("batch-price-gpus", border=True):
        st.markdown(f"**GPUs without a price** ({len(counts)})")
        st.caption(
            "The price table does not list these GPUs. Give each its price per GPU-hour "
            f"({currency}): it prices only the runs on that GPU."
        )
        prices: dict[str, float] = {}
        for gpu, runs in sorted(counts.items(), key=lambda kv: -kv[1]):
            price = st.number_input(
                f"{gpu} — {runs:,} run{'s' if runs != 1 else ''}",
                value=None,
                min_value=0.0,
                step=0.05,
                format="%.2f",
                placeholder="price per GPU-hour",
                # keyed by the GPU: a rescored batch lists other GPUs in other places
                key=f"batch-gpu-price-{hashlib.sha1(gpu.encode()).hexdigest()[:12]}",
            )
            if price:
                prices[gpu] = float(price)
        keep = st.checkbox(
            "Keep these prices for the team (admins)",
            key="batch-keep-gpu-prices",
            help="Kept in the team's pricing: every page and command prices these GPUs so.",
        )
        if not st.form_submit_button("Price these runs and score again", type="primary"):
            return
    if not prices:
        st.warning("Give a price per GPU-hour for at least one GPU.")
        return
    st.session_state[GPU_PRICES] = {**st.session_state.get(GPU_PRICES, {}), **prices}
    if keep and not keep_gpu_prices({gpu: p / fx_rate for gpu, p in prices.items()}):
        st.warning("Only admins keep prices for the team; these price this batch only.")
    st.session_state["batch-rescore"] = True
    st.rerun()
