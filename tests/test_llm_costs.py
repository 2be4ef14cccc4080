"""The LLM price book and self-hosted serving: the two inference costs of the LLM era."""

from __future__ import annotations

import csv
import json
import math
import re

import pytest

from mlprod import config
from mlprod.cli import main
from mlprod.costs.fx import default_fx
from mlprod.costs.gpus import default_prices
from mlprod.costs.inference import inference_from_serving, inference_from_tokens, replicas_for
from mlprod.costs.llm import LlmPriceBook
from mlprod.costs.scenario import CostScenario, build_costs
from mlprod.errors import CostTableError, InvalidInput
from tests.conftest import batch_page_with_runs


def read_table(db, table):
    """A table of the history file as a user's SQL client sees it."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(f"SELECT * FROM {table} ORDER BY 1").df()


def saved(db):
    """What the history holds, with each run's cost assumptions (the app has it open)."""
    from mlprod.store import Store
    from tests.conftest import recent

    with Store(db) as store:
        return recent(store)


HEADER = ",".join(LlmPriceBook.COLUMNS) + "\n"


def book(tmp_path, *rows):
    path = tmp_path / "llm.csv"
    path.write_text(HEADER + "".join(f"{r}\n" for r in rows))
    return path


class TestPriceBook:
    def test_shipped_book_is_dated_sourced_and_sane(self):
        shipped = LlmPriceBook.load(config.PROJECT_DIR / "data" / "llm_prices.csv")
        assert len(shipped.prices) >= 6
        for price in shipped.prices:
            assert price.as_of.year >= 2026 and price.source
            assert 0 < price.input_per_1m <= price.output_per_1m * 5
        assert {"gpt-4.1-mini", "llama-3.3-70b-instruct"} <= set(shipped.models())

    @pytest.mark.parametrize(
        ("row", "named"),
        [
            ("OpenAI,m,abc,1,,,2026-10-01,s", "llm.csv line 2: input price 'abc' is not a number"),
            ("OpenAI,m,1,0,,,2026-10-01,s", "llm.csv line 2: output price must be above 0"),
            ("OpenAI,m,1,2,3,,2026-10-01,s", "line 2: the cached-input price is above the input"),
            ("OpenAI,m,1,2,,1.5,2026-10-01,s", "line 2: batch_discount is a share"),
            ("OpenAI,m,1,2,,,01/10/2026,s", "line 2: as_of '01/10/2026' is not a date"),
            (",m,1,2,,,2026-10-01,s", "line 2: provider and model are required"),
        ],
    )
    def test_a_bad_row_is_named(self, tmp_path, row, named):
        with pytest.raises(CostTableError, match=named.replace("(", r"\(")):
            LlmPriceBook.load(book(tmp_path, row))

    def test_a_model_listed_twice_at_one_provider_is_named(self, tmp_path):
        path = book(tmp_path, "A,m,1,2,,,2026-10-01,s", "a,M ,1,3,,,2026-10-01,s")
        with pytest.raises(CostTableError, match="line 3: a M is listed twice"):
            LlmPriceBook.load(path)

    def test_missing_column_is_named(self, tmp_path):
        path = tmp_path / "llm.csv"
        path.write_text("provider,model,input_usd_per_1m\nA,m,1\n")
        with pytest.raises(CostTableError, match=r"missing column.*output_usd_per_1m"):
            LlmPriceBook.load(path)

    def test_unknown_model_names_the_closest(self):
        with pytest.raises(InvalidInput, match=r"closest: gpt-4\.1-mini"):
            LlmPriceBook.load().price("gpt-4.1-mni")

    def test_cheapest_provider_unless_one_is_named(self, tmp_path):
        two = LlmPriceBook.load(
            book(tmp_path, "A,m,1,2,,,2026-10-01,s", "B,m,0.5,2,,,2026-10-01,s")
        )
        assert two.price("m").provider == "B"
        assert two.price("m", "a").provider == "A"

    def test_a_bad_book_is_named_on_every_page(self, tmp_path, monkeypatch, app):
        monkeypatch.setenv("MLPROD_LLM_PRICES", str(book(tmp_path, "A,m,-1,2,,,2026-10-01,s")))
        at = app.run()
        assert not at.exception
        shown = [e.value.replace("\\", "") for e in at.error]  # as the page escapes markdown
        assert any("llm.csv line 2: input price must be above 0" in text for text in shown)


