"""A vs B: winners, tie band, verdict, the price of accuracy, break-evens, permalinks."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlprod.comparison.compare import CLASSIC_TRADE_OFF, Run, compare, comparison_table
from mlprod.comparison.links import parse_side, parse_tie_band, parse_weights, side_param
from mlprod.errors import BadLink, InvalidInput
from tests.conftest import examples

LIGHT, HEAVY = CLASSIC_TRADE_OFF
REF = Run(0.9, 1000, 200, 10, 50, name="ref")


class TestWinners:
    def test_classic_trade_off_prefers_the_light_model(self):
        c = compare(LIGHT, HEAVY)
        assert [r.winner for r in c.ratios.values()] == ["A", "A", "A"]
        assert c.recommended == "A"
        assert c.verdict.startswith("Choose A, light-distilled")
        assert "giving up 0.02 F1" in c.verdict
        assert c.ratios["cer"].times == pytest.approx((0.97 / 500) / (0.99 / 50_000))

    def test_order_does_not_change_the_decision(self):
        assert compare(HEAVY, LIGHT).recommended == "B"

    def test_equal_runs_tie_everywhere_with_zero_differences(self):
        c = compare(REF, Run(0.9, 1000, 200, 10, 50, name="ref-2"))
        assert {r.winner for r in c.ratios.values()} == {"tie"}
        assert all(r.diff == 0 and r.pct == 0 for r in c.ratios.values())
        assert c.recommended == "tie" and c.verdict.startswith("Too close to call")
        assert c.key_numbers[0] == "Same F1 (0.9): ref costs $0 less."
        assert c.break_evens == []

    @pytest.mark.parametrize(("band", "winner"), [(0.02, "tie"), (0.0, "B"), (0.005, "B")])
    def test_tie_band(self, band, winner):
        # B's latency is 1% lower: its PSR is ~1% higher.
        b = Run(0.9, 1000, 200, 10, 49.5, name="b")
        assert compare(REF, b, tie_band=band).ratios["psr"].winner == winner

    def test_weights_change_the_recommendation(self):
        cheap_slow = Run(0.9, 100, 20, 10, 500, name="cheap-slow")
        dear_fast = Run(0.9, 1200, 0, 10, 50, name="dear-fast")  # 10x the cost, 1/10 the latency
        assert (
            compare(cheap_slow, dear_fast, weights={"cer": 1, "ter": 1, "psr": 1}).recommended
            == "tie"
        )
        assert (
            compare(cheap_slow, dear_fast, weights={"cer": 3, "ter": 1, "psr": 1}).recommended
            == "A"
        )
        by_speed = compare(cheap_slow, dear_fast, weights={"cer": 1, "ter": 1, "psr": 3})
        assert (
            by_speed.recommended == "B" and "(weights: cost 1, time 1, speed 3)" in by_speed.verdict
        )

    def test_only_weighted_ratios_are_named_as_reasons(self):
        c = compare(LIGHT, HEAVY, weights={"cer": 1, "ter": 0, "psr": 0})
        assert "cost efficiency" in c.verdict and "time efficiency" not in c.verdict

    def test_bad_weights_and_band(self):
        with pytest.raises(InvalidInput, match="Weights"):
            compare(LIGHT, HEAVY, weights={"cer": -1, "ter": 1, "psr": 1})
        with pytest.raises(InvalidInput, match="tie band"):
            compare(LIGHT, HEAVY, tie_band=1.5)

    def test_impossible_run_raises_invalid_input(self):
        with pytest.raises(InvalidInput, match="Latency"):
            compare(LIGHT, Run(0.9, 1, 1, 1, 0, name="x"))

    def test_zero_f1_loses_outright(self):
        c = compare(Run(0.0, 1, 1, 1, 1, name="broken"), REF)
        assert c.recommended == "B"


class TestKeyNumbers:
    def test_marginal_cost_of_an_f1_point(self):
        c = compare(LIGHT, HEAVY)
        assert c.key_numbers[0] == (
            "heavy-ensemble buys +0.02 F1 for +$49,500: $24,750 per 0.01 F1."
        )
        assert c.key_numbers[1] == (
            "The +0.02 F1 costs +480 ms of latency (25× slower): 240 ms per 0.01 F1."
        )

    def test_better_and_cheaper_is_said_plainly(self):
        c = compare(Run(0.8, 1000, 200, 10, 50, name="old"), Run(0.9, 500, 100, 10, 40, name="new"))
        assert "no trade-off on cost" in c.key_numbers[0]
        assert c.key_numbers[1] == "new is also 10 ms faster."


class TestBreakEvens:
    def test_each_break_even_is_where_the_ratio_would_flip(self):
        c = compare(LIGHT, HEAVY)
        lines = c.break_evens
        assert lines[0].startswith("A wins on CER unless its inference cost exceeds $48,5")
        # At that inference cost, A's CER equals B's.
        limit = LIGHT.f1 / c.ratios["cer"].b - LIGHT.training_cost
        flipped = Run(LIGHT.f1, LIGHT.training_cost, limit, 6, 20, name="a")
        assert flipped.ratios.cer == pytest.approx(c.ratios["cer"].b)
        assert "training time exceeds 196 h" in lines[1]
        assert "latency exceeds 490 ms" in lines[2]


def test_table_has_inputs_ratios_differences_and_winners():
    table = comparison_table(compare(LIGHT, HEAVY))
    assert table["measure"].tolist()[-3:] == ["CER", "TER", "PSR"]
    cer = table.set_index("measure").loc["CER"]
    assert cer["winner"] == "A · light-distilled"
    assert cer["B - A"] == pytest.approx(0.99 / 50_000 - 0.97 / 500)
    assert cer["B vs A (%)"] == pytest.approx(((0.99 / 50_000) / (0.97 / 500) - 1) * 100)


class TestPermalink:
    def test_round_trip(self):
        assert parse_side(side_param(17)) == 17
        back = parse_side(side_param(LIGHT))
        assert (back.name, back.f1, back.training_cost, back.latency_ms) == (
            "light-distilled",
            0.97,
            400,
            20,
        )
        assert parse_weights("1,2,0") == {"cer": 1, "ter": 2, "psr": 0}

    @pytest.mark.parametrize("text", ["x~1~2", "a~b~c~d~e~f", ""])
    def test_bad_sides(self, text):
        with pytest.raises(BadLink, match="Cannot read"):
            parse_side(text)

    @pytest.mark.parametrize("text", ["1,2", "1,-1,1", "a,b,c", "1,inf,1"])
    def test_bad_weights(self, text):
        with pytest.raises(BadLink, match="Cannot read the weights"):
            parse_weights(text)

    @pytest.mark.parametrize("text", ["x", "-1", "25", "nan"])
    def test_bad_tie_band(self, text):
        with pytest.raises(BadLink, match="tie band"):
            parse_tie_band(text)


positive = st.floats(0.01, 1e6)


@settings(max_examples=examples(200), deadline=None)
@given(f1a=st.floats(0, 1), f1b=st.floats(0, 1), ca=positive, cb=positive, ha=positive,
       hb=positive, la=positive, lb=positive)  # fmt: skip
def test_swapping_sides_mirrors_the_result(f1a, f1b, ca, cb, ha, hb, la, lb):
    a, b = Run(f1a, ca, 0, ha, la, name="a"), Run(f1b, cb, 0, hb, lb, name="b")
    ab, ba = compare(a, b), compare(b, a)
    mirror = {"A": "B", "B": "A", "tie": "tie"}
    assert ba.recommended == mirror[ab.recommended]
    for name in ("cer", "ter", "psr"):
        assert ba.ratios[name].winner == mirror[ab.ratios[name].winner]
    assert math.isfinite(ab.weighted_log_advantage)


def test_same_cost_and_latency_are_said_plainly():
    c = compare(Run(0.84, 100, 10, 2, 20, name="a"), Run(0.83, 100, 10, 2, 20, name="b"))
    assert c.key_numbers[:2] == ["a is 0.01 F1 more accurate at the same cost.",
                                 "Both answer in 20 ms."]  # fmt: skip


@settings(max_examples=examples(300), deadline=None)
@given(
    f1a=st.floats(0.5, 0.99),
    f1b=st.floats(0.5, 0.99),
    low=st.floats(-0.2, 0.2, allow_subnormal=False),
    width=st.floats(0, 0.2, allow_subnormal=False),
)
def test_the_f1_gap_sentence_agrees_with_its_interval(f1a, f1b, low, width):
    """ "Larger than run-to-run spread" exactly when the printed interval holds no zero, and
    the printed ends keep their signs: 0.0188 "larger than spread (+0.000 to +0.036)" read
    as a contradiction, the low end being +0.0003."""
    from mlprod.comparison.compare import _f1_gap

    high = low + width
    sentence = _f1_gap(Run(f1a, 1, 1, 1, 1, name="a"), Run(f1b, 1, 1, 1, 1, name="b"),
                       (low, high))  # fmt: skip
    shown = re.search(r"falls between (\S+) and (\S+) \(90%\)", sentence)
    assert shown is not None, sentence
    ends = [float(x) for x in shown.groups()]
    assert [math.copysign(1, e) if e else 0 for e in ends] == [
        math.copysign(1, v) if v else 0 for v in (low, high)
    ]
    holds_zero = low <= 0 <= high
    assert ("larger than run-to-run spread" in sentence) == (not holds_zero)
    assert ("within run-to-run spread" in sentence) == holds_zero
