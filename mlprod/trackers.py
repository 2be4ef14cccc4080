"""The trackers whose files ``mlprod import NAME PATH`` and the Batch page read from disk:
what each is, where each field comes from, and its reader (imported only when used, so the
command line starts without pyarrow; the readers are :mod:`mlprod.ingest.trackers`)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod.errors import BadFile

if TYPE_CHECKING:
    from mlprod.quality import Metric

__all__ = ["EVALUATIONS", "FILE_SOURCES", "TRACKERS", "Tracker"]


@dataclass(frozen=True)
class Tracker:
    """One tracker's files: what they are, where each field comes from, and the reader
    (``module:function``, imported when used: a tracker's reader may need a package
    only its command loads)."""

    what: str
    paths: str
    fed: str
    reader: str
    #: Its key in :data:`mlprod.ingest.fields.FORMATS`.
    format: str

    def read(self, paths: list[Path], metric: Metric, *, best: bool = True) -> Any:
        module, _, function = self.reader.partition(":")
        read = getattr(import_module(f"mlprod.ingest.trackers.{module}"), function)
        try:
            return read(paths, metric, best=best) if module != "codecarbon" else read(paths)
        except ModuleNotFoundError as exc:  # an installed mlprod without the extra
            raise BadFile(
                f"Reading {self.what} needs the package '{exc.name}': "
                f"pip install 'mlprod[{exc.name}]'."
            ) from None


#: The trackers ``mlprod import NAME PATH`` reads from disk, by command name.
TRACKERS: dict[str, Tracker] = {
    "wandb": Tracker(
        "W&B run folders (offline runs, and runs that ran online or were synced)",
        "wandb/ folders, or run folders",
        "metrics, config, state and runtime from each run's run-*.wandb log (and "
        "files/wandb-summary.json); GPU model and count from the log's system info or "
        "files/wandb-metadata.json; config from files/config.yaml",
        "wandb:read_wandb",
        "wandb-runs",  # "wandb" is W&B's runs-table export
    ),
    "tensorboard": Tracker(
        "TensorBoard event files (each folder of events.out.tfevents.* is a run)",
        "log folders",
        "scalars per tag and step and the hparams from the event files; training hours "
        "from the first to the last event's wall time",
        "tensorboard:read_tensorboard",
        "tensorboard",
    ),
    "trainer": Tracker(
        "Hugging Face Trainer output (trainer_state.json)",
        "output folders",
        "evaluation metrics per step, train_runtime and the evaluation's time per sample "
        "from trainer_state.json; the model from config.json",
        "files:read_trainer",
        "trainer",
    ),
    "lightning": Tracker(
        "Lightning CSVLogger folders (version_N/metrics.csv and hparams.yaml)",
        "log folders",
        "metrics per step from metrics.csv; hyperparameters from hparams.yaml; no clock "
        "(give --set training_hours)",
        "files:read_lightning",
        "lightning",
    ),
    "dvc": Tracker(
        "DVC experiments (the output of `dvc exp show --json`)",
        "JSON files",
        "params and metrics of each commit and experiment, and its timestamp; no duration "
        "(a metric or --set gives the training hours)",
        "files:read_dvc",
        "dvc",
    ),
    "mlruns": Tracker(
        "an MLflow file store (mlruns/), without a server",
        "mlruns folders",
        "meta.yaml (name, state, start and end), metrics/ (every step), params/ and tags/",
        "files:read_mlruns",
        "mlruns",
    ),
    "codecarbon": Tracker(
        "CodeCarbon's emissions.csv, as runs of their own",
        "emissions.csv files",
        "duration, energy_consumed (kWh), emissions (kg CO2e), GPU model and count from "
        "emissions.csv; the quality and costs from --set or --map",
        "codecarbon:read_codecarbon",
        "codecarbon",
    ),
}

#: Evaluation tools' files the Batch page reads beside the trackers' (on the command line,
#: ``mlprod import lm-eval`` and ``import promptfoo`` have options of their own).
EVALUATIONS: dict[str, Tracker] = {
    "lm-eval": Tracker(
        "lm-evaluation-harness results (results_*.json), one run per task",
        "results_*.json files, or folders holding them",
        "each task's metrics (acc, acc_norm, exact_match, … as the harness names them), the "
        "model from its model arguments, the time per sample from the evaluation's time; "
        "training hours and cost are the model's: give them below",
        "evals:read_lm_eval",
        "lm-eval",
    ),
    "promptfoo": Tracker(
        "promptfoo output (promptfoo eval -o FILE.json), one run per prompt × provider",
        "output JSON files",
        "pass rate and scores, latency and tokens per prompt × provider; tokens priced by the "
        "LLM price book (a model it does not list is a row error, never $0)",
        "evals:read_promptfoo",
        "promptfoo",
    ),
}

#: Everything the Batch page's "Tracker files" source reads, by name.
FILE_SOURCES: dict[str, Tracker] = {**TRACKERS, **EVALUATIONS}
