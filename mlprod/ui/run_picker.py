"""Compare's side picker: one run from the history, typed in by hand, or from the last
scored batch."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlprod.compare import Run, run_from_row
from mlprod.store import Store

__all__ = ["run_label", "run_picker", "side_defaults"]

SOURCES = ("History", "By hand", "Last scored batch")
HAND_FIELDS = (
    ("f1", "F1 score", 0.01),
    ("training_cost", "Training cost", 100.0),
    ("inference_cost", "Inference cost", 10.0),
    ("training_hours", "Training time (hours)", 0.5),
    ("latency_ms", "Latency (ms)", 1.0),
)


def side_defaults(prefix: str, side: int | Run) -> dict[str, object]:
    """Widget values that show ``side`` (a history id or a hand-entered run)."""
    if isinstance(side, int):
        return {f"{prefix}-source": "History", f"{prefix}-pick": side}
    values: dict[str, object] = {f"{prefix}-source": "By hand", f"{prefix}-name": side.name}
    for name, _, _ in HAND_FIELDS:
        values[f"{prefix}-{name}"] = float(getattr(side, name))
    return values


def run_picker(prefix: str, title: str, store: Store, batch: pd.DataFrame | None) -> int | Run:
    """Pick one run from the history, by hand or from the last scored batch.

    Returns the history id or the hand-entered / batch run (a batch row is not in the
    history, so it travels by value).
    """
    st.markdown(f"**{title}**")
    sources = SOURCES if batch is not None and not batch.empty else SOURCES[:2]
    if st.session_state.get(f"{prefix}-source") not in sources:
        st.session_state[f"{prefix}-source"] = sources[0]
    source = st.radio("From", sources, key=f"{prefix}-source", horizontal=True)
    if source == "History":
        text = st.text_input(
            "Search", key=f"{prefix}-search", placeholder="model, run id, project or tag"
        )
        found = store.search(text, limit=200)
        chosen = st.session_state.get(f"{prefix}-pick")
        if chosen is not None and chosen not in set(found["id"]):
            found = pd.concat([store.calculations_by_id([int(chosen)]), found])
        if found.empty:
            st.info("No saved run matches; try another search or enter one by hand.")
            st.stop()
        labels = {int(r.id): run_label(r) for r in found.itertuples()}
        pick = st.selectbox(
            "Run (newest first)", list(labels), format_func=labels.get, key=f"{prefix}-pick"
        )
        return int(pick)
    if source == "Last scored batch" and batch is not None:
        labels = {i: run_label(r) for i, r in enumerate(batch.itertuples())}
        index = st.selectbox(
            "Run from the batch", list(labels), format_func=labels.get, key=f"{prefix}-batch"
        )
        return run_from_row(batch.iloc[int(index)])
    name = st.text_input("Model name", key=f"{prefix}-name") or "model"
    values = {}
    left, right = st.columns(2)
    for i, (field_name, label, step) in enumerate(HAND_FIELDS):
        values[field_name] = (left if i % 2 == 0 else right).number_input(
            label, step=step, key=f"{prefix}-{field_name}"
        )
    return Run(name=name, **values)


def run_label(row: object) -> str:
    """How a run reads in a picker: model · run · F1 · date."""
    model = getattr(row, "model_name", None) or getattr(row, "run_name", None) or "run"
    run = getattr(row, "run_id", None) or getattr(row, "run_name", None)
    created = getattr(row, "created_at", None)
    when = f" · {created:%Y-%m-%d}" if isinstance(created, pd.Timestamp) else ""
    ident = f" · {run}" if run and run != model and isinstance(run, str) else ""
    return f"{model}{ident} · F1 {float(getattr(row, 'f1', 0)):.3f}{when}"
