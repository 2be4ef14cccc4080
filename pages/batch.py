"""Batch scoring: a file of runs (or an MLflow server's), the mapping, values for every run,
score, save, download."""

import streamlit as st

from mlprod import config, ui
from mlprod.costs.fx import default_fx
from mlprod.costs.pricing import gpu_price_key
from mlprod.errors import AlreadySaved, BadFile, InvalidInput
from mlprod.formatting import format_ratio
from mlprod.ingest import FIELD_LABELS, FIELDS, REQUIRED, inspect
from mlprod.ingest.defaults import Scenario
from mlprod.ingest.fields import other_metrics, provenance
from mlprod.ingest.mlflow_server import SOURCE, MlflowError
from mlprod.ingest.on_disk import score_to_disk
from mlprod.saving import file_hash, previous_save, save_batch, unsaved_runs
from mlprod.text import md
from mlprod.ui.mlflow_source import at_steps, mlflow_runs
from mlprod.ui.scenario_inputs import scenario_inputs
from mlprod.ui.team_pricing import GPU_PRICES, pricing_bar, unpriced_gpus
from mlprod.ui.tracker_source import tracker_runs
from mlprod.ui.uploads import max_upload_bytes, scoring_turn, spill_upload
from mlprod.ui.widgets import SCORED_COLUMN_ORDER, metric_picker, shown_empty

ui.ensure_app_shell()

NOT_IN_FILE = "(not in the file)"
fx_rate = default_fx().rate(config.currency())


st.title("Batch scoring")
st.caption(
    "Drop a CSV of runs — your own, an `mlflow.search_runs()` export, the MLflow UI's "
    "Download CSV, or a W&B runs table export (.csv, .csv.gz or .parquet) — read the runs of "
    "an MLflow server, or upload the files a tracker left on disk (W&B, TensorBoard, "
    "Trainer, Lightning, DVC, mlruns, CodeCarbon) or an evaluation tool wrote (lm-eval, "
    "promptfoo). Every row is scored; rows with problems "
    "are listed with their line number and kept out of the history."
)

SOURCES = ("A file", "An MLflow server", "Tracker files")
kind = st.radio("Runs from", SOURCES, key="batch-source", horizontal=True)
from_server = kind == SOURCES[1]
metric_column, step_column = st.columns([1, 1])
with metric_column:
    metric, metric_error = metric_picker("batch-metric")
if metric_error:
    st.error(md(metric_error), icon=":material/error:")
    st.stop()
best_step = kind == SOURCES[0] or (
    step_column.radio(
        "Quality at each run's",
        ("best step", "last step"),
        key="batch-step",
        horizontal=True,
        help=f"The best {metric.label} in its direction ({metric.direction}) over the run's "
        "metric history, or the last value logged. Latency and costs are the run's.",
    )
    == "best step"
)
read = None
tracker_format = None
if from_server:
    read = mlflow_runs()
    if read is None:
        st.stop()
    path, file_name = read.path, read.name
elif kind == SOURCES[2]:
    found = tracker_runs(metric, best=best_step)
    if found is None:
        st.stop()
    path, file_name, tracker_format = found
else:
    uploaded = st.file_uploader(
        "File of runs", type=["csv", "gz", "parquet", "tsv", "txt"], key="batch-upload"
    )
    if uploaded is None:
        st.info(
            "Columns we look for: `model_name, f1, training_cost, inference_cost, "
            "training_hours, latency_ms` (and synonyms such as `F1 Score`, `latency`, "
            "`train_hours`). F1 may come from precision/recall or TP/FP/FN instead."
        )
        st.stop()
    path, file_name = spill_upload(uploaded), uploaded.name

try:
    inspection = inspect(path, name=file_name, max_bytes=max_upload_bytes())
except BadFile as exc:
    st.error(md(exc), icon=":material/error:")
    st.stop()
inspection = inspection.for_metric(metric)
if tracker_format is not None:
    inspection.format = tracker_format
if read is not None:
    inspection.format = "mlflow-server"
    # each run's quality at its best (or last) step, from its history on the server
    stepped = at_steps(read, inspection, metric, best=best_step)
    if stepped is not None:
        path, said = stepped
        inspection = inspect(path, name=file_name).for_metric(metric)
        inspection.format = "mlflow-server"
        step_column.caption(md(said))

st.subheader(f"{md(file_name)}: {inspection.format_label}")
for note in inspection.notes:
    st.caption(md(note))
with st.expander("First rows of the file", expanded=False):
    st.dataframe(inspection.preview, hide_index=True, height=250)

# The mapping: detected columns, correctable; a person's choice is remembered per layout.
remembered = st.session_state.setdefault("batch-mappings", {}).setdefault(
    (tuple(inspection.columns), metric.key), dict(inspection.mapping)
)
if read is not None and read.every_state:  # "Also unfinished runs": a state decides nothing
    remembered.pop("state", None)
