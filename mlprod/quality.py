"""The quality a run is scored on: F1 by default, or another metric with its direction.

Every ratio divides a quality in [0, 1], higher better, by money, hours or milliseconds.
A metric is one of three kinds:

- higher is better in [0, 1] (F1, accuracy, AUC, exact match, pass@k, win rate, ROUGE,
  BLEU as a fraction, or a name the team declares): scored as logged;
- lower is better in [0, 1] (error rate, WER, character error rate): scored as ``1 − x``
  and labelled so ("1 − WER");
- unbounded (RMSE, perplexity, loss): refused, saying why and what to give instead.

A run's metric is kept with its batch (every run of a save is scored on one metric); runs
of different metrics are never ranked, drawn or compared together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mlprod.errors import InvalidInput

__all__ = ["F1", "KNOWN_METRICS", "Metric", "metric_named", "metric_of"]


@dataclass(frozen=True)
class Metric:
    """A quality metric in [0, 1]: its stored key, its label, its direction and the names a
    tracker logs it under (normalised as :func:`mlprod.ingest.fields.normalize_header`
    does; each is also known after a section: ``val_acc``)."""

    key: str
    label: str
    lower_is_better: bool = False
    names: tuple[str, ...] = ()

    @property
    def is_f1(self) -> bool:
        return self.key == "f1"

    @property
    def input_label(self) -> str:
        """What a value as logged is called in a message: ``F1 score``, ``WER``."""
        return "F1 score" if self.is_f1 else self.label

    @property
    def input_title(self) -> str:
        """A form's label for the value as logged: ``WER (lower is better: scored as
        1 − WER)``."""
        if self.lower_is_better:
            return f"{self.label} (lower is better: scored as {self.score_label})"
        return self.label

    @property
    def score_label(self) -> str:
        """What the ratios divide: ``F1``, ``Accuracy``, ``1 − WER``."""
        return f"1 − {self.label}" if self.lower_is_better else self.label

    @property
    def direction(self) -> str:
        return "lower is better" if self.lower_is_better else "higher is better"

    def scores(self, logged: np.ndarray) -> np.ndarray:
        """The quality of each logged value: ``1 − x`` for a lower-is-better metric. Values
        outside [0, 1] are kept as logged, so that the check names the value as logged
        ("WER must be between 0 and 1 — did you mean 0.12?")."""
        if not self.lower_is_better:
            return logged
        with np.errstate(invalid="ignore"):
            inside = (logged >= 0) & (logged <= 1)
        return np.where(inside, 1.0 - logged, logged)

    def score(self, logged: float) -> float:
        return float(self.scores(np.array([logged], dtype=np.float64))[0])

    def score_of(self, value: object) -> float:
        """The quality of one value a person gives (checked from 0 to 1, named as this
        metric; :class:`InvalidInput` otherwise).

        >>> metric_named("wer").score_of(0.12)
        0.88
        """
        from mlprod.metrics import quality_value

        if self.lower_is_better:
            number = _number_or_none(value)
            if number is not None and number > 1:
                raise InvalidInput("f1", self.above_one(number))
        return round(self.score(quality_value(value, self.input_label)), 12)

    def above_one(self, value: float) -> str:
        """Why a lower-is-better value above 1 (a WER of 1.4: more errors than words) is
        not scored."""
        return (
            f"{self.label} is {value:g}, above 1: {self.score_label} would be below 0, and "
            f"a ratio needs a quality from 0 to 1. Give {self.label} as a fraction (a "
            "percentage of 14 is 0.14)."
        )

    def logged(self, score: float) -> float:
        """The value as logged, from its quality (the inverse of :meth:`scores`)."""
        return 1.0 - score if self.lower_is_better else score

    @property
    def quantity(self) -> str:
        """The quality after a number or in a formula: ``F1``, ``(1 − WER)``."""
        return f"({self.score_label})" if self.lower_is_better else self.score_label

    def per(self, what: str) -> str:
        """``F1 per training hour``, ``(1 − WER) per $1,000``."""
        return f"{self.quantity} per {what}"


#: The metrics mlprod knows by name, F1 first (the calculator's picker lists them in this
#: order). Any other name is a team's own higher-is-better metric in [0, 1].
KNOWN_METRICS: tuple[Metric, ...] = (
    Metric(
        "f1",
        "F1",
        names=(
            "f1",
            "f1_score",
            "f1score",
            "f_1",
            "f1_macro",
            "macro_f1",
            "f1_macro_score",
            "macro_f1_score",
            "f1_weighted",
            "weighted_f1",
            "f1_micro",
            "micro_f1",
            "f_measure",
        ),
    ),
    Metric("accuracy", "Accuracy", names=("accuracy", "acc", "accuracy_score", "top1_accuracy")),
    Metric(
        "balanced_accuracy",
        "Balanced accuracy",
        names=("balanced_accuracy", "balanced_acc", "bal_acc", "balanced_accuracy_score"),
    ),
    Metric("auc", "AUC", names=("auc", "roc_auc", "auroc", "roc_auc_score", "auc_roc")),
    Metric("exact_match", "Exact match", names=("exact_match", "em", "exact")),
    Metric("pass@1", "pass@1", names=("pass@1", "pass_at_1", "pass_1")),
    Metric("win_rate", "Win rate", names=("win_rate", "winrate", "win_pct")),
    Metric("rouge_l", "ROUGE-L", names=("rouge_l", "rougel", "rouge_lsum", "rougelsum")),
    Metric("rouge1", "ROUGE-1", names=("rouge1", "rouge_1")),
    Metric("bleu", "BLEU", names=("bleu", "bleu_score", "sacrebleu")),
    Metric("pass_rate", "Pass rate", names=("pass_rate", "passrate", "pass_ratio")),
    Metric(
        "error_rate",
        "Error rate",
        lower_is_better=True,
        names=("error_rate", "error", "err", "top1_error", "misclassification_rate"),
    ),
    Metric("wer", "WER", lower_is_better=True, names=("wer", "word_error_rate")),
    Metric(
        "character_error_rate",
        "Character error rate",
        lower_is_better=True,
        names=("character_error_rate", "char_error_rate", "cer"),
    ),
)
F1 = KNOWN_METRICS[0]

#: Metrics with no upper bound (or none in [0, 1]), by normalised name: a ratio of them to
#: money has no meaning. What each is, for the refusal.
UNBOUNDED = {
    "rmse": "RMSE",
    "mse": "MSE",
    "mae": "MAE",
    "mape": "MAPE",
    "loss": "loss",
    "log_loss": "log loss",
    "logloss": "log loss",
    "cross_entropy": "cross-entropy",
    "nll": "negative log-likelihood",
    "perplexity": "perplexity",
    "word_perplexity": "perplexity",
    "byte_perplexity": "perplexity",
    "ppl": "perplexity",
    "bits_per_byte": "bits per byte",
    "bpb": "bits per byte",
    "r2": "R²",
    "r2_score": "R²",
    "mcc": "MCC",
}

_BY_NAME = {name: m for m in KNOWN_METRICS for name in (m.key, *m.names)}
_PASS_AT = re.compile(r"pass(?:@|_at_|_)(\d{1,3})")
_OWN_NAME = re.compile(r"[a-z0-9][a-z0-9_@.:+-]{0,59}")


def _number_or_none(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _normalised(name: str) -> str:
    text = re.sub(r"[\(\[][^\)\]]*[\)\]]", " ", name.strip().lower())
    return re.sub(r"[\s\-/.]+", "_", text).strip("_")


def _strip_section(name: str) -> str:
    for section in ("val_", "valid_", "validation_", "eval_", "test_", "dev_", "train_"):
        if name.startswith(section) and len(name) > len(section):
            return name[len(section) :]
    return name


def _refusal(name: str, what: str) -> str:
    return (
        f"'{name}' is {what}, which has no upper bound of 1 (and lower is better where it "
        f"is an error or a loss): {what} per dollar grows as a model gets worse or as the "
        "target's units change, so the ratios would rank runs backwards. Score the runs on a "
        "bounded quality in [0, 1] instead — F1, accuracy, AUC, exact match, pass@1, or "
        "1 − an error rate such as WER — and log it next to this metric."
    )


def metric_named(name: str | None) -> Metric:
    """The metric a person names (``None`` or empty: F1).

    >>> metric_named("val/accuracy").label, metric_named("WER").score_label
    ('Accuracy', '1 − WER')
    >>> metric_named("pass@10").key, metric_named("helpfulness").label
    ('pass@10', 'helpfulness')
    >>> metric_named("perplexity")
    Traceback (most recent call last):
    ...
    mlprod.errors.InvalidInput: 'perplexity' is perplexity, which has no upper bound of 1 ...
    """
    if name is None or not name.strip():
        return F1
    key = _normalised(name)
    for candidate in (key, _strip_section(key)):
        if candidate in _BY_NAME:
            return _BY_NAME[candidate]
        if candidate in UNBOUNDED:
            raise InvalidInput("metric", _refusal(name.strip(), UNBOUNDED[candidate]))
        if match := _PASS_AT.fullmatch(candidate):
            k = int(match.group(1))
            return Metric(f"pass@{k}", f"pass@{k}", names=(f"pass@{k}", f"pass_at_{k}"))
    if not _OWN_NAME.fullmatch(key):
        raise InvalidInput(
            "metric",
            f"A metric's name is letters, digits and _ @ . : + - (up to 60); got {name!r}.",
        )
    return Metric(key, name.strip(), names=(key,))


def metric_of(key: str | None) -> Metric:
    """The metric stored under ``key`` (a batch's ``metric``; NULL is F1)."""
    if key is None or key == "f1":
        return F1
    try:
        return metric_named(key)
    except InvalidInput:  # stored before a name was refused: shown as it was stored
        return Metric(key, key)