class TestTokensFromThePriceBook:
    def test_prices_come_from_the_book(self):
        listed = LlmPriceBook.load().price("gpt-4.1-mini")
        cost = inference_from_tokens(100e6, 20e6, llm_model="GPT-4.1-mini", months=3)
        hand = (100 * listed.input_per_1m + 20 * listed.output_per_1m) * 3
        assert cost.total == pytest.approx(hand)
        assert cost.assumptions()["llm_model"] == "gpt-4.1-mini"
        assert cost.assumptions()["llm_prices_as_of"] == listed.as_of
        assert "(gpt-4.1-mini, OpenAI, 2026-10-01)" in cost.formula()

    def test_a_typed_price_wins_and_currency_converts(self):
        rate = default_fx().rate("EUR")
        listed = LlmPriceBook.load().price("gpt-4.1-mini")
        cost = inference_from_tokens(
            10e6, 10e6, None, 9.0, llm_model="gpt-4.1-mini", currency="EUR"
        )
        assert cost.price_out_per_1m == 9.0
        assert cost.total == pytest.approx(10 * listed.input_per_1m * rate + 10 * 9.0)


class TestTheBookInFull:
    """Cached input tokens and batch pricing: stored and checked, and applied."""

    @pytest.mark.parametrize("model", ["gpt-4.1-mini", "claude-sonnet-4"])
    def test_a_cached_share_and_a_batch_share_are_priced_as_the_book_says(self, model):
        listed = LlmPriceBook.load().price(model)
        cost = inference_from_tokens(
            100e6, 20e6, llm_model=model, months=2, cached_input_share=0.6, batch_share=0.25
        )
        hand = (
            (100 * (0.4 * listed.input_per_1m + 0.6 * listed.cached_input_per_1m)
             + 20 * listed.output_per_1m) * 2 * (1 - 0.25 * listed.batch_discount)
        )  # fmt: skip
        assert cost.total == pytest.approx(hand)
        plain = inference_from_tokens(100e6, 20e6, llm_model=model, months=2).total
        assert cost.total < plain
        assumed = cost.assumptions()
        assert (assumed["cached_input_share"], assumed["batch_share"]) == (0.6, 0.25)
        assert assumed["llm_batch_discount"] == listed.batch_discount
        assert "cached × 60%" in cost.formula() and "× 25% of tokens" in cost.formula()

    @pytest.mark.parametrize(
        ("kwargs", "field", "words"),
        [
            ({"cached_input_share": 1.5}, "cached_input_share", "share from 0 to 1"),
            ({"batch_share": -0.1}, "batch_share", "at least 0"),
            ({"batch_share": 0.5, "llm_model": None}, "batch_share", "choose an API model"),
            ({"cached_input_share": 0.5, "llm_model": None}, "price_cached_per_1m", "cached"),
        ],
    )
    def test_shares_that_cannot_be_priced_name_their_field(self, kwargs, field, words):
        args = {"llm_model": "gpt-4.1-mini", **kwargs}
        prices = (None, None) if args["llm_model"] else (0.5, 1.5)
        with pytest.raises(InvalidInput, match=words) as caught:
            inference_from_tokens(10e6, 1e6, *prices, **args)
        assert caught.value.field == field

    def test_calc_the_batch_scenario_and_the_calculator_apply_them(self, tmp_path, capsys, app):
        code = main(["calc", "--f1", "0.9", "--training-cost", "0", "--training-hours", "1",
                     "--latency-ms", "800", "--llm-model", "gpt-4.1-mini",
                     "--tokens-in-per-month", "10000000", "--tokens-out-per-month", "2000000",
                     "--cached-input-share", "0.5", "--batch-share", "0.4", "--json"])  # fmt: skip
        assert code == 0
        assert json.loads(capsys.readouterr().out)["inference_cost"] == pytest.approx(4.56)
        runs = tmp_path / "runs.csv"
        runs.write_text("run_id,f1,training_cost,training_hours,latency_ms\nr1,0.8,100,2,30\n")
        db = tmp_path / "h.duckdb"
        code = main(["score", str(runs), "-o", str(tmp_path / "out.csv"), "--save", "--db",
                     str(db), "--set", "llm_model=gpt-4.1-mini", "--set",
                     "tokens_in_per_month=10000000", "--set", "tokens_out_per_month=2000000",
                     "--set", "cached_input_share=0.5", "--set", "batch_share=0.4"])  # fmt: skip
        assert code == 0, capsys.readouterr()
        assert list(read_table(db, "calculations")["inference_cost"]) == [pytest.approx(4.56)]
        assumed = read_table(db, "cost_assumptions")
        assert list(assumed["cached_input_share"]) == [0.5]
        assert list(assumed["llm_batch_discount"]) == [0.5]
        app.run()
        app.radio(key="calc-infer-mode").set_value("From tokens").run()
        app.selectbox(key="calc-llm-model").set_value("gpt-4.1-mini")
        app.number_input(key="calc-cached-share").set_value(0.5)
        app.number_input(key="calc-batch-share").set_value(0.4)
        app.button(key="calc-submit").click().run()
        assert not app.exception
        code_text = app.code[0].value  # 50M in × (0.4 × 50% + 0.1 × 50%) + 10M × 1.6 = 28.5
        assert "cached × 50%" in code_text and "= $22.80" in code_text  # × (1 − 50% × 40%)


