"""Seed noise: a lead inside the run-to-run spread is no winner; groups on the pages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from hypothesis import given, settings
from hypothesis import strategies as st_h

from mlprod.charts import comparison_card
from mlprod.comparison.break_even import break_even
from mlprod.comparison.compare import Run, compare
from mlprod.comparison.noise import Noise, lead_interval, spread_table
from mlprod.comparison.sides import side_run
from mlprod.store import HistoryFilter, Store
from tests.conftest import text


def group(name, f1, cost, hours=1.0, latency=10.0):
    """A group of runs whose inputs are the arrays given (one value per seed)."""
    f1, cost = np.asarray(f1, float), np.asarray(cost, float)
    frame = pd.DataFrame({"f1": f1, "cer": f1 / cost, "ter": f1 / hours, "psr": f1 / latency})
    return frame, Noise.of(name, frame, mean=True)


def mean_run(name, frame, noise, cost, hours=1.0, latency=10.0):
    return Run(float(frame.f1.mean()), float(np.mean(cost)), 0.0, hours, latency, name=name,
               noise=noise)  # fmt: skip


SEEDS_A = [0.80, 0.84, 0.76, 0.82, 0.78]
COST_A = [100, 85, 120, 95, 110]  # ±20% from seed to seed


class TestLeadInterval:
    def test_a_lead_inside_the_spread_is_within_it(self):
        a = Noise("a", {"cer": (1.0, 1.2, 0.8, 1.1, 0.9)}, draws=1)
        low, high = lead_interval(1.0, 1.05, a, None, "cer")
        assert low < 0 < high

    def test_a_lead_far_outside_the_spread_is_real(self):
        a = Noise("a", {"cer": (1.0, 1.02, 0.98, 1.01, 0.99)}, draws=1)
        low, high = lead_interval(1.0, 1.5, a, None, "cer")
        assert low > 0 and high == pytest.approx(np.log(1.5), abs=0.05)

    def test_the_mean_of_many_runs_is_steadier_than_one_run(self):
        values = tuple(np.random.default_rng(1).normal(1.0, 0.1, 25).clip(0.5))
        one = lead_interval(1.0, 1.0, Noise("g", {"cer": values}, draws=1), None, "cer")
        mean = lead_interval(1.0, 1.0, Noise("g", {"cer": values}, draws=25), None, "cer")
        assert (mean[1] - mean[0]) < (one[1] - one[0]) / 3  # ~1/sqrt(25) as wide

    def test_no_spread_known_is_no_answer(self):
        assert lead_interval(1.0, 2.0, None, None, "cer") is None
        assert Noise.of("g", pd.DataFrame({"f1": [0.9], "cer": [1], "ter": [1], "psr": [1]}),
                        mean=True) is None  # fmt: skip

    def test_the_same_question_gets_the_same_answer(self):
        a = Noise("a", {"cer": (1.0, 1.2, 0.8)})
        assert lead_interval(1.0, 1.1, a, a, "cer") == lead_interval(1.0, 1.1, a, a, "cer")


class TestVerdict:
    def test_overlapping_groups_are_within_run_to_run_spread(self):
        fa, na = group("sweep-a", SEEDS_A, COST_A)
        seeds_b = [f + 0.02 for f in SEEDS_A]  # +0.02 F1: less than the seeds' spread
        fb, nb = group("sweep-b", seeds_b, COST_A)
        c = compare(mean_run("A", fa, na, COST_A), mean_run("B", fb, nb, COST_A))
        assert c.recommended == "tie" and c.within_noise
        assert c.verdict.startswith("Within run-to-run spread — not a real difference")
        assert all(r.winner == "tie" for r in c.ratios.values())
        assert any(
            "F1 gap of 0.02 (B ahead) is within run-to-run spread" in k for k in c.key_numbers
        )

    def test_a_clear_lead_still_names_the_winner(self):
        fa, na = group("sweep-a", SEEDS_A, COST_A)
        cheap = [c / 4 for c in COST_A]  # a quarter of the cost, same F1s: 4x the CER
        fb, nb = group("sweep-b", SEEDS_A, cheap, hours=0.25, latency=2.5)
        c = compare(mean_run("A", fa, na, COST_A),
                    mean_run("B", fb, nb, cheap, hours=0.25, latency=2.5))  # fmt: skip
        assert c.recommended == "B" and not c.within_noise
        assert c.ratios["cer"].winner == "B" and not c.ratios["cer"].within_noise
        assert c.verdict.startswith("Choose B")

    def test_without_groups_the_verdict_is_as_before(self):
        a, b = Run(0.80, 100, 0, 1, 10, name="a"), Run(0.84, 100, 0, 1, 10, name="b")
        c = compare(a, b)
        assert c.interval is None and not c.within_noise and c.recommended == "B"

    def test_spread_table_gives_n_mean_min_max_and_interval(self):
        _, na = group("sweep-a", SEEDS_A, COST_A)
        table = spread_table({"A": na, "B": None}).set_index("measure")
        assert table.loc["F1", "runs"] == 5
        assert table.loc["F1", "mean"] == pytest.approx(0.80)
        assert (table.loc["F1", "min"], table.loc["F1", "max"]) == (0.76, 0.84)
        assert 0.76 < table.loc["F1", "mean 90% low"] < 0.80 < table.loc["F1", "mean 90% high"]


def seed_groups(db_path):
    """Two seed sweeps (tag group=...) whose F1s overlap, and a much cheaper model."""
    rows = []
    for sweep, shift in (("sweep-a", 0.0), ("sweep-b", 0.02)):
        for i, (f1, cost) in enumerate(zip(SEEDS_A, COST_A, strict=True)):
            rows.append({"model_name": "bert", "project": "p", "tags": f"seed={i}, group={sweep}",
                         "f1": f1 + shift, "training_cost": float(cost)})  # fmt: skip
    for i, f1 in enumerate(SEEDS_A):
        rows.append({"model_name": "tiny", "project": "p", "tags": "group=tiny", "f1": f1,
                     "training_cost": 5.0 + i})  # fmt: skip
    for f1 in (0.60, 0.84):  # two different models under one name: no group
        rows.append({"model_name": "lookalike", "project": "p", "tags": None, "f1": f1,
                     "training_cost": 100.0})  # fmt: skip
    frame = pd.DataFrame(rows).assign(
        inference_cost=0.0, training_hours=1.0, latency_ms=10.0,
        created_at=pd.date_range("2026-03-01", periods=len(rows), freq="h"),
    )  # fmt: skip
    frame = frame.assign(cer=frame.f1 / frame.training_cost, ter=frame.f1, psr=frame.f1 / 10)
    with Store(db_path) as s:
        s.append_calculations(frame, source="batch")


class TestStoreGroups:
    def test_groups_are_runs_tagged_so_and_never_a_models_runs_by_name(self, db_path):
        seed_groups(db_path)
        with Store(db_path) as s:
            groups = dict(zip(*s.run_groups().T.values[:2], strict=True))
            assert groups == {"group=sweep-a": 5, "group=sweep-b": 5, "group=tiny": 5}
            assert s.spread_per_group(HistoryFilter(models=("lookalike",))).empty
            lookalike = s.calculations_by_id(list(range(1_000_000_000, 1_000_000_017)))
            ids = lookalike[lookalike["model_name"] == "lookalike"]["id"]
            assert len(ids) == 2 and {s.group_of(int(i)) for i in ids} == {None}
            assert s.group_runs("lookalike · p").empty
            spread = s.spread_per_group(HistoryFilter(models=("tiny",))).iloc[0]
            assert spread.run_group == "group=tiny" and spread.runs == 5
            assert (spread.f1_min, spread.f1_max) == (0.76, 0.84)
            one = int(s.group_runs("group=sweep-b")["id"].iloc[0])
            assert s.group_of(one) == "group=sweep-b"

    def test_a_history_run_carries_its_groups_spread(self, db_path):
        seed_groups(db_path)
        with Store(db_path) as s:
            one = int(s.group_runs("group=tiny")["id"].iloc[0])
            rows = s.calculations_by_id([one]).set_index("id")
            run = side_run(one, s, rows, noise=True)
            assert run.noise.runs == 5 and run.noise.draws == 1
            assert side_run(one, s, rows, noise=False).noise is None


class TestComparePage:
    def open(self, app, **params):
        app.run()
        for key, value in params.items():
            app.query_params[key] = value
        app.switch_page("pages/compare.py").run()
        assert not app.exception
        return app

    def test_two_overlapping_seed_sweeps_are_no_winner(self, app, db_path):
        seed_groups(db_path)
        self.open(app, a="group:group=sweep-a", b="group:group=sweep-b")
        assert app.radio(key="compare-a-source").value == "Group of runs"
        verdict = text(app.info[0].value)
        assert verdict.startswith("Within run-to-run spread — not a real difference")
        assert "group=sweep-a (mean of 5): the mean of its runs" in verdict
        table = app.dataframe[0].value.set_index("measure")
        assert table.loc["CER", "winner"] == "within run-to-run spread"
        assert "b=group%3Agroup%3Dsweep-b" in app.code[-1].value  # the link keeps the groups
        spread = next(d.value for d in app.dataframe if "mean 90% low" in d.value.columns)
        assert set(spread["group"]) == {"group=sweep-a", "group=sweep-b"}
        captions = " ".join(c.value for c in app.caption)
        assert "No break-even traffic: neither side's cost follows traffic" in captions

    def test_switching_the_spread_off_names_a_winner_again(self, app, db_path):
        seed_groups(db_path)
        self.open(app, a="group:group=sweep-a", b="group:group=sweep-b")
        app.toggle(key="compare-noise").set_value(False).run()
        assert text(app.success[0].value).startswith("Choose B")

    def test_a_group_against_a_much_cheaper_one_names_it(self, app, db_path):
        seed_groups(db_path)
        self.open(app, a="group:group=sweep-a", b="group:group=tiny")
        assert text(app.success[0].value).startswith("Choose B, group=tiny (mean of 5)")

    def test_a_rerun_does_not_read_a_sides_group_again(self, app, db_path, monkeypatch):
        """Both sides' groups are read once (each ~50-80 ms at 1M runs), not on every
        rerun, and read again after a write."""
        seed_groups(db_path)
        asked: list[str] = []
        real = Store.group_runs

        def group_runs(self, group, **kwargs):
            asked.append(group)
            return real(self, group, **kwargs)

        monkeypatch.setattr(Store, "group_runs", group_runs)
        self.open(app, a="group:group=sweep-a", b="group:group=sweep-b")
        assert sorted(set(asked)) == ["group=sweep-a", "group=sweep-b"]
        asked.clear()
        app.toggle(key="compare-noise").set_value(False).run()
        app.toggle(key="compare-noise").set_value(True).run()
        assert asked == [] and text(app.info[0].value).startswith("Within run-to-run spread")
        st.cache_data.clear()  # what ui.written() does after any save or delete
        app.run()
        assert sorted(set(asked)) == ["group=sweep-a", "group=sweep-b"]


def test_compare_page_shows_break_even_traffic_and_puts_it_on_the_card(app, db_path):
    from tests.conftest import save_reviewer_runs

    ids = save_reviewer_runs(db_path)
    app.run()
    app.query_params["a"], app.query_params["b"] = (
        str(ids["70B via API"]),
        str(ids["fine-tuned 7B"]),
    )
    app.switch_page("pages/compare.py").run()
    assert not app.exception
    assert [h.value for h in app.subheader] == ["Why", "Break-even traffic"]
    lines = [text(m.value) for m in app.markdown]
    assert any(line.startswith("- Total cost is equal at 3.189M requests/month") for line in lines)
    specs = [json.loads(c.proto.spec) for c in app.get("vega_lite_chart")]
    titles = [json.dumps(spec.get("title", "")) for spec in specs]
    assert any("total cost vs traffic" in t for t in titles)
    assert not any("vconcat" in spec for spec in specs)  # the card's preview is closed
    assert not app.get("image")  # the card's preview is closed: not built
    app.session_state["compare-card-open"] = True
    app.run()
    assert not app.exception and len(app.get("image")) == 1  # the PNG as exported
    # What the card holds: the three panels, the break-even line among its details.
    with Store(db_path) as s:
        a, b = (side_run(ids[name], s, noise=True) for name in ("70B via API", "fine-tuned 7B"))
    card = comparison_card(compare(a, b), [], even=break_even(a, b)).to_dict()
    assert len(card["vconcat"][2]["hconcat"]) == 3  # ratios, inputs, total cost vs traffic
    assert "Total cost is equal at 3.189M" in json.dumps(card["datasets"])  # the details
    app.number_input(key="compare-traffic").set_value(4_000_000.0).run()
    assert any("Today: 4M requests/month" in text(m.value) for m in app.markdown)
    assert app.query_params["t"] == "4000000"  # the link keeps the traffic


def test_history_shows_the_spread_of_each_group(app, db_path):
    seed_groups(db_path)
    app.run()
    app.switch_page("pages/history.py").run()
    assert not app.exception
    # Closed, its query is not run (a filter does not pay for it); opened, it shows.
    assert not [d for d in app.dataframe if "F1 spread (±%)" in d.value.columns]
    app.session_state["history-spread-open"] = True
    app.run()
    spread = next(d.value for d in app.dataframe if "F1 spread (±%)" in d.value.columns)
    spread = spread.set_index("Group")
    assert list(spread["Runs"]) == [5, 5, 5]  # the two lookalike runs are in no group
    assert spread.loc["group=tiny", "F1 min"] == 0.76
    assert spread.loc["group=tiny", "F1 max"] == 0.84
    assert spread.loc["group=tiny", "F1 spread (±%)"] == pytest.approx(5.0)


class TestCompareCommand:
    def test_two_seed_sweeps_from_the_command_line(self, db_path, capsys):
        from mlprod.cli import main

        seed_groups(db_path)
        code = main(["compare", "group:group=sweep-a", "group:group=sweep-b", "--db",
                     str(db_path), "--json"])  # fmt: skip
        out = json.loads(capsys.readouterr().out)
        assert code == 0 and out["recommended"] == "tie" and out["within_noise"]
        assert out["ratios"]["cer"]["winner"] == "tie" and out["break_even"] is None
        code = main(["compare", "group:group=sweep-a", "group:group=sweep-b", "--db",
                     str(db_path), "--no-noise", "--json"])  # fmt: skip
        assert json.loads(capsys.readouterr().out)["recommended"] == "B"

    def test_break_even_from_the_command_line(self, db_path, capsys):
        from mlprod.cli import main
        from tests.conftest import save_reviewer_runs

        ids = save_reviewer_runs(db_path)
        args = [str(ids["70B via API"]), str(ids["fine-tuned 7B"]), "--db", str(db_path)]
        assert main(["compare", *args]) == 0
        out = capsys.readouterr().out
        assert "Total cost is equal at 3.189M requests/month" in out
        assert main(["compare", *args, "--traffic", "4000000", "--json"]) == 0
        even = json.loads(capsys.readouterr().out)["break_even"]
        assert even["traffic_now"] == 4e6 and even["cheaper_now"] == "B"
        assert even["equal_total_cost_at"] == [pytest.approx(3.189e6, rel=1e-3)]

    def test_two_runs_of_one_model_are_told_apart_by_their_run_names(
        self, db_path, capsys, tmp_path
    ):
        from mlprod.cli import main
        from mlprod.store import Store

        path = tmp_path / "sweep.csv"
        path.write_text(
            "model,run_name,run_id,f1,training_cost,inference_cost,training_hours,latency_ms\n"
            "bert,lr-3e-5,r1,0.91,100,10,2,20\n"
            "bert,,r2,0.88,60,10,1,20\n"
        )
        assert main(["score", str(path), "--save", "--db", str(db_path), "-o", "-"]) == 0
        with Store(db_path) as store:
            ids = dict(zip(store.search("")["run_id"], store.search("")["id"], strict=True))
        capsys.readouterr()
        args = [str(ids["r1"]), str(ids["r2"]), "--db", str(db_path), "--no-noise"]
        assert main(["compare", *args, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert (out["a"], out["b"]) == ("bert · lr-3e-5", "bert · r2")
        assert "bert · lr-3e-5" in out["verdict"] or "bert · r2" in out["verdict"]
        review = tmp_path / "review.html"
        assert main(["report", *args, "-o", str(review)]) == 0
        assert "bert · lr-3e-5 vs bert · r2" in review.read_text()

    def test_an_unknown_side_is_a_clear_error(self, db_path, capsys):
        from mlprod.cli import main

        assert main(["compare", "42", "a~b", "--db", str(db_path)]) == 2
        assert "Cannot read the run 'a~b'" in capsys.readouterr().err
        assert main(["compare", "42", "group:none", "--db", str(db_path)]) == 2
        assert "There is no run 42 in the history" in capsys.readouterr().err


def test_a_large_groups_interval_matches_the_exact_bootstrap():
    """Past EXACT_DRAWS runs the mean's spread comes from its normal limit: it agrees with
    resampling run by run."""
    from mlprod.comparison import noise as module

    values = np.random.default_rng(3).lognormal(0, 0.3, 400)
    rng = np.random.default_rng(5)
    exact = values[rng.integers(0, 400, size=(4000, 400))].mean(axis=1)
    fast = module._means(values, 400, np.random.default_rng(5))
    assert np.percentile(fast, [5, 95]) == pytest.approx(np.percentile(exact, [5, 95]), rel=0.01)


def test_a_groups_runs_are_every_live_run_of_that_group_and_no_other(store):
    """Compare narrows a group's rows with a plain condition before the group's own
    expression (a 10M-run history took seconds per rerun): tags that look alike or hold
    LIKE's wildcards still get exactly their own runs; untagged runs are in no group."""
    models = ["bert", "bert · v2", None, "(no model)", "bert", "bert"]
    projects = ["nlp", "x", "nlp", "nlp", None, "nlp"]
    tags = [
        None,
        "group=a · b",
        None,
        "x, group=sweep_1",
        "group=sweep_1%, seed=3",
        "group=sweepX1",
    ]
    frame = pd.DataFrame({
        "model_name": models * 2, "project": projects * 2, "tags": tags * 2,
        "f1": np.linspace(0.7, 0.9, 12), "training_cost": 100.0, "inference_cost": 10.0,
        "training_hours": 2.0, "latency_ms": 20.0,
    })  # fmt: skip
    frame["cer"] = frame.f1 / 110.0
    frame["ter"] = frame.f1 / 2.0
    frame["psr"] = frame.f1 / 20.0
    store.append_calculations(frame, source="cli")
    with store.cursor() as cur:
        ids = [int(r[0]) for r in cur.execute("SELECT id FROM calculations").fetchall()]
    expected: dict[str, set[int]] = {}
    for calculation_id in ids:
        expected.setdefault(store.group_of(calculation_id), set()).add(calculation_id)
    assert set(expected) == {None, "group=a · b", "group=sweep_1", "group=sweep_1%",
                             "group=sweepX1"}  # fmt: skip
    assert len(expected[None]) == 4
    for group, members in expected.items():
        if group is not None:
            assert set(store.group_runs(group)["id"]) == members, group
    assert store.group_runs("bert · nlp").empty


