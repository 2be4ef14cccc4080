"""The ratios, their validation rules, and F1 from its parts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlprod
from mlprod.errors import InvalidInput
from mlprod.metrics import (
    MAX_RATIO,
    calculate,
    f1_from_counts,
    f1_from_precision_recall,
    resolve_f1,
    score_arrays,
)
from tests.conftest import examples

from .conftest import REFERENCE


class TestCalculate:
    def test_reference_example_is_exact(self):
        ratios = mlprod.calculate(**REFERENCE)
        assert (ratios.cer, ratios.ter, ratios.psr) == (0.00075, 0.09, 0.018)

    def test_formulas(self):
        r = calculate(0.8, 300, 100, 4, 20)
        assert r.cer == pytest.approx(0.8 / 400, rel=1e-12)
        assert r.ter == pytest.approx(0.2, rel=1e-12)
        assert r.psr == pytest.approx(0.04, rel=1e-12)

    def test_higher_cost_lowers_cer(self):
        assert calculate(0.9, 2000, 200, 10, 50).cer < calculate(0.9, 1000, 200, 10, 50).cer

    def test_f1_of_zero_scores_zero(self):
        assert calculate(0, 1, 1, 1, 1).as_dict() == {"cer": 0, "ter": 0, "psr": 0}

    def test_inference_cost_alone_is_enough(self):
        assert calculate(0.5, 0, 100, 1, 1).cer == 0.005

    @pytest.mark.parametrize(
        ("change", "field", "words"),
        [
            ({"f1": 90}, "f1", "did you mean 0.90?"),
            ({"f1": 1.5}, "f1", "did you mean 0.01?"),
            ({"f1": -0.1}, "f1", "between 0 and 1"),
            ({"f1": 250}, "f1", "between 0 and 1"),
            ({"training_cost": -5}, "training_cost", "Training cost cannot be negative"),
            ({"inference_cost": -1}, "inference_cost", "Inference cost cannot be negative"),
            ({"training_cost": 0, "inference_cost": 0}, "training_cost", "Total cost"),
            ({"training_hours": 0}, "training_hours", "Training time (hours) must be above 0"),
            ({"training_hours": -2}, "training_hours", "must be above 0"),
            ({"latency_ms": 0}, "latency_ms", "Latency (ms) must be above 0"),
            ({"latency_ms": -3}, "latency_ms", "Latency (ms) must be above 0"),
            ({"f1": math.nan}, "f1", "F1 score is not a number"),
            ({"latency_ms": math.inf}, "latency_ms", "Latency (ms) is infinite"),
            ({"training_cost": -math.inf}, "training_cost", "Training cost is infinite"),
            ({"training_hours": None}, "training_hours", "Training time (hours) is missing"),
            ({"inference_cost": ""}, "inference_cost", "Inference cost is missing"),
            ({"latency_ms": "fast"}, "latency_ms", "Latency (ms) must be a number"),
            ({"training_hours": 1e-320}, "training_hours", "too small"),
            ({"training_hours": 5e-309}, "training_hours", "too small"),  # finite, but
            ({"latency_ms": 1e-13}, "latency_ms", "too small"),  # sums would overflow
            ({"training_cost": 1e308, "inference_cost": 1e308}, "training_cost", "too large"),
        ],
    )
    def test_invalid_input_names_the_field(self, change, field, words):
        with pytest.raises(InvalidInput) as caught:
            calculate(**{**REFERENCE, **change})
        assert caught.value.field == field
        assert words in str(caught.value)
        assert isinstance(caught.value, ValueError)


finite = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(max_examples=examples(500), deadline=None)
@given(f1=finite, train=finite, infer=finite, hours=finite, latency=finite)
def test_any_input_scores_finite_or_raises_invalid_input(f1, train, infer, hours, latency):
    try:
        ratios = calculate(f1, train, infer, hours, latency)
    except InvalidInput as exc:
        assert str(exc)
        return
    # ... and small enough that sums of a history of them stay finite
    assert all(0 <= v <= MAX_RATIO for v in ratios.as_dict().values())
    assert 0 <= f1 <= 1 and train >= 0 and infer >= 0 and hours > 0 and latency > 0


@settings(max_examples=examples(300), deadline=None)
@given(
    f1=st.floats(0, 1),
    train=st.floats(0.01, 1e7),
    infer=st.floats(0, 1e7),
    hours=st.floats(0.01, 1e5),
    latency=st.floats(0.01, 1e5),
)
def test_valid_inputs_match_the_formulas(f1, train, infer, hours, latency):
    r = calculate(f1, train, infer, hours, latency)
    assert r.cer == pytest.approx(f1 / (train + infer), rel=1e-11, abs=1e-300)
    assert r.ter == pytest.approx(f1 / hours, rel=1e-11, abs=1e-300)
    assert r.psr == pytest.approx(f1 / latency, rel=1e-11, abs=1e-300)


class TestScoreArrays:
    def test_good_rows_score_while_bad_rows_report(self):
        s = score_arrays([0.9, 90, 0.5], [1000, 1000, -1], [200, 200, 0], [10, 10, 1], [50, 50, 1])
        assert s.ok.tolist() == [True, False, False]
        assert s.cer[0] == 0.00075 and np.isnan(s.cer[1]) and np.isnan(s.psr[2])
        assert s.error.tolist()[0] is None
        assert "did you mean 0.90?" in s.error[1]
        assert s.error_field.tolist() == [None, "f1", "training_cost"]

    def test_first_problem_of_a_row_is_reported(self):
        s = score_arrays([np.nan], [-1], [0], [0], [0])
        assert s.error_field[0] == "f1"

    def test_matches_calculate_row_by_row(self):
        rng = np.random.default_rng(7)
        n = 1000
        cols = [rng.uniform(0, 1, n), rng.uniform(1, 1e5, n), rng.uniform(0, 1e4, n),
                rng.uniform(0.1, 500, n), rng.uniform(1, 900, n)]  # fmt: skip
        s = score_arrays(*cols)
        for i in range(0, n, 97):
            one = calculate(*(c[i] for c in cols))
            assert (s.cer[i], s.ter[i], s.psr[i]) == (one.cer, one.ter, one.psr)

    def test_lengths_must_match(self):
        with pytest.raises(ValueError, match="has 1 values"):
            score_arrays([0.9, 0.8], [1], [1, 1], [1, 1], [1, 1])


class TestF1:
    def test_from_precision_recall(self):
        assert f1_from_precision_recall(0.9, 0.9) == 0.9
        assert f1_from_precision_recall(0.5, 1.0) == pytest.approx(2 / 3)
        assert f1_from_precision_recall(0, 0) == 0

    def test_from_counts(self):
        assert f1_from_counts(90, 10, 10) == 0.9
        assert f1_from_counts(0, 5, 5) == 0

    @pytest.mark.parametrize(
        ("p", "r", "field"),
        [(1.2, 0.5, "precision"), (0.5, -0.1, "recall"), (None, 0.5, "precision"),
         (0.5, math.nan, "recall")],
    )  # fmt: skip
    def test_bad_precision_recall(self, p, r, field):
        with pytest.raises(InvalidInput) as caught:
            f1_from_precision_recall(p, r)
        assert caught.value.field == field

    @pytest.mark.parametrize(
        ("counts", "field", "words"),
        [((-1, 0, 0), "tp", "cannot be negative"), ((1.5, 0, 0), "tp", "whole number"),
         ((0, 0, 0), "tp", "undefined"), ((1, None, 1), "fp", "missing")],
    )  # fmt: skip
    def test_bad_counts(self, counts, field, words):
        with pytest.raises(InvalidInput, match=words) as caught:
            f1_from_counts(*counts)
        assert caught.value.field == field

    def test_resolve_prefers_f1_then_precision_recall_then_counts(self):
        assert resolve_f1(0.7, precision=0.9, recall=0.9) == 0.7
        assert resolve_f1(precision=0.9, recall=0.9, tp=1, fp=100, fn=100) == 0.9
        assert resolve_f1(tp=90, fp=10, fn=10) == 0.9
        with pytest.raises(InvalidInput, match="F1 score is missing"):
            resolve_f1()
