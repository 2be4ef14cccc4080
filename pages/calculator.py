"""Calculator: enter one run, see its three ratios explained, save it to the history."""

import uuid

import streamlit as st

from mlprod import config, ui
from mlprod.access import GRANT_HELP
from mlprod.advice import advice_for
from mlprod.config import CURRENCIES
from mlprod.costs.scenario import CostScenario, build_costs
from mlprod.errors import InvalidInput
from mlprod.formatting import format_ratio, formulas
from mlprod.ingest.fields import TEXT_LIMITS
from mlprod.metrics import RunInputs, resolve_f1
from mlprod.quality import metric_of
from mlprod.saving import calculation_record, save_calculation
from mlprod.text import md
from mlprod.ui.cost_inputs import (
    INFER_MODES,
    TRAIN_MODES,
    inference_cost_inputs,
    ratio_cards,
    training_cost_inputs,
)
from mlprod.ui.team_pricing import pricing_bar
from mlprod.ui.widgets import metric_picker

ui.ensure_app_shell()

F1_MODES = ("F1 score", "Precision & recall", "TP / FP / FN counts")

st.title("Is this model worth what it costs?")
st.caption(
    "Enter a training run. mlprod turns it into three ratios where higher is better: "
    "cost efficiency (CER), time efficiency (TER) and performance over speed (PSR)."
)

form_column, result_column = st.columns([4, 7], gap="large")

with form_column:
    metric, metric_error = metric_picker("calc-metric")
    f1_mode = (
        st.radio("F1 from", F1_MODES, key="calc-f1-mode", horizontal=True)
        if metric.is_f1
        else "metric"
    )
    train_mode = st.radio("Training cost from", TRAIN_MODES, key="calc-train-mode", horizontal=True)
    infer_mode = st.radio(
        "Inference cost from", INFER_MODES, key="calc-infer-mode", horizontal=True
    )
    team_pricing = pricing_bar("calc") if train_mode == TRAIN_MODES[1] else None
    with st.form("calc-form", border=True):
        f1_parts: dict[str, float | None] = {}
        if f1_mode == "metric":
            f1_parts["value"] = st.number_input(
                metric.label
                + (
                    f" (lower is better: scored as {metric.score_label})"
                    if metric.lower_is_better
                    else ""
                ),
                value=0.10 if metric.lower_is_better else 0.90,
                step=0.01,
                format="%.3f",
                key="calc-metric-value",
                help="Between 0 and 1 (0.90, not 90).",
            )
        elif f1_mode == "F1 score":
            f1_parts["f1"] = st.number_input(
                "F1 score",
                value=0.90,
                step=0.01,
                format="%.3f",
                key="calc-f1",
                help="Between 0 and 1 (0.90, not 90).",
            )
        elif f1_mode == "Precision & recall":
            left, right = st.columns(2)
            f1_parts["precision"] = left.number_input(
                "Precision", value=0.90, step=0.01, format="%.3f", key="calc-precision"
            )
            f1_parts["recall"] = right.number_input(
                "Recall", value=0.90, step=0.01, format="%.3f", key="calc-recall"
            )
        else:
            tp_col, fp_col, fn_col = st.columns(3)
            f1_parts["tp"] = tp_col.number_input(
                "True positives (TP)", value=90, step=1, key="calc-tp"
            )
            f1_parts["fp"] = fp_col.number_input(
                "False positives (FP)", value=10, step=1, key="calc-fp"
            )
            f1_parts["fn"] = fn_col.number_input(
                "False negatives (FN)", value=10, step=1, key="calc-fn"
            )

        codes = list(CURRENCIES)
        team = config.currency()
        currency = st.selectbox(
            "Currency",
            codes,
            index=codes.index(team) if team in codes else 0,
            key="calc-currency",
            help="The team's default comes from MLPROD_CURRENCY.",
        )
        st.caption(f"Costs below are in {currency} ({CURRENCIES[currency].strip()}).")
        cost_inputs = training_cost_inputs(train_mode, currency, team_pricing)
        cost_inputs |= inference_cost_inputs(infer_mode, currency)
        # One per row, as the costs above: side by side at 1280 px the hours label wrapped,
        # its input sat lower than the latency's and both lost their +/- buttons.
        training_hours = st.number_input(
            "Training time (hours)", value=10.0, step=0.5, format="%.2f", key="calc-training-hours"
        )
        latency_ms = st.number_input(
            "Latency (ms)",
            value=50.0,
            step=1.0,
            format="%.1f",
            key="calc-latency-ms",
            help="Time for one prediction, in milliseconds.",
        )

        with st.expander("Run details (optional)"):
            model_name = st.text_input(
                "Model name", key="calc-model-name", max_chars=TEXT_LIMITS["model_name"]
            )
            project = st.text_input("Project", key="calc-project", max_chars=TEXT_LIMITS["project"])
            tags = st.text_input(
                "Tags",
                key="calc-tags",
                placeholder="comma, separated",
                max_chars=TEXT_LIMITS["tags"],
            )
            notes = st.text_area(
                "Notes", key="calc-notes", height=80, max_chars=TEXT_LIMITS["notes"]
            )
            energy_col, co2_col = st.columns(2)
            energy_kwh = energy_col.number_input(
                "Energy (kWh)",
                min_value=0.0,
                value=None,
                key="calc-energy",
                help="What the training used, where it was measured (CodeCarbon's "
                "energy_consumed): adds quality per kWh. Left empty, none is shown or guessed.",
            )
            co2_kg = co2_col.number_input(
                "CO2e (kg)", min_value=0.0, value=None, key="calc-co2", help="Its emissions."
            )

        submitted = st.form_submit_button("Calculate", type="primary", key="calc-submit")