def test_runs_that_repeat_one_training_are_tagged_as_its_group_and_no_others(tmp_path):
    """Evidence only: the children of one MLflow parent run; runs that differ only in a
    seed parameter. Another learning rate, or no seed at all, is no repeat."""
    from mlprod.ingest import inspect, score_file

    path = tmp_path / "runs.csv"
    head = ("run_id,params.model,params.lr,params.seed,tags.mlflow.parentRunId,tags,"
            "metrics.f1,training_cost,inference_cost,training_hours,latency_ms")  # fmt: skip
    rows = [
        "s1,bert,0.1,1,,,0.80,100,0,1,10",
        "s2,bert,0.1,2,,,0.82,100,0,1,10",
        "s3,bert,0.1,3,,team-a,0.81,100,0,1,10",
        "s4,bert,0.2,1,,,0.70,100,0,1,10",  # another learning rate: another training
        "s5,bert,0.1,,,,0.60,100,0,1,10",  # no seed: no evidence
        "c1,tiny,0.3,,P123,,0.50,10,0,1,10",  # children of one parent run
        "c2,tiny,0.4,,P123,,0.52,10,0,1,10",
        "m1,bert,0.1,4,,group=mine,0.83,100,0,1,10",  # a group of its own wins
    ]
    path.write_text("\n".join([head, *rows]) + "\n")
    scored = score_file(inspect(path)).table.to_pydict()
    tags = dict(zip(scored["run_id"], scored["tags"], strict=True))
    seeds = tags["s1"]
    assert seeds.startswith("group=seeds-") and tags["s2"] == seeds
    assert tags["s3"] == f"team-a, {seeds}"
    assert tags["s4"].startswith("group=seeds-") and tags["s4"] != seeds
    assert tags["s5"] is None
    assert tags["c1"] == tags["c2"] == "group=P123"
    assert tags["m1"] == "group=mine"