options = [NOT_IN_FILE, *inspection.columns]
with st.expander("Column mapping", expanded=bool(inspection.missing(remembered))):
    if inspection.hours_from and "training_hours" not in remembered:
        st.caption(f"Training time (hours) is computed {md(inspection.hours_from.describe())}.")
    grid = st.columns(4)
    for index, name in enumerate(FIELDS):
        current = remembered.get(name)
        label = metric.label if name == "f1" and not metric.is_f1 else FIELD_LABELS[name]
        choice = grid[index % 4].selectbox(
            label + (" *" if name in REQUIRED else ""),
            options,
            index=options.index(current) if current in options else 0,
            # the quality's column is chosen anew for another metric
            key=f"batch-map-{name}"
            + (f"-{metric.key}" if name == "f1" and not metric.is_f1 else ""),
        )
        if choice == NOT_IN_FILE:
            remembered.pop(name, None)
        else:
            remembered[name] = choice
    st.caption("Fields marked \\* are needed; F1 may come from precision + recall or TP + FP + FN.")

# The scenario: one value for every run where the file has none (trackers log no cost).
unmapped = inspection.missing(remembered)
team = pricing_bar("batch")
with st.expander("Values for every run", expanded=bool(unmapped)):
    given = scenario_inputs(config.currency(), unmapped, team)
# Prices given below for GPUs the table does not list (after a first scoring).
given |= {gpu_price_key(gpu): price for gpu, price in st.session_state.get(GPU_PRICES, {}).items()}
try:
    provided = Scenario(given, config.currency(), team).provides()
except InvalidInput as exc:  # a builder given in part, say requests without their price
    st.warning(md(exc))
    st.stop()
missing = inspection.missing(remembered, provided)
if missing:
    others = other_metrics(inspection.columns, metric) if "f1" in missing else None
    st.warning(
        "Choose a column for, or give one value for every run to: "
        + ", ".join(
            metric.label if m == "f1" and not metric.is_f1 else FIELD_LABELS[m] for m in missing
        )
        + "."
        + (
            f" These runs log {md(others[0])}: pick that as the quality metric above rather "
            f"than map a column as {metric.label}."
            if others
            else ""
        )
    )
    st.stop()
st.caption(
    md(
        provenance(
            remembered,
            inspection.hours_from,
            provided,
            inspection.spare_columns(remembered),
            "the values for every run",
            metric,
        )
    )
    + "."
)

content_hash = file_hash(inspection.path)
scored_key = (
    content_hash,
    tuple(sorted(remembered.items())),
    tuple(sorted(given.items())),
    metric.key,
)
rescore = st.session_state.pop("batch-rescore", False)
if st.button("Score", type="primary", key="batch-score", icon=":material/play_arrow:") or rescore:
    bar = st.progress(0.0, text="Scoring…")
    previous_result = st.session_state.pop("batch-scored", None)
    if previous_result:  # the file scored before is replaced: its scored copy goes
        previous_result["file"].remove()
    try:
        with scoring_turn():
            scored = score_to_disk(
                inspection,
                {name: remembered.get(name) for name in FIELDS},
                folder=path.parent,
                currency=config.currency(),
                scenario=given,
                pricing=team,
                max_rows=config.max_batch_rows(),
                name=file_name,
                progress=lambda done, total: bar.progress(min(done / total, 1.0), text="Scoring…"),
            )
    except BadFile as exc:
        bar.empty()
        st.error(md(exc), icon=":material/error:")
        st.stop()
    bar.empty()
    st.session_state["batch-scored"] = {"key": scored_key, "file": scored, "saved": None}

result = st.session_state.get("batch-scored")
if not result or result["key"] != scored_key:
    st.stop()
scored = result["file"]
summary = scored.summary

rows_col, ok_col, bad_col, skipped_col = st.columns(4)
rows_col.metric("Rows", f"{summary.rows:,}")
ok_col.metric("Scored", f"{summary.ok:,}")
bad_col.metric("With errors", f"{summary.errors:,}")
skipped_col.metric("Skipped", f"{summary.skipped:,}", help="Runs that did not finish.")
for line in (
    summary.skipped_text(),
    summary.derived_text(),
    summary.pricing_text(Scenario(given, config.currency(), team).pricing(fx_rate)),
):
    if line:
        st.caption(md(line[:1].upper() + line[1:]) + ".")
if summary.unpriced_gpus:
    unpriced_gpus(summary.unpriced_gpus, config.currency())

if summary.best:
    st.markdown("**Best runs**")
    best_cols = st.columns(3)
    for column, (ratio, row) in zip(best_cols, summary.best.items(), strict=False):
        who = row.get("run_name") or row.get("run_id") or f"line {row['line']}"
        column.metric(f"Best {ratio.upper()}", format_ratio(row[ratio], 3), border=True)
        column.caption(md(who) + (f" · {md(row['model_name'])}" if row.get("model_name") else ""))

