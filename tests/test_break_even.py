"""Break-even traffic: the closed form, a brute-force scan, and the reviewer's question."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlprod.comparison.break_even import CostCurve, break_even, crossings
from mlprod.comparison.compare import Run
from tests.conftest import api_70b_vs_ft_7b_on_two_l4s, examples

money = st.integers(min_value=0, max_value=100_000)
per_request = st.integers(min_value=0, max_value=5_000).map(lambda x: x / 1_000_000)


@settings(max_examples=examples(300), deadline=None)
@given(fa=money, fb=money, pa=per_request, pb=per_request)
def test_two_lines_cross_where_the_closed_form_says(fa, fb, pa, pb):
    a, b = CostCurve(fa, pa), CostCurve(fb, pb)
    upto = 1e9
    found = crossings(a, b, upto)
    if pa == pb:
        assert found == []  # parallel lines never cross (equal ones never swap)
        return
    closed = (fb - fa) / (pa - pb)
    if 0 < closed < upto and fa != fb:
        assert found == [pytest.approx(closed, rel=1e-9)]
    elif not 0 < closed <= upto:
        assert found == []


@settings(max_examples=examples(200), deadline=None)
@given(
    fa=money,
    pa=per_request,
    fb=money,
    replica=st.integers(min_value=1, max_value=20_000),
    capacity=st.integers(min_value=1, max_value=50).map(lambda x: x * 100_000),
)
def test_replicas_added_with_traffic_match_a_brute_force_scan(fa, pa, fb, replica, capacity):
    """Per request (A) against serving whose replicas follow traffic (B): every sign
    change of cost_A - cost_B on a fine grid has a crossing inside that grid cell, and
    every crossing found is a real swap."""
    a = CostCurve(fa, pa)
    b = CostCurve(fb, replica_cost=replica, capacity=capacity)
    upto = 20 * capacity
    found = crossings(a, b, upto)
    grid = np.concatenate([[upto * 1e-9], np.linspace(0, upto, 20_001)[1:]])
    diff = a.at(grid) - b.at(grid)
    assume(np.all(np.abs(diff) > 1e-6))  # touching without crossing: no answer to check
    changes = np.nonzero(np.sign(diff[:-1]) != np.sign(diff[1:]))[0]
    for i in changes:
        assert any(grid[i] - 1e-6 <= x <= grid[i + 1] + 1e-6 for x in found), (i, found)
    for x in found:
        eps = x * 1e-6
        left, right = a.at(x - eps) - b.at(x - eps), a.at(x + eps) - b.at(x + eps)
        assert np.sign(left) != np.sign(right), x
    # Two crossings inside one grid cell show as no sign change there.
    assert len(found) >= len(changes) and (len(found) - len(changes)) % 2 == 0


@settings(max_examples=examples(100), deadline=None)
@given(f1a=st.floats(0.5, 0.99), f1b=st.floats(0.5, 0.99), fb=money, pa=per_request)
def test_cer_parity_is_where_f1_per_cost_is_equal(f1a, f1b, fb, pa):
    assume(pa > 0 and fb > 0)
    a = Run(f1a, 0, 0, 1, 10, name="api", assumptions={"inference_mode": "requests",
            "requests_per_month": 1e6, "cost_per_1k_requests": pa * 1000, "months": 1})  # fmt: skip
    b = Run(f1b, fb, 0, 1, 10, name="own")
    a = Run(f1a, 0, pa * 1e6, 1, 10, name="api", assumptions=a.assumptions)
    even = break_even(a, b)
    assert even is not None
    for x in even.cer_at:
        cost_a, cost_b = even.curves[0].at(x), even.curves[1].at(x)
        assert f1a / cost_a == pytest.approx(f1b / cost_b, rel=1e-6)


def test_api_vs_self_hosted_crosses_once_at_the_hand_computed_traffic():
    a, b = api_70b_vs_ft_7b_on_two_l4s()
    even = break_even(a, b)
    assert even is not None and even.traffic == 2e6 and even.traffic_given
    per_request = a.inference_cost / 2e6  # 800M tokens at $0.88 per 1M, over 2M requests
    hand = b.total_cost / per_request  # the API's cost reaches the GPUs' fixed cost
    assert even.cost_at == [pytest.approx(hand, rel=1e-6)]
    assert even.cheaper_now == ("A" if a.total_cost < b.total_cost else "B")
    assert "requests/month" in even.lines[0] and "Today: 2M requests/month." in even.lines[0]
    cer_hand = 0.91 * b.total_cost / (0.89 * per_request)
    assert even.cer_at == [pytest.approx(cer_hand, rel=1e-6)]
    frame = even.frame(("70B via API", "fine-tuned 7B"))
    assert set(frame["side"]) == {"A · 70B via API", "B · fine-tuned 7B"}
    assert frame["traffic"].max() > hand  # the chart reaches past the crossing


def test_no_break_even_is_said_in_words():
    typed_a, typed_b = Run(0.9, 100, 10, 1, 10, name="a"), Run(0.8, 50, 5, 1, 10, name="b")
    assert break_even(typed_a, typed_b) is None  # neither follows traffic
    cheap = Run(0.9, 0, 1, 1, 10, name="a", assumptions={"inference_mode": "requests",
                "requests_per_month": 1e6, "cost_per_1k_requests": 0.001, "months": 1})  # fmt: skip
    dear = Run(0.9, 10_000, 5_000, 1, 10, name="b")
    even = break_even(cheap, dear)
    assert even.cost_at == []
    assert even.lines[0].startswith("No break-even up to 1B requests/month: A (a) costs less")


def test_tokens_without_a_stated_traffic_say_it_is_assumed():
    a = Run(0.9, 0, 50, 1, 10, name="api", assumptions={"inference_mode": "tokens", "months": 1})
    b = Run(0.9, 0, 500, 1, 10, name="own", assumptions={"inference_mode": "serving"})
    even = break_even(a, b)
    assert not even.traffic_given and "(assumed)" in even.lines[0]
    assert even.cost_at == [pytest.approx(10e6)]  # $50 at 1M requests, $500 at 10M
    assert break_even(a, b, traffic=2e6).cost_at == [pytest.approx(20e6)]
