"""The run in production for each model: shown on History, marked there by an editor, and
offered by Compare as model A (:mod:`mlprod.store.team` keeps the marks and their log)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlprod.access import Person
from mlprod.errors import DatabaseError
from mlprod.store import ProductionMark
from mlprod.text import md
from mlprod.ui.resources import store, writing, written

__all__ = ["production_for", "production_line", "production_mark_button"]

_MARKED = "history-production-marked"  # what was just marked, said once after the rerun


def _marks() -> pd.DataFrame:
    try:
        return store().production_marks()
    except DatabaseError:  # the page says what is wrong with the history elsewhere
        return pd.DataFrame()


def production_for(model: str | None) -> ProductionMark | None:
    """The mark in production for ``model`` (None: none, or no model)."""
    if not model:
        return None
    try:
        return store().production(model=model)
    except DatabaseError:
        return None


def production_line() -> None:
    """One line naming what is in production for each model and project."""
    if marked := st.session_state.pop(_MARKED, None):
        st.toast(marked, icon=":material/rocket_launch:")
    marks = _marks()
    if marks.empty:
        return
    said = [
        ProductionMark(r.scope_kind, r.scope, r.side, r.marked_by, r.marked_at, r.note).describe()
        for r in marks.itertuples()
    ]
    st.caption(":material/rocket_launch: In production — " + md("; ".join(said)))


def production_mark_button(
    run: pd.Series, who: Person | None, where: st.delta_generator.DeltaGenerator
) -> None:
    """For one ticked run: mark it as the one in production for its model (with a note)."""
    model = run.get("model_name")
    if not isinstance(model, str) or not model:
        where.caption("A run needs a model name to be marked in production.")
        return
    with where.popover("Mark in production", icon=":material/rocket_launch:"):
        note = st.text_input("Why (kept with the mark)", key="history-production-note")
        if not st.button(
            f"Mark run {int(run['id'])} in production for {model}",
            key="history-production-mark",
            type="primary",
        ):
            return
    acting = who if who is not None and who.name else Person.local("local operator")
    with writing() as history:
        history.mark_production(
            str(int(run["id"])), scope_kind="model", scope=model, who=acting, note=note or None
        )
    written()
    st.session_state[_MARKED] = f"Run {int(run['id'])} is now in production for {model}."
    st.rerun()  # the line above the table names it