shown = 10_000
st.markdown("**Scored rows**")
st.dataframe(
    shown_empty(scored.preview.slice(0, shown).to_pandas()),
    hide_index=True,
    height=360,
    column_order=[c for c in SCORED_COLUMN_ORDER if c in scored.preview.column_names],
    column_config=ui.scored_column_config(metric.score_label),
)
if summary.rows > shown:
    st.caption(f"Showing the first {shown:,} of {summary.rows:,} rows; download for all.")

if summary.errors:
    st.markdown(f"**Rows with errors** ({summary.errors:,}), by kind")
    st.dataframe(
        [
            {
                "runs": k["count"],
                "error": k["error"],
                "first lines": ", ".join(map(str, k["lines"])),
            }
            for k in summary.kinds()
        ],
        hide_index=True,
        column_config={"error": st.column_config.TextColumn("error", width="large")},
    )
    st.dataframe(
        shown_empty(scored.error_preview.to_pandas()),
        hide_index=True,
        height=250,
        column_config=ui.scored_column_config(metric.score_label),
    )

download, errors_download, save = st.columns(3)
stem = "mlflow-runs" if read is not None else file_name.split(".")[0]
# Built only when clicked, from the scored file on disk (a rerun builds nothing).
download.download_button(
    "Download scored CSV",
    lambda: scored.write_csv(path.parent).open("rb"),
    f"{stem}.scored.csv",
    "text/csv",
    key="batch-download",
    icon=":material/download:",
    on_click="ignore",
)
errors_download.download_button(
    "Download error report",
    lambda: scored.write_csv(path.parent, errors_only=True).open("rb"),
    f"{stem}.errors.csv",
    "text/csv",
    key="batch-download-errors",
    disabled=not summary.errors,
    icon=":material/report:",
    on_click="ignore",
)

with save:
    if result["saved"] is not None:
        st.success(md(result["saved"]))
        st.stop()
    if not summary.ok:
        st.caption("Nothing to save: every row has an error (see the list above).")
        st.stop()
    if read is not None:  # from a tracking server: runs stored before are left out
        fresh, known = unsaved_runs(ui.store(), scored.good(), source=SOURCE, origin=read.uri)
        if known:
            st.caption(
                f"{known:,} of these runs are in the history already; they are not stored twice."
            )
        if not fresh.num_rows:
            st.info("Every scored run is in the history already.")
            st.stop()
        write_back = st.checkbox(
            "Also log the ratios on each run in MLflow", key="batch-mlflow-write-back"
        )
        if st.button(
            f"Save {fresh.num_rows:,} new runs to history", key="batch-save", icon=":material/save:"
        ):
            with st.spinner("Saving…"), ui.writing() as target:
                batch_no = save_batch(
                    target,
                    fresh,
                    source=SOURCE,
                    file_name=read.uri,
                    who=ui.person(),
                    currency=config.currency(),
                    again=True,
                    imported_from=read.uri,
                )
            note = f"Saved {fresh.num_rows:,} rows to the history (batch {batch_no})."
            if write_back:
                try:
                    logged = read.source().write_back([fresh])
                except MlflowError as exc:
                    logged, note = 0, f"{note} Not logged in MLflow: {exc}"
                else:
                    note += f" Logged mlprod.cer, mlprod.ter and mlprod.psr on {logged:,} runs."
            result["saved"] = note
            ui.written()
            st.rerun()
        st.stop()
    previous = previous_save(ui.store(), inspection.path, metric.key)
    confirmed = st.session_state.get("batch-confirm") == content_hash
    if previous and not confirmed:
        st.warning(
            f"This file was saved before: {previous['rows']:,} rows on "
            f"{previous['saved_at']:%Y-%m-%d %H:%M} UTC by {md(previous['author'] or 'someone')}."
        )
        if st.button("Save it again anyway", key="batch-save-again"):
            st.session_state["batch-confirm"] = content_hash
            st.rerun()
    elif st.button(
        f"Save {summary.ok:,} rows to history", key="batch-save", icon=":material/save:"
    ):
        try:
            with st.spinner("Saving…"), scoring_turn(), ui.writing() as target:
                batch_no = save_batch(
                    target,
                    scored.tables(),
                    source="batch",
                    file=inspection.path,
                    file_name=file_name,
                    who=ui.person(),
                    currency=config.currency(),
                    again=confirmed,
                )
        except AlreadySaved as exc:  # someone saved the same file a moment ago
            st.warning(md(exc))
            st.stop()
        result["saved"] = f"Saved {summary.ok:,} rows to the history (batch {batch_no})."
        ui.written()
        st.rerun()
