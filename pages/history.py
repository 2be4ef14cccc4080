"""History: the team's past calculations — progress, frontier, answers, housekeeping."""

from datetime import date

import streamlit as st

from mlprod import ui
from mlprod.charts import energy_chart, sample_words
from mlprod.comparison.noise import GROUP_RULE
from mlprod.config import CURRENCIES
from mlprod.formatting import format_money, format_ratio
from mlprod.quality import metric_of
from mlprod.store import HistoryFilter
from mlprod.text import md
from mlprod.ui.history_files import download_buttons
from mlprod.ui.history_table import (
    HISTORY_TABLE_COLUMNS,
    answer_ids,
    gone_meanwhile,
    history_charts,
    history_column_config,
    load_sample_runs,
    run_answer,
    spread_columns,
    taken_by_others,
    ticked_runs,
)
from mlprod.ui.production import production_line, production_mark_button

ui.ensure_app_shell()

PAGE_SIZE = 50

st.title("History")
store = ui.store()
me = ui.person()  # what this person may do: pages hide it, the core refuses it
editor, admin = me is None or me.may_save(), me is None or me.at_least("admin")

if ui.history_summary(HistoryFilter())["runs"] == 0:
    st.info(
        "Nothing saved yet. Every calculation saved from the calculator, a batch upload or "
        "`python -m mlprod ... --save` lands here, so the team can see its progress, the "
        "cost/F1 frontier and what it tried before. Load a sample to look around."
    )
    if editor and st.button("Load sample runs", key="history-load-sample", type="primary"):
        with st.spinner("Loading data/sample_runs.csv…"):
            load_sample_runs()
        st.rerun()
    ui.follow_writes()  # a save elsewhere (CLI, notebook, another session) shows at once
    st.stop()

currencies = ui.history_currencies()
currency = currencies[0] if len(currencies) == 1 else None
if currency is None:
    st.warning(
        f"The history holds costs in {', '.join(currencies)}: they are shown as stored, "
        "not converted — filter by source or author to compare like with like."
    )
symbol = CURRENCIES.get(currency or "", "").strip() or "mixed currencies"

# -- filters ---------------------------------------------------------------------------------
options = ui.filter_options()
# Runs of two quality metrics are never ranked, drawn or fronted together: a history that
# holds several shows one at a time (the one with the most runs first).
held = list(ui.history_metrics())
with st.container(border=True):
    if len(held) > 1:
        chosen_metric = st.selectbox(
            "Quality metric",
            held,
            format_func=lambda key: metric_of(key).score_label,
            key="history-metric",
            help="Runs scored on different metrics are never compared: pick one.",
        )
    else:
        chosen_metric = held[0] if held else "f1"
    models_col, projects_col, tags_col = st.columns(3)
    models = models_col.multiselect("Model", options["models"], key="history-models")
    projects = projects_col.multiselect("Project", options["projects"], key="history-projects")
    tags = tags_col.multiselect("Tag", options["tags"], key="history-tags")
    authors_col, sources_col, dates_col, text_col = st.columns(4)
    authors = authors_col.multiselect("Saved by", options["authors"], key="history-authors")
    sources = sources_col.multiselect("Source", options["sources"], key="history-sources")
    dates = dates_col.date_input("Dates", value=(), key="history-dates", format="YYYY-MM-DD")
    text = text_col.text_input("Search", key="history-text", placeholder="run, note, tag…")
picked = (
    tuple(dates) if isinstance(dates, tuple | list) else (dates,)
)  # () or (from,) or (from, to)
date_from = picked[0] if picked else None
date_to = picked[1] if len(picked) > 1 else date_from
f = HistoryFilter(
    models=tuple(models),
    projects=tuple(projects),
    tags=tuple(tags),
    authors=tuple(authors),
    sources=tuple(sources),
    date_from=date_from,
    date_to=date_to,
    text=text,
    metrics=(chosen_metric,) if len(held) > 1 else (),
)
quality = metric_of(chosen_metric).score_label

# -- figures, the two questions and the charts: all SQL, one cached overview per filter -------
q1, q2 = st.columns(2, gap="large")
with q1, st.container(border=True):
    gap = st.number_input(
        f"Cheapest run within this much {quality} of the best",
        0.0,
        1.0,
        0.01,
        step=0.005,
        format="%.3f",
        key="history-gap",
    )
    cheapest_slot = st.empty()
with q2, st.container(border=True):
    budget_col, latency_col = st.columns(2)
    budget = budget_col.number_input(
        f"Budget ({symbol})", 0.0, value=1000.0, step=100.0, key="history-budget"
    )
    latency = latency_col.number_input(
        "Latency up to (ms)", 0.0, value=50.0, step=5.0, key="history-latency"
    )
    under_slot = st.empty()

