"""The field vocabulary: what mlprod reads from a file of runs, and what headers mean it.

Headers match ignoring case, spaces, dashes and units in brackets, with synonyms and the
prefixes trackers put before keys (``metrics.``, ``params.``, ``tags.`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mlprod.metrics import INPUT_FIELDS, LABELS
from mlprod.quality import F1, KNOWN_METRICS, Metric

#: What a run's training used, where it was measured (CodeCarbon): kWh and kg CO2e.
ENERGY_FIELDS = ("energy_kwh", "co2_kg")

__all__ = [
    "ENERGY_FIELDS",
    "EVAL_FORMATS",
    "FIELDS",
    "FIELD_LABELS",
    "FORMATS",
    "NUMERIC_FIELDS",
    "REQUIRED",
    "RUN_TEXT_FIELDS",
    "SYNONYMS",
    "TEXT_FIELDS",
    "TEXT_LIMITS",
    "HoursFrom",
    "auto_mapping",
    "detect_format",
    "fallbacks",
    "hours_from",
    "missing_fields",
    "normalize_header",
    "other_metrics",
    "provenance",
    "synonyms_for",
    "too_long",
]

NUMERIC_FIELDS = (
    *INPUT_FIELDS,
    "precision",
    "recall",
    "tp",
    "fp",
    "fn",
    "gpu_count",
    *ENERGY_FIELDS,
)
#: Text columns every scored file carries (null when the file has none).
RUN_TEXT_FIELDS = ("run_id", "run_name", "model_name", "project", "tags", "notes")
#: How a run was priced and whether it finished, where the file says so (per run).
TEXT_FIELDS = (*RUN_TEXT_FIELDS, "gpu_model", "provider", "spot", "state")
#: The longest text each field of a run may hold, in characters: every History visit sends
#: the names it shows, so one huge name slowed it for everyone (docs/RELIABILITY.md). Longer
#: text is refused (a row error in a file, an error in the calculator), never cut silently.
TEXT_LIMITS = {
    "run_id": 200,
    "run_name": 200,
    "model_name": 200,
    "project": 200,
    "tags": 1_000,
    "notes": 5_000,
    "gpu_model": 200,
    "provider": 200,
    "spot": 200,
    "state": 200,
}
#: The step a tracker's metric history was read at (shown in the scored file, not stored).
#: Why an importer could not read a run (a broken file, an unpriced model): a row error.
FIELDS = (*NUMERIC_FIELDS, *TEXT_FIELDS, "created_at", "step", "row_error")
#: What every run needs (each from its column, a derivation or a --set value).
REQUIRED = INPUT_FIELDS


FIELD_LABELS = {
    **LABELS,
    "run_id": "Run id",
    "run_name": "Run name",
    "model_name": "Model name",
    "project": "Project",
    "tags": "Tags",
    "notes": "Notes",
    "created_at": "Date",
    "gpu_model": "GPU model",
    "gpu_count": "GPU count",
    "provider": "Provider",
    "spot": "Spot",
    "state": "Run state",
    "step": "Step",
    "row_error": "Import problem",
    "energy_kwh": "Energy (kWh)",
    "co2_kg": "CO2e (kg)",
}

# The sections trackers put a metric under (``val/f1``, ``eval_f1``, ``test-f1``): every
# metric's known names are known after each of them too (the normalised ``/``/``-`` is ``_``).
_SECTIONS = ("", "val_", "valid_", "validation_", "eval_", "test_", "dev_")


def _in_sections(*names: str) -> tuple[str, ...]:
    """``names`` as logged bare and under each section, bare first.

    >>> _in_sections("f1")[:3]
    ('f1', 'val_f1', 'valid_f1')
    """
    return tuple(section + name for section in _SECTIONS for name in names)


#: Normalised header names that mean each field (see :func:`normalize_header`), best first.
#: A file, or an import of two experiments, may use several for one field: each row reads
#: them in this order (:func:`fallbacks`).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "f1": _in_sections(*F1.names),
    "training_cost": (
        "training_cost",
        "train_cost",
        "cost_training",
        "training_cost_usd",
        "train_cost_usd",
        "training_spend",
    ),
    "inference_cost": (
        "inference_cost",
        "infer_cost",
        "serving_cost",
        "inference_cost_usd",
        "cost_inference",
        "prediction_cost",
    ),
    "training_hours": (
        "training_hours",
        "train_hours",
        "training_time_hours",
        "training_time",
        "train_time",
        "train_time_hours",
        "training_duration_hours",
        "hours",
    ),
    "latency_ms": _in_sections(
        "latency_ms",
        "latency",
        "inference_latency_ms",
        "inference_latency",
        "p50_latency_ms",
        "latency_p50_ms",
        "avg_latency_ms",
        "mean_latency_ms",
    ),
    "precision": _in_sections("precision", "precision_score", "precision_macro", "macro_precision"),
    "recall": _in_sections("recall", "recall_score", "recall_macro", "macro_recall"),
    "tp": _in_sections("tp", "true_positives"),
    "fp": _in_sections("fp", "false_positives"),
    "fn": _in_sections("fn", "false_negatives"),
    "run_id": ("run_id", "runid", "run_uuid", "id"),
    "run_name": ("run_name", "mlflow_runname", "name"),
    "model_name": ("model_name", "model", "model_id", "architecture", "arch"),
    "project": ("project", "project_name", "experiment", "experiment_name"),
    "tags": ("tags", "tag", "labels"),
    "notes": ("notes", "note", "description", "comment"),
    "created_at": ("created_at", "created", "start_time", "started_at", "timestamp", "date"),
    "gpu_model": (
        "gpu_model",
        "gpu",
        "gpu_type",
        "gpu_name",
        "gpu_kind",
        "accelerator",
        "accelerator_type",
    ),
    "gpu_count": (
        "gpu_count",
        "gpus",
        "num_gpus",
        "n_gpus",
        "num_gpu",
        "ngpus",
        "gpu_num",
        "number_of_gpus",
    ),
    "provider": ("provider", "cloud", "cloud_provider", "gpu_provider"),
    "spot": ("spot", "use_spot", "spot_instance", "preemptible"),
    "state": ("state", "status", "run_status", "run_state"),
    "step": ("metric_step", "best_step"),
    "row_error": ("row_error",),
    "energy_kwh": (
        "energy_kwh",
        "energy_consumed",
        "energy_consumed_kwh",
        "energy",
        "kwh",
        "training_energy_kwh",
    ),
    "co2_kg": ("co2_kg", "emissions", "emissions_kg", "co2e_kg", "co2e", "carbon_kg"),
}
# Trackers' configs nest settings in sections (DVC's ``train.gpu``, a YAML's
# ``hardware.gpus``): the names of what a run used are known under them too. Not the
# quality: ``train_f1`` is the training set's, not the run's quality.
_CONFIG_SECTIONS = ("train_", "training_", "trainer_", "model_", "hardware_", "resources_")
for _name in ("model_name", "gpu_model", "gpu_count", "provider", "spot", "training_hours",
              "training_cost", "inference_cost"):  # fmt: skip
    SYNONYMS[_name] = (
        *SYNONYMS[_name],
        *(s + n for s in _CONFIG_SECTIONS for n in SYNONYMS[_name] if not n.startswith(s)),
    )

# Prefixes trackers put before keys, best first for numbers (metrics) and for text.
_NUMERIC_PREFIXES = ("metrics.", "summary.", "", "params.", "config.", "tags.")
_TEXT_PREFIXES = ("", "params.", "tags.", "config.", "summary.", "metrics.")

FORMATS = {
    "mlprod": "mlprod columns",
    "mlflow": "MLflow search_runs / experiments csv export",
    "mlflow-ui": "MLflow UI 'Download CSV'",
    "wandb": "Weights & Biases runs table export",
    "parquet": "Parquet file",
    "mlflow-server": "MLflow tracking server",
    "lm-eval": "lm-evaluation-harness results",
    "promptfoo": "promptfoo output",
    "wandb-runs": "W&B run folders",
    "tensorboard": "TensorBoard event files",
    "trainer": "Hugging Face Trainer state",
    "lightning": "Lightning CSV logs",
    "dvc": "DVC experiments",
    "mlruns": "MLflow file store",
    "codecarbon": "CodeCarbon emissions",
}
#: Formats whose runs an importer priced itself (their tokens, by the price book).
EVAL_FORMATS = ("lm-eval", "promptfoo")


def normalize_header(name: str) -> str:
    """A header as matching sees it: lower case, no units in brackets, ``_`` separators.

    >>> [normalize_header(h) for h in (" F1 Score ", "Latency (ms)", "train-hours [h]")]
    ['f1_score', 'latency', 'train_hours']
    """
    text = re.sub(r"[\(\[][^\)\]]*[\)\]]", " ", name.strip().lower())
    return re.sub(r"[\s\-/.]+", "_", text).strip("_")


@dataclass(frozen=True)
class HoursFrom:
    """Where training hours come from when no column holds them."""

    kind: str  # "duration" (MLflow UI text), "seconds" (W&B Runtime), "span" (end - start)
    columns: tuple[str, ...]

    def describe(self) -> str:
        if self.kind == "duration":
            return f"from the duration in '{self.columns[0]}'"
        if self.kind == "seconds":
            return f"from the seconds in '{self.columns[0]}'"
        return f"from '{self.columns[1]}' minus '{self.columns[0]}'"


def detect_format(columns: list[str], kind: str) -> str:
    names = set(columns)
    if {"Name", "State", "Runtime", "Created"} <= names:
        return "wandb"
    if {"Run ID", "Start Time", "Duration"} <= names:
        return "mlflow-ui"
    if "run_id" in names and any(c.startswith("metrics.") for c in columns):
        return "mlflow"
    return "parquet" if kind == "parquet" else "mlprod"


def synonyms_for(metric: Metric = F1) -> dict[str, tuple[str, ...]]:
    """:data:`SYNONYMS` for runs scored on ``metric``: its names (under every section) hold
    the quality; precision, recall and the counts only make an F1.

    >>> from mlprod.quality import metric_named
    >>> synonyms_for(metric_named("accuracy"))["f1"][:3]
    ('accuracy', 'acc', 'accuracy_score')
    """
    if metric.is_f1:
        return SYNONYMS
    return {
        **{k: v for k, v in SYNONYMS.items() if k not in _F1_PARTS},
        "f1": _in_sections(*metric.names) if metric.names else (metric.key,),
    }


#: What an F1 is derived from where a run logs none.
_F1_PARTS = ("precision", "recall", "tp", "fp", "fn")


def _candidates(columns: list[str], metric: Metric = F1) -> dict[str, list[str]]:
    """Every column that could hold each field, best first (by prefix, then synonym)."""
    by_key: dict[str, str] = {}
    for column in columns:
        prefix = next(
            (
                p
                for p in ("metrics.", "params.", "tags.", "config.", "summary.")
                if column.startswith(p)
            ),
            "",
        )
        by_key.setdefault(prefix + normalize_header(column[len(prefix) :]), column)
    found: dict[str, list[str]] = {}
    for name, synonyms in synonyms_for(metric).items():
        prefixes = _NUMERIC_PREFIXES if name in NUMERIC_FIELDS else _TEXT_PREFIXES
        for prefix in prefixes:
            for s in synonyms:
                if prefix + s in by_key and by_key[prefix + s] not in found.get(name, []):
                    found.setdefault(name, []).append(by_key[prefix + s])
    return found


def auto_mapping(columns: list[str], metric: Metric = F1) -> dict[str, str]:
    """The best column for each field the columns hold (the quality: ``metric``'s)."""
    return {name: found[0] for name, found in _candidates(columns, metric).items()}


def other_metrics(columns: list[str], metric: Metric) -> tuple[str, Metric] | None:
    """Where the columns hold no ``metric`` but log other known qualities (to be scored
    on, never mapped as ``metric``: an accuracy column mapped as F1 would be labelled
    F1): them with their columns, in words, and the first of them; else None.

    >>> other_metrics(["metrics.acc", "metrics.exact_match"], F1)[0]
    'Accuracy (metrics.acc), Exact match (metrics.exact_match)'
    """
    if "f1" in auto_mapping(columns, metric):
        return None
    found = [
        (other, column)
        for other in KNOWN_METRICS
        if other.key != metric.key and (column := auto_mapping(columns, other).get("f1"))
    ]
    if not found:
        return None
    return ", ".join(f"{m.label} ({column})" for m, column in found), found[0][0]


def fallbacks(columns: list[str], metric: Metric = F1) -> dict[str, list[str]]:
    """For fields that more than one column could hold (a tracker run logs ``f1``, the
    next ``val_f1``; team A ``params.gpus``, team B ``params.num_gpus``): the other
    columns, best first, whose cells fill the best column's empty ones, row by row.

    >>> fallbacks(["metrics.f1", "metrics.val_f1", "params.gpus", "params.num_gpus"])
    {'f1': ['metrics.val_f1'], 'gpu_count': ['params.num_gpus']}
    """
    return {
        name: found[1:] for name, found in _candidates(columns, metric).items() if len(found) > 1
    }


def hours_from(columns: list[str], fmt: str) -> HoursFrom | None:
    names = set(columns)
    if fmt == "mlflow-ui" and "Duration" in names:
        return HoursFrom("duration", ("Duration",))
    if fmt == "wandb" and "Runtime" in names:
        return HoursFrom("seconds", ("Runtime",))
    if {"start_time", "end_time"} <= names:
        return HoursFrom("span", ("start_time", "end_time"))
    return None


def missing_fields(have: Iterable[str], *, hours_derived: bool = False) -> list[str]:
    """The required fields that the fields in ``have`` do not give: F1 also comes from
    precision and recall or from counts, the training cost from GPUs (priced by the GPU
    table), the training hours from a duration or start and end times (``hours_derived``).

    >>> missing_fields({"precision", "recall", "gpu_model", "gpu_count", "latency_ms"})
    ['inference_cost', 'training_hours']
    """
    have = set(have)
    missing = []
    if not ("f1" in have or {"precision", "recall"} <= have or {"tp", "fp", "fn"} <= have):
        missing.append("f1")
    gpu_priced = {"gpu_model", "gpu_count"} <= have
    for name in REQUIRED[1:]:
        if name in have or (name == "training_hours" and hours_derived):
            continue
        if name == "training_cost" and gpu_priced:
            continue
        missing.append(name)
    return missing


def provenance(
    mapping: Mapping[str, str],
    hours: HoursFrom | None = None,
    provided: Iterable[str] = (),
    spare: Mapping[str, list[str]] | None = None,
    given_as: str = "--set",
    metric: Metric = F1,
) -> str:
    """Which column fed each field, in words (for the summary of a scored file).

    >>> print(provenance({"f1": "metrics.val_f1"},
    ...       HoursFrom("span", ("start_time", "end_time")), {"inference_cost"}))
    F1 score from 'metrics.val_f1'; Training time (hours) from 'end_time' minus \
'start_time'; Inference cost from --set
    """
    labels = {**FIELD_LABELS, "f1": FIELD_LABELS["f1"] if metric.is_f1 else metric.label}
    parts = [f"{labels[k]} from '{v}'" for k, v in mapping.items() if k in REQUIRED]
    for name, others in (spare or {}).items():
        if name in mapping and others:
            where = f"{labels[name]} from '{mapping[name]}'"
            also = ", ".join(f"'{c}'" for c in others)
            parts = [f"{part} (else {also})" if part == where else part for part in parts]
    if "training_hours" not in mapping and hours is not None:
        parts.append(f"{FIELD_LABELS['training_hours']} {hours.describe()}")
    for name in REQUIRED:
        if name in provided and name not in mapping:
            parts.append(f"{labels[name]} from {given_as}")
    given = set(mapping) | set(provided)
    if "training_cost" not in given and {"gpu_model", "gpu_count"} <= given:
        parts.append(f"{FIELD_LABELS['training_cost']} from GPUs × hours × the price table")
    return "; ".join(parts)


def too_long(field: str, length: int) -> str:
    """The message for a ``field`` of ``length`` characters past its limit."""
    return (
        f"{FIELD_LABELS[field]} is {length:,} characters long; the limit is "
        f"{TEXT_LIMITS[field]:,}. Shorten it."
    )
