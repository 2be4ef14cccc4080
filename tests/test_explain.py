"""What people read: formatting, readable forms, advice."""

import pytest

from mlprod.advice import advice_for, weakest_ratio
from mlprod.formatting import format_money, format_ratio, readable
from mlprod.metrics import Ratios, calculate


def test_raw_values_read_as_the_formula_gives_them():
    r = calculate(0.9, 1000, 200, 10, 50)
    assert [format_ratio(v) for v in r.as_dict().values()] == ["0.00075", "0.09", "0.018"]


def test_tiny_and_large_ratios_stay_positional():
    assert format_ratio(1.5e-7) == "0.00000015"
    assert format_ratio(123456.0) == "123500"


def test_readable_cer_uses_currency_and_a_spend_that_reads_well():
    assert readable(Ratios(0.00075, 0.09, 0.018))["cer"] == "0.75 F1 per $1,000"
    assert readable(Ratios(0.00000099, 0.09, 0.018), "EUR")["cer"] == "0.99 F1 per €1,000,000"


def test_money_has_separators_and_symbol():
    assert format_money(50000) == "$50,000"
    assert format_money(1234.6, "GBP") == "£1,235"
    assert format_money(99.5, "GBP") == "£99.50"


@pytest.mark.parametrize(
    ("ratios", "weakest", "word"),
    [
        (Ratios(0.00075, 0.09, 0.001), "psr", "Quantize"),
        (Ratios(0.00075, 0.001, 0.018), "ter", "early stopping"),
        (Ratios(0.00001, 0.09, 0.018), "cer", "spot"),
    ],
)
def test_advice_follows_the_weakest_ratio(ratios, weakest, word):
    assert weakest_ratio(ratios) == weakest
    assert any(word.lower() in a.lower() for a in advice_for(ratios).actions)
