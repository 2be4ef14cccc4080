"""Guide: the three ratios as formulas, what they mean, how to use each page, and a FAQ."""

import streamlit as st

from mlprod import ui
from mlprod.formatting import format_ratio
from mlprod.metrics import calculate
from mlprod.quality import KNOWN_METRICS

ui.ensure_app_shell()

st.title("Guide")
st.caption(
    "What mlprod computes, when a ratio misleads, how to use each page, and the questions "
    "teams ask most. Higher is better for every ratio."
)

# The reference example, computed by the same function the calculator uses.
ref = calculate(0.90, 1000, 200, 10, 50)

st.header("The three ratios", anchor="ratios")
formulas, meaning = st.columns([2, 3], gap="large")
with formulas:
    st.markdown("**CER — cost efficiency**: performance per currency unit")
    st.latex(r"\mathrm{CER} = \frac{F_1}{C_\text{training} + C_\text{inference}}")
    st.markdown("**TER — time efficiency**: performance per hour of training")
    st.latex(r"\mathrm{TER} = \frac{F_1}{\text{training hours}}")
    st.markdown("**PSR — performance over speed**: performance per millisecond of latency")
    st.latex(r"\mathrm{PSR} = \frac{F_1}{\text{latency (ms)}}")
with meaning:
    st.markdown(
        f"""
**Example.** F1 0.90, training $1,000, inference $200, 10 training hours, 50 ms:

- CER = 0.90 / $1,200 = **{format_ratio(ref.cer)}** — 0.75 F1 per $1,000
- TER = 0.90 / 10 h = **{format_ratio(ref.ter)}** per hour of training
- PSR = 0.90 / 50 ms = **{format_ratio(ref.psr)}** per millisecond

**When a ratio misleads**

- *Ratios reward tiny models.* A model with F1 0.55 that costs $1 has a huge CER and is
  useless. Fix a minimum F1 first (the History page's "best under a budget" does), then
  compare ratios among the models good enough to ship.
- *CER depends on the horizon.* Inference cost grows with months of serving; compare two
  models over the same months and traffic, or look at the break-even traffic on Compare.
- *TER ignores the GPUs.* 10 hours on 64 GPUs and 10 hours on one are the same TER; CER
  sees the difference.
- *PSR is per request.* Batched or streamed serving changes latency; compare latencies
  measured the same way (p50 vs p50, same hardware and batch size).
- *One run is one seed.* Two seeds of the same model can differ more than two models do:
  tag the runs `group=NAME` (or compare a *Group of runs*) and the verdict says when a lead
  is within run-to-run spread.
"""
    )

HIGHER = ", ".join(m.label for m in KNOWN_METRICS if not m.lower_is_better)
LOWER = ", ".join(m.label for m in KNOWN_METRICS if m.lower_is_better)
st.header("Quality beyond F1: the metric and its direction", anchor="metrics")
st.markdown(
    f"""
F1 is the default. A run can be scored on another quality instead — pick it in the
calculator or on Batch, or give `--metric NAME` to `mlprod score`, `calc` and `import`
(`mlprod.score(df, metric=...)` in a notebook). The ratios then divide that quality and say
so: *0.75 Accuracy per $1,000*.

| The metric | How it is scored | Examples |
|---|---|---|
| Higher is better, 0 to 1 | as logged | {HIGHER}, or a name of your own |
| Lower is better, 0 to 1 | **1 − x**, labelled so (*1 − WER*) | {LOWER} |
| No upper bound | refused | loss, RMSE, MAE, perplexity, R² |

**Why a loss is refused.** A ratio needs a quality where more is better and 1 is the most
there is. RMSE per dollar grows as the model gets *worse*, and its size depends on the
target's units (the same model has RMSE 0.5 in metres and 500 in millimetres): its ratios
would rank runs backwards. Log a bounded score next to it (R² clipped at 0 is not one: it
has no lower bound) and score on that.

**Runs of two metrics are never compared.** Each save keeps its metric. History shows one
metric at a time (a picker appears once the history holds two), its frontiers and best runs
are of that metric only, and Compare refuses A on F1 against B on accuracy (a run typed in
by hand takes the metric picked beside its name).

**The best step.** A tracker keeps each metric's history (MLflow's metric history): mlprod
reads the best value in the metric's direction, and says at which step; `--step last` (or
*last step* on Batch) takes the last. Latency and costs stay the run's own.

**Evaluation files.** `mlprod import lm-eval PATH` (lm-evaluation-harness `results_*.json`,
a run per task, `acc` by default) and `mlprod import promptfoo PATH` (`promptfoo eval -o`
output, a run per prompt × provider, pass rate by default). Their tokens are priced by the
dated LLM price book; a model it does not list is a row error, never $0.

**When a ratio on accuracy misleads.** On imbalanced classes (1% fraud), a model that always
says "not fraud" is 99% accurate, catches nothing, and — being tiny — gets the best CER of
all. Accuracy per dollar then rewards the useless model. That is why F1 is the default: it is
low unless both precision and recall are decent. Use accuracy where classes are balanced or
every error costs the same; for rare positives, prefer F1 or balanced accuracy.
"""
)

