"""Exports are safe to open in a spreadsheet (OWASP CSV injection)."""

import csv
import io

import pandas as pd
import pytest

from mlprod.export import csv_bytes


@pytest.mark.parametrize("cell", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_risky_text_cells_are_prefixed(cell):
    data = csv_bytes(pd.DataFrame({"model_name": [cell], "cer": [-0.5]}))
    row = next(csv.DictReader(io.StringIO(data.decode())))
    assert row["model_name"] == "'" + cell
    assert row["cer"] == "-0.5"  # numbers are never touched


def test_harmless_text_is_unchanged():
    data = csv_bytes(pd.DataFrame({"notes": ["a=b", "café", "<script>"]}))
    assert [r["notes"] for r in csv.DictReader(io.StringIO(data.decode()))] == [
        "a=b",
        "café",
        "<script>",
    ]