class TestServingCost:
    def test_formula_against_hand_computed_values(self):
        price = default_prices().price("L4", provider="GCP").on_demand
        cost = inference_from_serving("L4", 2, 3, hours_per_month=730, months=2, provider="GCP")
        assert cost.total == pytest.approx(2 * 3 * 730 * 2 * price)
        assert cost.formula().startswith(
            "Inference cost = 2 L4 GPUs × 3 replicas × 730 h/month × 2 months × $0.71/GPU-h "
            "(GCP on-demand, 2026-10-01)"
        )

    def test_cheapest_on_demand_by_default_spot_and_own_price(self):
        cheapest = default_prices().price("L4")
        assert inference_from_serving("L4", 1).total == pytest.approx(730 * cheapest.on_demand)
        spot = default_prices().price("L4", spot=True).spot
        assert inference_from_serving("L4", 1, spot=True).total == pytest.approx(730 * spot)
        own = inference_from_serving("L4", 4, 2, hours_per_month=200, price_override=1.25)
        assert own.total == 4 * 2 * 200 * 1.25 and own.serving_price_kind == "override"

    def test_replicas_follow_from_traffic(self):
        capacity = 5 * 3600 * 730  # 13,140,000 requests a month per replica
        assert replicas_for(capacity, 5, 730) == 1
        assert replicas_for(capacity + 1, 5, 730) == 2
        assert replicas_for(0, 5, 730) == 1  # a replica serves even without traffic
        cost = inference_from_serving("L4", 1, hours_per_month=730, requests_per_month=3e7,
                                      requests_per_s_per_replica=5, price_override=1.0)  # fmt: skip
        assert cost.replicas == math.ceil(3e7 / capacity) == 3
        assert cost.total == 3 * 730
        assert "replicas = ⌈30,000,000 requests/month" in cost.formula()

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"hours_per_month": 800}, "hours_per_month"),
            ({"replicas": 0}, "replicas"),
            ({"requests_per_s_per_replica": 5}, "requests_per_month"),
            ({"gpu_model": "Z9000"}, "gpu_model"),
        ],
    )
    def test_impossible_inputs_name_their_field(self, kwargs, field):
        args = {"gpu_model": "L4", "gpus_per_replica": 1} | kwargs
        with pytest.raises(InvalidInput) as caught:
            inference_from_serving(**args)
        assert caught.value.field == field

    def test_the_scenario_builds_it_and_keeps_the_assumptions(self):
        built = build_costs(
            CostScenario(training_cost=500, serving_gpu="Tesla T4", serving_gpus=1, replicas=2,
                         serving_price_per_gpu_hour=0.5, months=12),
            training_hours=3,
        )  # fmt: skip
        assert built.inference_cost == 1 * 2 * 730 * 12 * 0.5
        assert built.assumptions["serving_gpu"] == "T4"  # the alias is the table's name
        assert built.assumptions["inference_mode"] == "serving"