# The page selector sits below the charts; a new filter may have fewer pages than before.
pages = max(1, -(-ui.history_summary(f)["runs"] // PAGE_SIZE))
if st.session_state.get("history-page", 1) > pages:
    st.session_state["history-page"] = pages
page = int(st.session_state.get("history-page", 1)) - 1
view = ui.history_overview(f, f1_gap=gap, budget=budget, latency_ms=latency)
summary = view.summary
if summary["runs"] == 0:
    st.warning("No saved run matches these filters.")
    ui.follow_writes()
    st.stop()
if view.cheapest:
    cheapest_slot.markdown(run_answer(view.cheapest, currency, quality))
under_slot.markdown(
    run_answer(view.best_under, currency, quality)
    if view.best_under
    else f"No run costs at most {format_money(budget, currency or 'USD')} with latency ≤ "
    f"{format_ratio(latency)} ms."
)
answers = answer_ids(view)

runs_col, models_col, cer_col, ter_col, psr_col = st.columns(5)
runs_col.metric("Runs", f"{summary['runs']:,}")
models_col.metric("Models", f"{view.best['model_name'].nunique():,}")
cer_col.metric("Best CER", format_ratio(summary["best_cer"], 3))
ter_col.metric("Best TER", format_ratio(summary["best_ter"], 3))
psr_col.metric("Best PSR", format_ratio(summary["best_psr"], 3))

charts = history_charts(f, view, symbol=symbol)
ui.chart(charts["history-trend"], "history-trend")
in_trend = set(view.trend["model_name"]) if len(view.trend) else set()
left_out = sorted(set(view.best["model_name"]) - in_trend)
# Always there, empty or not: an element that comes and goes shifts every chart below it,
# and the browser then builds those charts anew instead of swapping in their new data.
left_out_slot = st.empty()
if left_out:  # the trend keeps the models with the most runs: say which it leaves out
    named = ", ".join(md(m) for m in left_out[:12]) + (" …" if len(left_out) > 12 else "")
    left_out_slot.caption(
        f"The trend shows the {len(in_trend)} models with the most runs; not shown: "
        f"{named}. Pick models in the Model filter above to follow them."
    )
cost_col, latency_col = st.columns(2, gap="large")
for column, x in ((cost_col, "total_cost"), (latency_col, "latency_ms")):
    with column:
        ui.chart(charts[f"history-frontier-{x}"], f"history-frontier-{x}")
st.caption(sample_words(len(view.points), summary["runs"]))
ui.chart(charts["history-best"], "history-best")
energy = ui.energy_per_model(f)
if not energy.empty:  # only where some run's energy was measured: never estimated
    ui.chart(energy_chart(energy, quality), "history-energy")
# -- the table, with delete and undo -----------------------------------------------------------
st.subheader("Calculations")
st.number_input(f"Page (of {pages:,})", 1, pages, 1, key="history-page")
rows = ui.history_rows(f, page=page, page_size=PAGE_SIZE)
rows = rows.assign(answer=rows["id"].isin(answers).map({True: "★", False: ""}))
# The grid sends ticks as row positions: ticked_runs reads them against the rows it drew
# and keeps them on those runs (someone else's delete moves rows up); another filter, page
# or one's own write clears them. The table keeps its key (a new one per filter made the
# browser build the grid anew) except when its rows change under a tick (see ticked_runs).
shown_for = (f, page, st.session_state.get("history-gen", 0))
selected, vanished, table_key = ticked_runs(
    "history-table", rows["id"].astype(int).tolist(), shown_for
)
# Only the columns shown: st.dataframe sends every column of its frame to the browser
# (column_order only hides them), and the page holds 52, of which 33 show.
st.dataframe(
    ui.shown_empty(rows[HISTORY_TABLE_COLUMNS]),
    hide_index=True,
    height=420,
    key=table_key,
    on_select="rerun",
    selection_mode="multi-row",
    column_config=history_column_config(quality),
)
production_line()
delete_col, undo_col, export_csv, export_parquet = st.columns(4)
if editor and len(selected) == 1:
    ticked = rows[rows["id"] == selected[0]]
    if not ticked.empty:
        production_mark_button(ticked.iloc[0], me, undo_col)
if not editor:
    delete_col.caption("Viewers can look and export; deleting needs the editor role.")
# A click sent from a table drawn before this one picks nothing (see ticked_runs): no-op.
elif (
    delete_col.button(
        f"Delete {len(selected)} selected",
        key="history-delete",
        disabled=not selected,
        icon=":material/delete:",
    )
    and selected
):
    with ui.writing() as target:
        done = target.soft_delete(selected, who=me)
        taken = taken_by_others(target, selected, len(done), "delete")
    ui.written()
    st.session_state["history-gen"] = st.session_state.get("history-gen", 0) + 1
    st.session_state["history-undo"] = done  # only what this delete did
    st.session_state["history-note"] = f"Deleted {len(done)} run(s)."
    st.session_state["history-taken"] = taken
    st.rerun()
if note := st.session_state.pop("history-note", None):
    st.toast(note, icon=":material/delete:")
if taken := st.session_state.pop("history-taken", ""):  # stays on the page; a toast fades
    st.warning(taken, icon=":material/group:")
# Ticked runs someone else deleted meanwhile: said until the next tick, filter or write.
if vanished:
    st.session_state["history-gone-note"] = (shown_for, gone_meanwhile(store, vanished))
gone_note = st.session_state.get("history-gone-note")
if gone_note and (gone_note[0] != shown_for or set(selected) - set(vanished)):
    del st.session_state["history-gone-note"]
elif gone_note:
    st.warning(gone_note[1], icon=":material/group:")
if (
    editor
    and st.session_state.get("history-undo")
    and undo_col.button("Undo delete", key="history-undo-button", icon=":material/undo:")
):
    with ui.writing() as target:
        target.restore(st.session_state.pop("history-undo"), who=me)
    ui.written()
    st.session_state["history-gen"] = st.session_state.get("history-gen", 0) + 1
    st.rerun()
download_buttons(
    f, summary["runs"], [export_csv, export_parquet], f"mlprod-history-{date.today():%Y%m%d}"
)

if st.toggle("Show deleted runs", key="history-show-deleted"):
    gone = ui.deleted_runs(f)
    if gone.empty:
        st.caption("Nothing deleted under these filters.")
    else:
        chosen, _, gone_key = ticked_runs(
            "history-deleted", gone["id"].astype(int).tolist(), shown_for
        )
        st.dataframe(
            ui.shown_empty(gone[["deleted_at", "deleted_by", *HISTORY_TABLE_COLUMNS[1:]]]),
            hide_index=True,
            key=gone_key,
            on_select="rerun",
            selection_mode="multi-row",
            column_config=history_column_config(quality),
        )
        if (
            editor
            and st.button(
                f"Restore {len(chosen)} selected", key="history-restore", disabled=not chosen
            )
            and chosen
        ):
            with ui.writing() as target:
                back = target.restore(chosen, who=me)
                taken = taken_by_others(target, chosen, len(back), "restore")
            ui.written()
            st.session_state["history-gen"] = st.session_state.get("history-gen", 0) + 1
            st.session_state["history-note"] = f"Restored {len(back)} run(s)."
            st.session_state["history-taken"] = taken
            st.rerun()

# Opened on demand: its query is not run for every filter (history.py).
spread_box = st.expander(
    "Run-to-run spread per group (other seeds of the same model)",
    key="history-spread-open",
    on_change="rerun",
)
with spread_box:
    if spread_box.open:  # queried only then
        spread = ui.spread_per_group(f)
        if spread.empty:
            st.caption(f"No group has two runs under this filter. {GROUP_RULE}")
        else:
            st.caption(
                "A lead smaller than a group's spread may be a lucky seed: the Compare page weighs "
                f"it (pick *Group of runs* there). {GROUP_RULE}"
            )
            shown = spread_columns(spread, quality)
            numbers = [c for c in shown.columns if c not in ("Group", "Runs")]
            st.dataframe(
                shown,
                hide_index=True,
                key="history-spread",
                column_config={c: st.column_config.NumberColumn(c, format="%.4g") for c in numbers},
            )

log_box = st.expander("Deletion log", key="history-log-open", on_change="rerun")
with log_box:
    if log_box.open and not admin:
        st.caption("The deletion log is for admins.")
    elif log_box.open:  # queried only then
        log = ui.deletion_log(me)
        if log.empty:
            st.caption("Nobody has deleted a run yet.")
        else:
            st.dataframe(
                log,
                hide_index=True,
                column_order=[
                    "happened_at",
                    "action",
                    "done_by",
                    "model_name",
                    "run_name",
                    "run_id",
                ],
                column_config={
                    "happened_at": st.column_config.DatetimeColumn(
                        "When (UTC)", format="YYYY-MM-DD HH:mm"
                    ),
                    "action": st.column_config.TextColumn("Action"),
                    "done_by": st.column_config.TextColumn("By"),
                    "model_name": st.column_config.TextColumn("Model"),
                    "run_name": st.column_config.TextColumn("Run name"),
                    "run_id": st.column_config.TextColumn("Run id"),
                },
            )

# Last on the page (an element above the charts would shift them): a save or delete
# anywhere else, a CLI, a notebook, another session or replica, reruns the page.
ui.follow_writes()