def test_two_different_models_without_repeats_get_a_verdict_on_the_numbers(app, db_path):
    """Two runs of one model name 0.24 F1 apart, with no evidence they repeat one training:
    no claim of run-to-run spread (it once said "within run-to-run spread")."""
    seed_groups(db_path)
    with Store(db_path) as s:
        ids = s.calculations_by_id(list(range(1_000_000_000, 1_000_000_017)))
    a, b = ids[ids["model_name"] == "lookalike"].sort_values("f1")["id"].tolist()
    app.run()
    app.query_params["a"], app.query_params["b"] = str(a), str(b)
    app.switch_page("pages/compare.py").run()
    assert not app.exception
    verdict = text(app.success[0].value)
    assert verdict.startswith("Choose B") and "spread" not in verdict
    captions = " ".join(c.value for c in app.caption)
    assert "No repeated runs: run-to-run spread unknown" in captions


@settings(max_examples=60, deadline=None)
@given(
    st_h.lists(st_h.floats(0.05, 0.99), min_size=2, max_size=8),
    st_h.lists(st_h.floats(0.05, 0.99), min_size=2, max_size=8),
)
def test_every_f1_sentence_agrees_with_its_interval_over_random_groups(f1s_a, f1s_b):
    """Random seed groups: the F1 gap is "larger than run-to-run spread" exactly when the
    interval of B − A over other seeds holds no zero."""
    frames = [
        pd.DataFrame({"f1": f1s, "cer": f1s, "ter": f1s, "psr": f1s}) for f1s in (f1s_a, f1s_b)
    ]
    a, b = (
        Run(
            f[["f1"]].mean().iloc[0],
            1.0,
            0.0,
            1.0,
            1.0,
            name=name,
            noise=Noise.of(f"group={name}", f, mean=True),
        )
        for f, name in zip(frames, ("a", "b"), strict=True)
    )
    c = compare(a, b)
    gap = [line for line in c.key_numbers if line.startswith("The F1 gap")]
    if c.f1_interval is None or not round(a.f1 - b.f1, 9):
        assert not gap
        return
    low, high = c.f1_interval
    (sentence,) = gap
    assert ("larger than run-to-run spread" in sentence) == (not low <= 0 <= high)
    assert ("within run-to-run spread" in sentence) == (low <= 0 <= high)
