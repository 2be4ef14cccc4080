"""Compare's side picker: one run from the history, a group of runs (other seeds of one
model), typed in by hand, or from the last scored batch; and a side as the Run compared."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlprod.comparison.compare import Run, run_from_row
from mlprod.comparison.links import GroupSide
from mlprod.comparison.noise import GROUP_RULE
from mlprod.comparison.sides import side_run
from mlprod.errors import InvalidInput
from mlprod.metrics import INPUT_FIELDS, LABELS, RunInputs
from mlprod.quality import KNOWN_METRICS, metric_of
from mlprod.store import Store
from mlprod.text import md
from mlprod.ui.resources import group_runs, search_runs, store

__all__ = ["best_first", "resolve_side", "run_label", "run_picker", "side_defaults"]

SOURCES = ("History", "Group of runs", "By hand", "Last scored batch")
#: How far one click of a hand-entered input's stepper moves it.
HAND_STEPS = dict(zip(INPUT_FIELDS, (0.01, 100.0, 10.0, 0.5, 1.0), strict=True))


def side_defaults(prefix: str, side: int | Run | GroupSide) -> dict[str, object]:
    """Widget values that show ``side`` (a history id, a group or a hand-entered run)."""
    if isinstance(side, int):
        return {f"{prefix}-source": "History", f"{prefix}-pick": side}
    if isinstance(side, GroupSide):
        return {f"{prefix}-source": SOURCES[1], f"{prefix}-group": side.group}
    values: dict[str, object] = {
        f"{prefix}-source": "By hand",
        f"{prefix}-name": side.name,
        f"{prefix}-metric": side.metric.key,
    }
    for name, value in side.inputs().items():
        values[f"{prefix}-{name}"] = float(value)
    values[f"{prefix}-f1"] = side.metric.logged(side.f1)  # as typed: a WER, not 1 − WER
    return values


def run_picker(
    prefix: str, title: str, store: Store, batch: pd.DataFrame | None
) -> int | Run | GroupSide:
    """Pick one run from the history, a group of runs, by hand or from the last batch.

    Returns the history id, the group, or the hand-entered / batch run (a batch row is not
    in the history, so it travels by value).
    """
    sources = SOURCES if batch is not None and not batch.empty else SOURCES[:3]
    if st.session_state.get(f"{prefix}-source") not in sources:
        st.session_state[f"{prefix}-source"] = sources[0]
    # The side's name is the label of where it comes from: one line, not two (the page's
    # first screen holds both sides, the verdict and the ratios chart).
    source = st.radio(f"**{title}** from", sources, key=f"{prefix}-source", horizontal=True)
    if source == "History":
        return _from_history(prefix, store)
    if source == SOURCES[1]:
        return _a_group(prefix, store)
    if source == "Last scored batch" and batch is not None:
        return _from_batch(prefix, batch)
    return _by_hand(prefix)


def _from_history(prefix: str, store: Store) -> int:
    """A saved run, found by a search (the one picked stays offered when it matches no
    longer)."""
    text = st.text_input(
        "Search", key=f"{prefix}-search", placeholder="run name, model, run id, project or tag"
    )
    found = best_first(search_runs(text, limit=200), text)
    searched = f"{prefix}-searched"
    if text.strip() and st.session_state.get(searched) != text and not found.empty:
        st.session_state[f"{prefix}-pick"] = int(found["id"].iloc[0])  # a new search: its best
    st.session_state[searched] = text
    chosen = st.session_state.get(f"{prefix}-pick")
    if chosen is not None and chosen not in set(found["id"]):
        found = pd.concat([store.calculations_by_id([int(chosen)]), found])
    if found.empty:
        st.info("No saved run matches; try another search or enter one by hand.")
        st.stop()
    labels: dict[int, str] = {int(r.id): run_label(r) for r in found.itertuples()}
    pick = st.selectbox(
        "Run (newest first)", list(labels), format_func=labels.__getitem__, key=f"{prefix}-pick"
    )
    assert pick is not None  # a selectbox with options always has one chosen
    return int(pick)


def _a_group(prefix: str, store: Store) -> GroupSide:
    groups = store.run_groups()
    chosen = st.session_state.get(f"{prefix}-group")
    names = list(groups["run_group"])
    if chosen is not None and chosen not in names:
        names.insert(0, chosen)
    if not names:
        st.info(f"No group has two runs yet. {GROUP_RULE}")
        st.stop()
    counts = dict(zip(groups["run_group"], groups["runs"], strict=True))
    pick = st.selectbox(
        "Group (its runs' mean; newest first)",
        names,
        key=f"{prefix}-group",
        format_func=lambda g: f"{g} · {counts[g]} runs" if g in counts else g,
        help=GROUP_RULE,
    )
    return GroupSide(str(pick))


def _from_batch(prefix: str, batch: pd.DataFrame) -> Run:
    """A row of the last scored batch: not in the history, so it travels by value."""
    rows: dict[int, str] = {i: run_label(r) for i, r in enumerate(batch.itertuples())}
    index = st.selectbox(
        "Run from the batch", list(rows), format_func=rows.__getitem__, key=f"{prefix}-batch"
    )
    assert index is not None
    return run_from_row(batch.iloc[int(index)])


def _by_hand(prefix: str) -> Run:
    """A run typed in, scored on the quality metric picked beside its name (F1 unless
    another is picked: both sides of a comparison are on one metric)."""
    name_column, metric_column = st.columns(2)
    name = name_column.text_input("Model name", key=f"{prefix}-name") or "model"
    keys = [m.key for m in KNOWN_METRICS]
    if (own := st.session_state.get(f"{prefix}-metric")) and own not in keys:
        keys.append(own)  # a team's own metric, from a link
    key = metric_column.selectbox(
        "Quality metric", keys, format_func=lambda k: metric_of(k).label, key=f"{prefix}-metric"
    )
    metric = metric_of(key)
    values = {}
    left, right = st.columns(2)
    for i, (field_name, step) in enumerate(HAND_STEPS.items()):
        quality = field_name == "f1"
        values[field_name] = (left if i % 2 == 0 else right).number_input(
            metric.input_label if quality else LABELS[field_name],
            min_value=0.0 if quality else None,
            max_value=1.0 if quality else None,
            step=step,
            key=f"{prefix}-{field_name}",
            help=metric.input_title if quality and metric.lower_is_better else None,
        )
    values["f1"] = metric.score(values["f1"])
    return Run(*RunInputs.of(values).values(), name=name, metric=metric)


def resolve_side(side: int | Run | GroupSide, rows: pd.DataFrame | None, *, noise: bool) -> Run:
    """:func:`~mlprod.comparison.sides.side_run` on the page's history (a group's runs read
    once until anything is written), with a missing group or run said on the page."""
    try:
        return side_run(side, store(), rows, noise=noise, group_runs=group_runs)
    except InvalidInput as exc:
        st.warning(md(exc))
        st.stop()


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def run_label(row: object) -> str:
    """How a run reads in a picker: its name (MLflow's run name; else the start of its run
    id), model, date and quality (F1, or the metric it is scored on); never a 32-character
    id cut off by the box.

    >>> row = pd.Series({"run_name": "sweep-7", "run_id": "a" * 32, "model_name": "bert",
    ...                  "created_at": pd.Timestamp("2026-11-02"), "f1": 0.8123})
    >>> run_label(row)
    'sweep-7 · bert · 2026-11-02 · F1 0.812'
    """
    get = row.get if isinstance(row, pd.Series) else lambda k: getattr(row, k, None)
    run_id = _text(get("run_id"))
    name = _text(get("run_name")) or (run_id[:8] + "…" if len(run_id) > 12 else run_id)
    parts = [name, _text(get("model_name"))]
    created = get("created_at")
    if isinstance(created, pd.Timestamp):
        parts.append(f"{created:%Y-%m-%d}")
    metric = get("metric")
    quality = metric_of(metric if isinstance(metric, str) else None).score_label
    parts.append(f"{quality} {float(get('f1') or 0):.3f}")
    return " · ".join(part for part in parts if part) or "run"


def best_first(found: pd.DataFrame, text: str) -> pd.DataFrame:
    """The search's runs, the best match first: the run named exactly so (run name, run
    id or model), then those whose name starts so, then those whose name holds it, then
    the rest (project, tags, notes); newest first within each.

    >>> runs = pd.DataFrame({"id": [1, 2, 3], "run_name": ["bert-sweep", "bert", "x"],
    ...                      "run_id": ["r1", "r2", "r3"], "model_name": ["m", "m", "bert"]})
    >>> best_first(runs, "BERT")["id"].tolist()
    [2, 3, 1]
    """
    wanted = text.strip().lower()
    if not wanted or found.empty:
        return found
    rank = pd.Series(3, index=found.index)
    for column in ("model_name", "run_id", "run_name"):
        if column not in found:
            continue
        value = found[column].fillna("").astype(str).str.lower()
        rank = rank.where(~value.str.contains(wanted, regex=False), rank.clip(upper=2))
        rank = rank.where(~value.str.startswith(wanted), rank.clip(upper=1))
        rank = rank.where(value != wanted, 0)
    return found.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank")
