"""Batch scoring's second source: the runs of an MLflow tracking server.

The person names the server, picks experiments from the ones it lists, optionally a
filter, and reads the runs; they then go through the same mapping, scenario, score and
save steps as an uploaded file (a Parquet file of the runs, kept for the session).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import streamlit as st

from mlprod.ingest.inspection import Inspection
from mlprod.ingest.mlflow_server import MlflowError, MlflowSource, experiments_on
from mlprod.quality import Metric
from mlprod.text import md
from mlprod.ui.uploads import SessionFolder

__all__ = ["ReadRuns", "at_steps", "mlflow_runs"]

KEY = "batch-mlflow"


@dataclass(frozen=True)
class ReadRuns:
    """Runs read from a server for this session: where they are, and where from."""

    path: Path
    uri: str
    experiments: tuple[str, ...]
    runs: int
    folder: SessionFolder | None = field(default=None, compare=False, repr=False)
    #: Score unfinished runs too (by default they are skipped, and counted by state).
    every_state: bool = False

    @property
    def name(self) -> str:
        return f"{', '.join(self.experiments)} on {self.uri}"

    def source(self) -> MlflowSource:
        return MlflowSource(self.uri, list(self.experiments))


@st.cache_data(ttl=60, show_spinner="Asking the server for its experiments…")
def _experiments(uri: str) -> list[str]:
    return experiments_on(uri)


def mlflow_runs() -> ReadRuns | None:
    """The server, experiment and filter widgets; the runs read last, if any."""
    uri = (
        st.text_input(
            "Tracking server",
            value=os.environ.get("MLFLOW_TRACKING_URI", ""),
            key=f"{KEY}-uri",
            placeholder="http://mlflow.internal:5000",
        )
        .strip()
        .rstrip("/")
    )
    if not uri:
        st.info("Give the address of the team's MLflow tracking server.")
        return None
    try:
        names = _experiments(uri)
    except MlflowError as exc:
        st.error(md(exc), icon=":material/cloud_off:")
        return None
    chosen = st.multiselect("Experiments", names, key=f"{KEY}-experiments")
    left, right = st.columns([3, 1])
    wanted = left.text_input(
        "Filter (MLflow search syntax)", key=f"{KEY}-filter", placeholder="metrics.f1 > 0.5"
    )
    every_state = right.toggle("Also unfinished runs", key=f"{KEY}-all-states")
    if st.button(
        "Read runs", key=f"{KEY}-read", disabled=not chosen, icon=":material/cloud_download:"
    ):
        try:
            with st.spinner("Reading runs…"):
                source = MlflowSource(uri, chosen, wanted)
                table = source.runs()
        except MlflowError as exc:
            st.error(md(exc), icon=":material/error:")
            return None
        if table.num_rows == 0:
            st.warning("No run of these experiments matches.")
            return None
        folder = SessionFolder()  # goes with these runs: replaced, or the session ends
        st.session_state[KEY] = ReadRuns(
            source.to_parquet(table, folder.path),
            uri,
            tuple(chosen),
            table.num_rows,
            folder,
            every_state,
        )
    read: ReadRuns | None = st.session_state.get(KEY)
    if read is not None and read.uri == uri and read.path.exists():
        return read
    return None


def at_steps(
    read: ReadRuns, inspection: Inspection, metric: Metric, *, best: bool
) -> tuple[Path, str] | None:
    """The runs read with each one's quality at its best (or last) step, from the server's
    metric histories (asked once per metric and choice in a session): a Parquet file beside
    the runs read, and what was done in words; None when no run logs the metric."""
    wanted = (str(read.path), metric.key, best)
    done = st.session_state.get(f"{KEY}-steps")
    if done is not None and done[0] == wanted and done[1].exists():
        return done[1], done[2]
    columns = [
        c
        for c in [inspection.mapping.get("f1"), *inspection.fallbacks.get("f1", [])]
        if c and c.startswith("metrics.")
    ]
    if not columns:
        return None
    try:
        with st.spinner("Reading each run's metric history…"):
            runs, steps = read.source().at_steps(
                pq.read_table(read.path), columns, metric, best=best
            )
    except MlflowError as exc:
        st.error(md(exc), icon=":material/error:")
        return None
    path = read.path.with_name(f"at-steps-{metric.key.replace('/', '_')}-{best}.parquet")
    pq.write_table(runs, path)
    st.session_state[f"{KEY}-steps"] = (wanted, path, steps["said"])
    return path, steps["said"]