class TestCommandLine:
    def test_calc_with_serving_gpus_prints_the_formula_and_saves_it(self, tmp_path, capsys):
        db = tmp_path / "h.duckdb"
        code = main(["calc", "--f1", "0.9", "--training-cost", "1000", "--training-hours", "10",
                     "--latency-ms", "50", "--serving-gpu", "L4", "--serving-gpus", "2",
                     "--replicas", "1", "--hours-per-month", "730", "--months", "1",
                     "--serving-price-per-gpu-hour", "0.8", "--save", "--db", str(db)])  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0
        assert "Inference cost = 2 L4 GPUs × 1 replica × 730 h/month × 1 month" in out
        assert "= $1,168" in out  # 2 × 730 × $0.80
        stored = read_table(db, "cost_assumptions")
        assert stored.loc[0, "serving_gpu"] == "L4" and stored.loc[0, "replicas"] == 1
        assert stored.loc[0, "inference_mode"] == "serving"

    def test_calc_with_an_llm_from_the_price_book(self, capsys):
        code = main(["calc", "--f1", "0.9", "--training-cost", "0", "--training-hours", "1",
                     "--latency-ms", "800", "--llm-model", "gpt-4.1-mini",
                     "--tokens-in-per-month", "10000000", "--tokens-out-per-month", "2000000",
                     "--json"])  # fmt: skip
        assert code == 0
        assert json.loads(capsys.readouterr().out)["inference_cost"] == pytest.approx(7.2)

    def test_an_unknown_llm_is_a_clear_error(self, capsys):
        code = main(["calc", "--f1", "0.9", "--training-cost", "0", "--training-hours", "1",
                     "--latency-ms", "800", "--llm-model", "gpt-9", "--tokens-in", "1",
                     "--tokens-out", "1"])  # fmt: skip
        assert code == 2
        assert "LLM 'gpt-9' is not in the price book" in capsys.readouterr().err

    def test_score_set_takes_the_serving_fields(self, tmp_path, capsys):
        runs = tmp_path / "runs.csv"
        with runs.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["run_id", "f1", "training_cost", "training_hours", "latency_ms"])
            writer.writerows([["r1", 0.8, 100, 2, 30], ["r2", 0.9, 300, 5, 60]])
        db = tmp_path / "h.duckdb"
        code = main(["score", str(runs), "-o", str(tmp_path / "out.csv"), "--save", "--db",
                     str(db), "--set", "serving_gpu=L4", "--set", "serving_gpus=2", "--set",
                     "replicas=3", "--set", "serving_price_per_gpu_hour=1"])  # fmt: skip
        assert code == 0, capsys.readouterr()
        scored = read_table(db, "calculations")
        assert list(scored["inference_cost"]) == [2 * 3 * 730 * 1.0] * 2
        assumed = read_table(db, "cost_assumptions")
        assert set(assumed["serving_gpu"]) == {"L4"} and set(assumed["replicas"]) == {3.0}

    def test_calc_piped_to_head_is_not_an_internal_error(self, tmp_path):
        import subprocess
        import sys

        done = subprocess.run(
            f"{sys.executable} -m mlprod calc --f1 0.9 --training-cost 1000 --inference-cost "
            "200 --training-hours 10 --latency-ms 50 | head -c 5",
            shell=True, capture_output=True, text=True, cwd=config.PROJECT_DIR,
        )  # fmt: skip
        assert done.stdout == "CER  " and "internal error" not in done.stderr


