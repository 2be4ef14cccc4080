"""A team's own pricing: its provider, spot, discount and its own price for GPUs the table
does not list; set once by an admin, overridden per batch and per run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest

import mlprod
from mlprod.access import Person
from mlprod.config import PROJECT_DIR
from mlprod.costs.pricing import Pricing
from mlprod.errors import NotAllowed
from mlprod.ingest import inspect, score_file
from mlprod.store import HistoryFilter, Store
from tests.conftest import batch_page_with_runs, search_runs_frame

# The shipped table, read independently of mlprod: (provider, gpu) -> (on-demand, spot).
with (PROJECT_DIR / "data" / "gpu_prices.csv").open(newline="") as fh:
    LIST = {
        (r["provider"], r["gpu_model"]): (
            float(r["on_demand_usd_per_gpu_hour"]),
            float(r["spot_usd_per_gpu_hour"]) if r["spot_usd_per_gpu_hour"] else None,
        )
        for r in csv.DictReader(fh)
    }

RUNS = [  # gpu as logged, the table's name, GPUs, hours
    ("NVIDIA A100-SXM4-80GB", "A100-80GB", 8, 10.0),
    ("Tesla T4", "T4", 1, 4.0),
    ("H100-80GB", "H100-80GB", 8, 2.5),
]
INFERENCE, LATENCY, F1 = 100.0, 40.0, 0.9


def _file(tmp_path, runs=RUNS, provider_column=None):
    path = tmp_path / "runs.csv"
    header = "run_id,model,f1,gpu,gpus,training_hours,inference_cost,latency_ms"
    rows = [header + (",provider" if provider_column else "")]
    for i, (gpu, _, gpus, hours) in enumerate(runs):
        cell = f",{provider_column[i]}" if provider_column else ""
        rows.append(f"r{i},bert,{F1},{gpu},{gpus},{hours},{INFERENCE},{LATENCY}{cell}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _expected_cer(prices_per_run):
    return [
        F1 / (gpus * hours * price + INFERENCE)
        for (_, _, gpus, hours), price in zip(RUNS, prices_per_run, strict=True)
    ]


def _score(tmp_path, *args, db=None):
    out = tmp_path / "out.csv"
    cmd = [sys.executable, "-m", "mlprod", "score", str(_file(tmp_path)), "-o", str(out)]
    cmd += [*args, "--json"] + (["--db", str(db)] if db else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout), pd.read_csv(out)


def test_nothing_set_prices_each_gpu_at_its_cheapest_provider_and_says_so(tmp_path):
    report, scored = _score(tmp_path)
    cheapest = [min(v[0] for (p, g), v in LIST.items() if g == name) for _, name, *_ in RUNS]
    assert list(scored["cer"]) == pytest.approx(_expected_cer(cheapest))
    assert report["pricing"]["provider"] is None
    text = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(_file(tmp_path)), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    ).stdout
    assert "GPU hours priced at each GPU at the cheapest listed provider, on-demand" in text
    assert "Lambda on-demand: 2 runs" in text  # A100 and H100; the T4's cheapest is AWS


@pytest.mark.parametrize(
    ("sets", "kind", "discount"),
    [
        (["provider=AWS"], 0, 0.0),
        (["provider=AWS", "spot=true"], 1, 0.0),
        (["provider=AWS", "discount=0.25"], 0, 0.25),
        (["provider=aws", "spot=yes", "discount=30%"], 1, 0.30),
    ],
)
def test_an_aws_team_batch_is_priced_at_aws_list_spot_and_discount(tmp_path, sets, kind, discount):
    args = [a for s in sets for a in ("--set", s)]
    report, scored = _score(tmp_path, *args)
    aws = [LIST[("AWS", name)][kind] * (1 - discount) for _, name, *_ in RUNS]
    assert list(scored["cer"]) == pytest.approx(_expected_cer(aws))
    assert list(scored["price_provider"]) == ["AWS"] * 3
    assert set(scored["price_kind"]) == {"spot" if kind else "on-demand"}
    assert report["priced_at"] == [
        {"provider": "AWS", "kind": "spot" if kind else "on-demand", "runs": 3}
    ]


def test_a_runs_own_provider_wins_and_a_provider_without_the_gpu_is_a_row_error(tmp_path):
    path = _file(tmp_path, provider_column=["GCP", "", "Lambda"])
    scored = score_file(inspect(path), scenario={"provider": "Azure"}).table
    assert scored["price_provider"].to_pylist() == ["GCP", "Azure", "Lambda"]
    prices = [
        LIST[("GCP", "A100-80GB")][0],
        LIST[("Azure", "T4")][0],
        LIST[("Lambda", "H100-80GB")][0],
    ]
    assert scored["cer"].to_pylist() == pytest.approx(_expected_cer(prices))
    wrong = score_file(inspect(path), scenario={"provider": "Lambda"}).table  # no T4 at Lambda
    assert wrong["status"].to_pylist() == ["ok", "error", "ok"]
    assert (
        "Lambda does not list Tesla T4; it is listed by AWS, Azure, GCP"
        in wrong["error"][1].as_py()
    )


def test_bad_pricing_values_are_refused_in_words(tmp_path):
    for value, words in (("spot=maybe", "not true or false"), ("discount=1.5", "share from 0")):
        done = subprocess.run(
            [sys.executable, "-m", "mlprod", "score", str(_file(tmp_path)), "--set", value],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2 and words in done.stderr


def test_unknown_gpus_are_priced_in_place_and_the_other_runs_keep_their_prices(tmp_path):
    runs = [*RUNS, ("NVIDIA GeForce RTX 9999", None, 2, 3.0), ("Imaginary X9", None, 4, 1.0)]
    path = _file(tmp_path, runs=runs)
    first = score_file(inspect(path))
    assert first.summary.unpriced_gpus == {"NVIDIA GeForce RTX 9999": 1, "Imaginary X9": 1}
    assert first.table["status"].to_pylist() == ["ok"] * 3 + ["error"] * 2
    priced = score_file(
        inspect(path), scenario={"price_per_gpu_hour[NVIDIA GeForce RTX 9999]": 0.69}
    ).table
    assert priced["status"].to_pylist() == ["ok"] * 4 + ["error"]
    assert priced["training_cost"][3].as_py() == pytest.approx(2 * 3.0 * 0.69)
    assert priced["price_kind"][3].as_py() == "your price"
    assert priced["cer"].to_pylist()[:3] == first.table["cer"].to_pylist()[:3]
    # the CLI takes the same, quoted as a shell needs it
    done = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(path), "-o", str(tmp_path / "o.csv"),
         "--set", "price_per_gpu_hour[Imaginary X9]=1.5",
         "--set", "price_per_gpu_hour[NVIDIA GeForce RTX 9999]=0.69"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "your price: 2 runs" in done.stdout


def test_the_team_pricing_is_kept_with_who_and_when_and_prices_cli_and_notebook(tmp_path):
    db = tmp_path / "history.duckdb"
    with Store(db) as store:
        with pytest.raises(NotAllowed, match="admins"):
            store.set_team_pricing(Pricing("AWS"), who=Person("eve@team", "editor"))
        store.set_team_pricing(
            Pricing("AWS", discount=0.2, gpu_prices={"Imaginary X9": 1.1}), who=Person.local("lee")
        )
        kept = store.team_pricing()
        assert (kept.provider, kept.discount, kept.set_by) == ("AWS", 0.2, "lee")
        assert kept.set_at is not None
        assert store.pricing_changes()["set_by"].tolist() == ["lee"]
    aws = [LIST[("AWS", name)][0] * 0.8 for _, name, *_ in RUNS]
    _report, scored = _score(tmp_path, db=db)
    assert list(scored["cer"]) == pytest.approx(_expected_cer(aws))
    assert list(scored["price_discount"]) == [0.2] * 3
    # a batch's own value goes over the team's
    _, over = _score(tmp_path, "--set", "provider=GCP", db=db)
    assert list(over["price_provider"]) == ["GCP"] * 3
    # a notebook names the history whose pricing it wants
    frame = pd.read_csv(_file(tmp_path))
    assert list(mlprod.score(frame, db=db)["cer"]) == pytest.approx(_expected_cer(aws))
    assert list(mlprod.score(frame)["price_provider"]) != ["AWS"] * 3
    # the team's own price for a GPU the table does not list
    runs = [*RUNS, ("Imaginary X9", None, 2, 1.0)]
    table = score_file(inspect(_file(tmp_path, runs=runs)), pricing=kept).table
    assert table["training_cost"][3].as_py() == pytest.approx(2 * 1.0 * 1.1)


class TestPages:
    def test_an_admin_sets_the_team_pricing_and_the_batch_page_prices_with_it(
        self, app, tmp_path, db_path
    ):
        batch_page_with_runs(app, tmp_path)
        captions = " ".join(c.value for c in app.caption).replace("\\", "")
        assert "GPU hours priced at each GPU at the cheapest listed provider" in captions
        assert "an admin can set the team's" in captions
        # the admin's form (the local operator is an admin)
        app.selectbox(key="batch-team-provider").set_value("AWS")
        app.number_input(key="batch-team-discount").set_value(10.0)
        next(b for b in app.button if b.label == "Keep for the team").click().run()
        assert not app.exception
        with Store(db_path) as store:
            kept = store.team_pricing()
        assert (kept.provider, kept.discount, kept.set_by) == ("AWS", 0.1, "tester")
        captions = " ".join(c.value for c in app.caption).replace("\\", "")  # markdown escapes
        assert "GPU hours priced at AWS, on-demand, 10% off list — set by tester" in captions

    def test_an_unknown_gpu_is_listed_once_and_priced_on_the_page(self, app, tmp_path):
        frame = search_runs_frame(5)
        frame.loc[:1, "params.gpu"] = "Imaginary X9"
        frame.loc[4, "params.gpu"] = "Other Y1"
        path = tmp_path / "runs.csv"
        frame.to_csv(path, index=False)
        app.run()
        app.switch_page("pages/batch.py").run()
        app.file_uploader(key="batch-upload").upload("runs.csv", path.read_bytes(), "text/csv")
        app.run()
        app.number_input(key="batch-scenario-inference_cost").set_value(120.0).run()
        app.button(key="batch-score").click().run()
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["With errors"] == "3"
        asked = {n.label: n for n in app.number_input if " — " in n.label}
        assert set(asked) == {"Imaginary X9 — 2 runs", "Other Y1 — 1 run"}  # each GPU once
        asked["Imaginary X9 — 2 runs"].set_value(0.5)
        next(b for b in app.button if b.label == "Price these runs and score again").click().run()
        assert not app.exception
        metrics = {m.label: m.value for m in app.metric}
        assert (metrics["Scored"], metrics["With errors"]) == ("4", "1")
        assert "your price: 2 runs" in " ".join(c.value for c in app.caption).replace("\\", "")
        # the GPU still without a price asks afresh (not with the price given to another)
        (left,) = [n for n in app.number_input if " — " in n.label]
        assert left.label == "Other Y1 — 1 run" and left.value is None


def test_calc_prices_with_the_team_pricing_and_its_own_flags_go_over_it(tmp_path):
    db = tmp_path / "history.duckdb"
    with Store(db) as store:
        store.set_team_pricing(
            Pricing("AWS", discount=0.2, gpu_prices={"Imaginary X9": 1.25}), who=Person.local("lee")
        )
    common = ["--f1", "0.9", "--gpus", "8", "--training-hours", "10", "--latency-ms", "50",
              "--inference-cost", "200", "--json", "--db", str(db)]  # fmt: skip

    def training(*args):
        done = subprocess.run(
            [sys.executable, "-m", "mlprod", "calc", *common, *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["training_cost"]

    aws, gcp = LIST[("AWS", "A100-80GB")][0], LIST[("GCP", "A100-80GB")][0]
    assert training("--gpu", "A100-80GB") == pytest.approx(8 * 10 * aws * 0.8)
    assert training("--gpu", "A100-80GB", "--provider", "GCP") == pytest.approx(8 * 10 * gcp * 0.8)
    assert training("--gpu", "A100-80GB", "--discount", "0") == pytest.approx(8 * 10 * aws)
    assert training("--gpu", "Imaginary X9") == pytest.approx(8 * 10 * 1.25)


def test_compare_says_when_two_runs_were_priced_differently_and_labels_gpu_hours(tmp_path):
    from mlprod.comparison.compare import Run, assumptions_table, compare

    def run(name, provider, kind, count, hours):
        assumed = {"price_kind": kind, "price_provider": provider, "gpu_count": count,
                   "gpu_hours": hours, "price_per_gpu_hour": 2.99}  # fmt: skip
        return Run(0.9, 300.0, 10.0, 10.0, 20.0, name=name, assumptions=assumed)

    c = compare(run("t4", "AWS", "on-demand", 8, 12.73), run("a100", "Lambda", "on-demand", 1, 2))
    said = [line for line in c.key_numbers if line.startswith("Priced differently")]
    assert said == [
        "Priced differently: A's GPU hours at AWS on-demand, B's at Lambda on-demand — part "
        "of the cost gap is the price, not the model."
    ]
    same = compare(run("x", "AWS", "on-demand", 8, 1), run("y", "AWS", "on-demand", 8, 2))
    assert not [line for line in same.key_numbers if line.startswith("Priced differently")]
    table = assumptions_table(c).set_index("assumption")
    assert table.loc["Hours per GPU", "A"] == "12.73"
    assert table.loc["GPU-hours (GPUs × hours)", "A"] == "101.84"  # 8 × 12.73: × $2.99 = $304
    # the scored file's header says the same
    _, scored = _score(tmp_path)
    assert list(scored["hours_per_gpu"]) == [hours for *_, hours in RUNS]
    assert list(scored["gpu_hours_total"]) == [gpus * hours for *_, gpus, hours in RUNS]
    assert "gpu_hours" not in scored.columns


def test_any_text_in_a_gpu_or_provider_name_is_priced_as_itself(tmp_path):
    """Pricing keys rows by (GPU, provider, spot): a name holding the key's separator,
    brackets or quotes is its own GPU, named in its own error and priced by its own price."""
    odd = ["X\x1fAWS", "Card [v2]", 'Q"uote, 9', "X"]
    frame = pd.DataFrame({
        "model": "m", "f1": 0.9, "gpu": odd, "gpus": 1, "training_hours": 2.0,
        "inference_cost": 0.0, "latency_ms": 10.0, "provider": ["", "x\x1fy", "", ""],
    })  # fmt: skip
    scored = mlprod.score(frame)
    assert list(scored["status"]) == ["error"] * 4
    assert "GPU 'Card [v2]' is not in the price table" in scored.loc[1, "error"]
    known = mlprod.score(frame.assign(gpu="T4"))  # the odd provider, on a GPU the table has
    assert "'x\x1fy' is not a provider in the price table" in known.loc[1, "error"]
    assert "GPU 'X\x1fAWS' is not in the price table" in scored.loc[0, "error"]
    priced = mlprod.score(
        frame.assign(provider=""),
        defaults={f"price_per_gpu_hour[{name}]": 1.0 + i for i, name in enumerate(odd)},
    )
    assert list(priced["status"]) == ["ok"] * 4
    assert list(priced["training_cost"]) == [2.0, 4.0, 6.0, 8.0]


def test_the_calculator_starts_from_the_team_pricing_and_keeps_the_discount(app, db_path):
    with Store(db_path) as store:
        store.set_team_pricing(
            Pricing("AWS", discount=0.2, gpu_prices={"Imaginary X9": 1.25}), who=Person.local("lee")
        )
    app.run()
    app.radio(key="calc-train-mode").set_value("From GPU hours").run()
    captions = " ".join(c.value for c in app.caption).replace("\\", "")
    assert (
        "GPU hours priced at AWS, on-demand, 20% off list; your price for 1 GPU (Imaginary X9 "
        "$1.25/GPU-h) — set by lee on "
    ) in captions
    assert app.selectbox(key="calc-provider").value == "AWS"
    assert app.number_input(key="calc-discount").value == 20.0
    app.selectbox(key="calc-gpu").set_value("A100-80GB")
    app.number_input(key="calc-gpus").set_value(8.0)
    app.button(key="calc-submit").click().run()
    assert not app.exception
    aws = LIST[("AWS", "A100-80GB")][0]
    assert f"(AWS on-demand, 20% off list, 2026-10-01) = ${8 * 10 * aws * 0.8:,.2f}" in (
        app.code[0].value
    )
    app.button(key="calc-save").click().run()
    with Store(db_path) as store:
        row = store.export_filtered(HistoryFilter()).to_pandas()
    assert list(row["price_discount"]) == [0.2] and list(row["price_provider"]) == ["AWS"]
    # a GPU only the team prices is offered, at the team's price
    app.selectbox(key="calc-gpu").set_value("Imaginary X9")
    app.button(key="calc-submit").click().run()
    assert "$1.25/GPU-h (your price)" in app.code[0].value