st.header("How to use each page", anchor="pages")
st.markdown(
    """
- **Calculator** — one run: its quality (F1, or precision and recall, or TP/FP/FN; or
  another metric), its costs typed or built (GPU hours × a dated price; requests or tokens
  × prices, an API model from the LLM price book; or self-hosted GPUs × replicas × hours a
  month), training hours and latency, and the energy it used where measured. *Calculate*
  shows the three ratios with their formulas and what to try first; *Save* keeps it in
  the team's history.
- **Batch scoring** — a CSV or Parquet file of runs (ours, MLflow, W&B exports), runs
  straight from an MLflow server, or a tracker's own files (W&B run folders, TensorBoard
  event files, Trainer state, Lightning logs, DVC experiments, an `mlruns` folder,
  CodeCarbon's `emissions.csv`). Columns are recognised or mapped; values missing from
  every run (a cost trackers rarely log) are given once, as on the command line's `--set`.
  Bad rows are listed with the reason and never stop the good ones.
- **Compare** — model A vs model B (a history run, a group of runs, a batch row or typed
  in; the run in production first): the winner of each ratio, a verdict under your
  weights, the price of accuracy, break-even traffic when one side pays per token and the
  other for GPUs, energy where both were measured, a card to download for a review deck
  and a review report (HTML or PDF). The link reproduces the comparison.
- **History** — every saved calculation, one quality metric at a time: trend per model,
  the cost and latency frontiers, the best run per ratio, quality per kWh where energy was
  measured, the run-to-run spread per group, the run in production, and the table
  (delete, undo, export).
"""
)

st.header("Questions teams ask", anchor="faq")
with st.expander("Why F1 and not accuracy?", expanded=True):
    st.markdown(
        "Accuracy flatters a model on imbalanced data: with 1% fraud, a model that says "
        "'never fraud' is 99% accurate and catches nothing. F1 is the harmonic mean of "
        "precision (how many flagged cases are real) and recall (how many real cases are "
        "flagged), so it is low unless both are decent. For balanced classes accuracy and F1 "
        "agree; for the imbalanced problems most teams ship, F1 is the honest one. Give "
        "precision and recall, or the TP/FP/FN counts, and the calculator derives it."
    )
with st.expander("What is a good PSR?"):
    st.markdown(
        "It depends on what the product can wait for. PSR = F1 / latency, so at F1 0.9: "
        "0.09 means 10 ms (fine for anything interactive), 0.018 means 50 ms (a typical "
        "online model), 0.0009 means 1 second (an LLM answer, batch jobs). Compare PSR "
        "between candidates for the same use, not across products, and set a latency budget "
        "first: a model over budget is out whatever its PSR."
    )
with st.expander("How do we cut training cost?"):
    st.markdown(
        "- Spot or preemptible GPUs with checkpointing (often 60-90% cheaper; the GPU table "
        "has both prices).\n"
        "- Start from a pretrained checkpoint and fine-tune (LoRA and other adapters train a "
        "fraction of the weights).\n"
        "- Try the smaller model: a few hundredths of F1 may cost a fraction of the money — "
        "the Compare page prices each 0.01 F1.\n"
        "- Stop early: most of the F1 usually arrives in the first part of training; the TER "
        "shows when more hours stop paying.\n"
        "- Right-size: a GPU that fits the model (L4 or A10G rather than H100 for a 7B "
        "model) and mixed precision."
    )
with st.expander("LLM token costs: API or our own GPUs?"):
    st.markdown(
        "An API charges per token (input and output priced apart; cached input and batch "
        "requests often cheaper): its cost grows with traffic. Self-hosted serving charges "
        "for GPUs that run all month (730 hours) whatever the traffic. So the API is cheaper "
        "at low traffic and your GPUs at high traffic; the Compare page draws both total "
        "costs against traffic and says where they cross. Prices come from "
        "`data/llm_prices.csv`, dated and sourced: providers change them often, so check "
        "the dates and update the file (a typed price always wins)."
    )
with st.expander("Is a massive 70B model worth it compared with a fine-tuned 7B?"):
    st.markdown(
        "Put both on the Compare page: the 70B through an API (tokens × the price book) and "
        "the 7B on its GPUs (e.g. two L4s, always on). The verdict weighs cost, time and "
        "speed; the key numbers say what each 0.01 F1 costs; the break-even says at what "
        "traffic the answer flips; and with a few seeds of each (tag `group=NAME`), whether "
        "the F1 gap is bigger than seed noise at all."
    )