class TestPages:
    def test_calculator_prices_tokens_from_the_price_book(self, app):
        app.run()
        app.radio(key="calc-infer-mode").set_value("From tokens").run()
        app.selectbox(key="calc-llm-model").set_value("gpt-4.1-mini")
        app.button(key="calc-submit").click().run()
        assert not app.exception
        code = app.code[0].value  # 50M in × $0.40 + 10M out × $1.60 = $36
        assert "(gpt-4.1-mini, OpenAI, 2026-10-01) × 1 month = $36" in code
        captions = re.sub(r"\\(.)", r"\1", " ".join(c.value for c in app.caption))  # as shown
        assert "gpt-4.1-mini (OpenAI): US$0.4 in / US$1.6 out per 1M tokens" in captions

    def test_calculator_builds_self_hosted_serving(self, app, db_path):
        app.run()
        app.radio(key="calc-infer-mode").set_value("Self-hosted GPUs").run()
        app.selectbox(key="calc-serving-gpu").set_value("L4")
        app.number_input(key="calc-serving-gpus").set_value(2.0)
        app.number_input(key="calc-serving-price").set_value(1.0)
        app.number_input(key="calc-months").set_value(3.0)
        app.button(key="calc-submit").click().run()
        assert not app.exception
        assert (
            "2 L4 GPUs × 1 replica × 730 h/month × 3 months × $1/GPU-h (your price) = $4,380"
            in (app.code[0].value)
        )
        app.button(key="calc-save").click().run()
        stored = saved(db_path)
        assert stored.loc[0, "serving_gpu"] == "L4" and stored.loc[0, "inference_mode"] == "serving"

    def test_batch_scenario_serves_every_run_from_gpus(self, app, tmp_path, db_path):
        batch_page_with_runs(app, tmp_path)
        app.radio(key="batch-scenario-inference-from").set_value("Self-hosted GPUs").run()
        app.selectbox(key="batch-scenario-serving_gpu").set_value("T4")
        app.number_input(key="batch-scenario-replicas").set_value(2.0)
        app.number_input(key="batch-scenario-serving_price_per_gpu_hour").set_value(0.5).run()
        app.button(key="batch-score").click().run()
        app.button(key="batch-save").click().run()
        assert not app.exception
        rows = saved(db_path)
        assert set(rows["inference_cost"]) == {1 * 2 * 730 * 0.5}
        assert set(rows["serving_gpu"]) == {"T4"} and set(rows["replicas"]) == {2.0}

    def test_batch_scenario_takes_an_llm_from_the_book(self, app, tmp_path, db_path):
        batch_page_with_runs(app, tmp_path)
        app.radio(key="batch-scenario-inference-from").set_value("From tokens").run()
        app.selectbox(key="batch-scenario-llm_model").set_value("gpt-4.1-mini")
        app.number_input(key="batch-scenario-tokens_in_per_month").set_value(10e6)
        app.number_input(key="batch-scenario-tokens_out_per_month").set_value(2e6).run()
        app.button(key="batch-score").click().run()
        app.button(key="batch-save").click().run()
        assert not app.exception
        rows = saved(db_path)
        assert list(rows["inference_cost"]) == [pytest.approx(7.2)] * len(rows)
        assert set(rows["llm_model"]) == {"gpt-4.1-mini"}