# The result shown is the last one calculated; on a first visit, the prefilled example.
if submitted or "calc-result" not in st.session_state:
    try:
        if metric_error is not None:
            raise InvalidInput("metric", metric_error)
        f1 = (
            metric.score_of(f1_parts.pop("value"))
            if "value" in f1_parts
            else resolve_f1(**f1_parts)
        )
        if energy_kwh is not None and energy_kwh <= 0:
            raise InvalidInput("energy_kwh", "Energy (kWh) must be above 0, or empty.")
        measured = {"energy_kwh": energy_kwh, "co2_kg": co2_kg} if energy_kwh else {}
        costs = build_costs(CostScenario(**cost_inputs, currency=currency), training_hours)
        run = RunInputs(f1, costs.training_cost, costs.inference_cost, training_hours, latency_ms)
        ratios = run.ratios
        record = calculation_record(
            run,
            currency=currency,
            f1_inputs=f1_parts,
            assumptions={**costs.assumptions, **measured},
            model_name=model_name,
            project=project,
            tags=tags,
            notes=notes,
            metric=metric,
        )
    except InvalidInput as exc:
        st.session_state["calc-result"] = {"error": str(exc)}
    else:
        st.session_state["calc-result"] = {
            "key": uuid.uuid4().hex,
            "ratios": ratios,
            "record": record,
            "cost_formulas": costs.formulas,
        }
result = st.session_state["calc-result"]

if "error" in result:
    form_column.error(md(result["error"]), icon=":material/error:")
    with result_column:
        st.info("Fix the input on the left and press **Calculate**. Nothing was saved.")
    st.stop()

record = result["record"]
shown_metric = metric_of(record.get("metric"))
with result_column:
    title = record["model_name"] or "This run"
    st.subheader(f"{md(title)}: {shown_metric.score_label} {record['f1']:.3g}")
    shown_formulas = formulas(RunInputs.of(record), record["currency"], shown_metric)
    ratio_cards(result["ratios"], record["currency"], shown_formulas, shown_metric)
    if record.get("energy_kwh"):
        carbon = f", {format_ratio(record['co2_kg'], 3)} kg CO2e" if record.get("co2_kg") else ""
        st.caption(
            f"**Energy efficiency**: {format_ratio(record['f1'] / record['energy_kwh'], 3)} "
            f"{shown_metric.per('kWh')} ({format_ratio(record['energy_kwh'], 4)} kWh{carbon})."
        )

    st.markdown("**How they are computed**")
    st.code(
        "\n".join([*result.get("cost_formulas", []), *shown_formulas.values()]),
        language=None,
        wrap_lines=True,
    )

    advice = advice_for(result["ratios"])
    st.markdown(f"**What to try first.** {advice.headline}")
    st.markdown("\n".join(f"- {action}" for action in advice.actions))
    st.caption("Weakest = furthest below the reference run (F1 0.90, $1,200, 10 h, 50 ms).")
    st.page_link(
        "pages/guide.py",
        label="Guide: what each ratio means, when it misleads, and the FAQ",
        icon=":material/menu_book:",
    )

    me = ui.person()
    if me is not None and not me.may_save():
        st.caption(f"Viewers can calculate and look; saving needs the editor role. {GRANT_HELP}")
    elif st.button("Save to history", key="calc-save", icon=":material/save:"):
        with ui.writing() as store:
            saved = save_calculation(
                store, record, calc_key=result["key"], source="calculator", who=me
            )
        if saved:
            ui.written()
            st.success("Saved to the history.", icon=":material/check_circle:")
        else:
            st.info("This calculation is already in the history; it was not saved twice.")
