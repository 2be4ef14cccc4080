"""Costs from GPU hours, traffic and tokens; the price and exchange-rate tables."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from mlprod.costs.fx import FxTable, default_fx
from mlprod.costs.gpus import PriceTable, default_prices, training_cost
from mlprod.costs.inference import inference_from_requests, inference_from_tokens
from mlprod.errors import CostTableError, InvalidInput

HEADER = "provider,gpu_model,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour,as_of,source\n"


def table(tmp_path, body, name="prices.csv"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


class TestPriceTable:
    def test_shipped_table_is_valid_dated_and_covers_common_gpus(self):
        prices = default_prices()
        assert {"H100-80GB", "A100-80GB", "A100-40GB", "L4", "T4", "A10G", "V100"} <= set(
            prices.models()
        )
        assert len(prices.providers()) >= 3
        assert all(p.as_of >= date(2025, 1, 1) and p.source for p in prices.prices)

    @pytest.mark.parametrize(
        ("row", "words"),
        [
            ("AWS,T4,abc,,2026-10-01,x", "line 2: on-demand price 'abc' is not a number"),
            ("AWS,T4,-1,,2026-10-01,x", "line 2: on-demand price must be above 0"),
            ("AWS,T4,1,2,2026-10-01,x", "line 2: the spot price is above the on-demand price"),
            ("AWS,T4,1,,yesterday,x", "line 2: as_of 'yesterday' is not a date"),
            (",T4,1,,2026-10-01,x", "line 2: provider and gpu_model are required"),
            ("AWS,T4,1,,2026-10-01,x\nAWS,t4,1,,2026-10-01,x", "line 3: AWS t4 is listed twice"),
        ],
    )
    def test_a_bad_row_is_named(self, tmp_path, row, words):
        with pytest.raises(CostTableError, match=words):
            PriceTable.load(table(tmp_path, row + "\n"))

    def test_missing_column(self, tmp_path):
        path = tmp_path / "p.csv"
        path.write_text("provider,gpu_model\nAWS,T4\n")
        with pytest.raises(CostTableError, match="missing column"):
            PriceTable.load(path)

    def test_lookup_by_loose_name_cheapest_provider_and_spot(self):
        prices = default_prices()
        assert prices.price("a100 80gb").provider == "Lambda"
        assert prices.price("A100-80GB", provider="aws").on_demand == 5.12
        assert prices.price("A100-80GB", spot=True).spot == 1.47

    def test_unknown_gpu_names_the_known_ones(self):
        with pytest.raises(
            InvalidInput, match=r"GPU 'X9000' is not in the price table; closest: .*; known: .*H100"
        ):
            default_prices().price("X9000")

    def test_column_lookup(self):
        got = default_prices().hourly_prices(pa.array(["T4", "nope", None, "a100-80gb"]))
        assert got["price"][0] == 0.53 and got["price"][3] == 1.79
        assert all(x != x for x in got["price"][1:3])  # NaN
        assert got["provider"].tolist() == ["AWS", None, None, "Lambda"]


class TestBuilders:
    def test_training_cost_from_the_table(self):
        t = training_cost("A100-80GB", 8, 10, provider="AWS", extra_costs=100)
        assert t.total == pytest.approx(8 * 10 * 5.12 + 100)
        assert t.price_kind == "on-demand" and t.price_provider == "AWS"
        assert t.formula() == (
            "Training cost = 8 GPUs × 10 h × $5.12/GPU-h (AWS on-demand, 2026-10-01) "
            "+ $100 extra = $509.60"
        )

    def test_spot_and_override(self):
        assert training_cost("V100", 4, 5, spot=True, provider="GCP").total == pytest.approx(
            4 * 5 * 0.89
        )
        assert training_cost("anything", 2, 3, price_override=1.5).total == 9.0

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [({"gpu_count": 0}, "gpu_count"), ({"gpu_hours": -1}, "gpu_hours"),
         ({"extra_costs": -5}, "extra_costs"), ({"gpu_model": "X9000"}, "gpu_model")],
    )  # fmt: skip
    def test_training_cost_refuses_bad_input(self, kwargs, field):
        args = {"gpu_model": "T4", "gpu_count": 1, "gpu_hours": 1, **kwargs}
        with pytest.raises(InvalidInput) as caught:
            training_cost(args.pop("gpu_model"), **args)
        assert caught.value.field == field

    def test_inference_from_requests_and_tokens(self):
        r = inference_from_requests(2_000_000, 0.1, 3)
        assert r.total == pytest.approx(2_000_000 / 1000 * 0.1 * 3)
        t = inference_from_tokens(50_000_000, 10_000_000, 0.5, 1.5, 2)
        assert t.total == pytest.approx((50 * 0.5 + 10 * 1.5) * 2)
        assert "50,000,000 tokens in" in t.formula()
        with pytest.raises(InvalidInput, match="Months of serving must be above 0"):
            inference_from_requests(1, 1, 0)


class TestCurrency:
    def test_table_prices_are_converted(self):
        usd = training_cost("T4", 1, 100, provider="AWS")
        eur = training_cost("T4", 1, 100, provider="AWS", currency="EUR")
        assert eur.total == pytest.approx(usd.total * default_fx().rate("EUR"))
        assert eur.formula().endswith(
            "1 GPU × 100 h × €0.488/GPU-h (AWS on-demand, 2026-10-01) = €48.76"
        )
        assert eur.fx_rate == 0.92

    def test_unknown_currency(self):
        with pytest.raises(InvalidInput, match="No exchange rate for XYZ"):
            training_cost("T4", 1, 1, currency="XYZ")

    def test_fx_table_needs_usd(self, tmp_path):
        path = tmp_path / "fx.csv"
        path.write_text("currency,per_usd,as_of,source\nEUR,0.9,2026-01-01,x\n")
        with pytest.raises(CostTableError, match="USD must be listed"):
            FxTable.load(path)


class TestInferenceModesAreNamedOnce:
    """Every field of every way to build an inference cost is known to everything that
    carries it: a new field added to the spec but not to one of them fails here."""

    def test_every_builder_field_is_a_scenario_an_inference_cost_and_a_stored_field(self):
        from dataclasses import fields

        from mlprod.costs.inference import InferenceCost
        from mlprod.costs.modes import INFERENCE_FIELDS
        from mlprod.costs.scenario import CostScenario
        from mlprod.store import ASSUMPTION_COLUMNS

        names = set(INFERENCE_FIELDS)
        assert names <= {f.name for f in fields(CostScenario)}
        assert names <= {f.name for f in fields(InferenceCost)}
        assert names <= set(ASSUMPTION_COLUMNS)

    def test_every_builder_field_can_be_set_for_a_batch_and_given_to_calc(self):
        from mlprod.cli.parser import build_parser
        from mlprod.costs.modes import INFERENCE_FIELDS
        from mlprod.ingest.defaults import SETTABLE

        assert set(INFERENCE_FIELDS) <= set(SETTABLE)
        calc = build_parser()._subparsers._group_actions[0].choices["calc"]
        flags = {flag for action in calc._actions for flag in action.option_strings}
        assert {"--" + name.replace("_", "-") for name in INFERENCE_FIELDS} <= flags

    def test_both_pages_offer_every_mode_by_its_one_label(self):
        from mlprod.costs.modes import INFERENCE_MODES
        from mlprod.ui.cost_inputs import INFER_MODES
        from mlprod.ui.scenario_inputs import INFERENCE_FROM

        labels = [mode.label for mode in INFERENCE_MODES]
        assert INFER_MODES[1:] == tuple(labels) and INFERENCE_FROM[2:] == tuple(labels)
