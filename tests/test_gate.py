"""``mlprod gate`` as a CI step runs it, and the run in production it gates against."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from mlprod.access import Person
from mlprod.comparison.compare import Run, compare
from mlprod.comparison.gate import GateRules, decide, rules_from
from mlprod.errors import InvalidInput, NotAllowed
from mlprod.store import Store

ROWS = [  # run_id, model, project, f1, training, inference, hours, latency
    ("prod", "ranker", "search", 0.80, 400.0, 100.0, 4.0, 20.0),
    ("better", "ranker", "search", 0.84, 300.0, 100.0, 3.0, 18.0),  # better and cheaper
    ("worse", "ranker", "search", 0.70, 900.0, 300.0, 9.0, 60.0),
    ("pricier", "ranker", "search", 0.90, 1000.0, 100.0, 4.0, 20.0),  # +0.10 F1, 2.2× cost
]


def mlprod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlprod", *args], capture_output=True, text=True)


@pytest.fixture
def history(tmp_path):
    """A history of four runs of one model, and their ids by run id."""
    path = tmp_path / "runs.csv"
    head = "run_id,model,project,f1,training_cost,inference_cost,training_hours,latency_ms"
    path.write_text("\n".join([head, *(",".join(map(str, r)) for r in ROWS)]) + "\n")
    db = tmp_path / "history.duckdb"
    assert (
        mlprod(
            "score", str(path), "--save", "--db", str(db), "-o", str(tmp_path / "o.csv")
        ).returncode
        == 0
    )
    with Store(db) as store:
        found = store.search("", limit=10)
    return db, dict(zip(found["run_id"], found["id"].astype(int).astype(str), strict=True))


def test_a_ci_step_promotes_a_better_run_holds_a_worse_one_and_needs_a_baseline(history, tmp_path):
    db, ids = history
    none = mlprod("gate", ids["better"], "--db", str(db))
    assert none.returncode == 2 and "nothing is marked in production for ranker" in none.stderr
    marked = mlprod("production", "mark", ids["prod"], "--model", "ranker", "--note", "Q4",
                    "--author", "ann", "--db", str(db))  # fmt: skip
    assert marked.returncode == 0 and "marked by ann" in marked.stdout

    comment = tmp_path / "pr.md"
    promoted = mlprod("gate", ids["better"], "--db", str(db), "--markdown", str(comment),
                      "--dashboard-url", "http://dash.internal:8501")  # fmt: skip
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert promoted.stdout.startswith(f"PROMOTE: ranker (run {ids['better']}) over ranker (run ")
    text = comment.read_text()
    assert text.splitlines()[0] == (
        f"## ✅ Promote: ranker (run {ids['better']}) over ranker (run {ids['prod']})"
    )
    assert "| F1 | 0.8 | 0.84 | +5.0% |  |" in text
    assert (
        f"(http://dash.internal:8501/compare?a={ids['prod']}&b={ids['better']}&w=1%2C1%2C1" in text
    )

    held = mlprod("gate", ids["worse"], "--db", str(db), "--json")
    report = json.loads(held.stdout)
    assert held.returncode == 1 and report["decision"] == "hold"
    assert report["reasons"][0].startswith("the weighted ratios do not choose the candidate")
    assert report["baseline_side"]["production"].startswith("ranker: run ")


def test_the_rules_hold_what_the_verdict_alone_would_promote(history):
    db, ids = history
    base = ["--baseline", ids["prod"], "--db", str(db), "--json"]
    loose = mlprod("gate", ids["pricier"], *base, "--weights", "0,0,1")
    assert loose.returncode == 0, loose.stdout
    capped = json.loads(mlprod("gate", ids["pricier"], *base, "--weights", "0,0,1",
                               "--max-cost-increase", "50").stdout)  # fmt: skip
    assert capped["decision"] == "hold"
    assert "total cost up 120.0%, more than the 50% allowed" in capped["reasons"]
    gain = json.loads(mlprod("gate", ids["better"], *base, "--min-quality-gain", "0.05").stdout)
    assert (
        gain["decision"] == "hold"
        and "F1 gain +0.04 is below the minimum +0.05" in (gain["reasons"])
    )
    bad = mlprod("gate", ids["better"], *base, "--max-latency-increase", "-5")
    assert bad.returncode == 2 and "at least 0" in bad.stderr


def test_a_candidate_from_a_file_and_a_lead_inside_run_to_run_spread(history, tmp_path):
    db, ids = history
    mlprod("production", "mark", ids["prod"], "--project", "search", "--db", str(db))
    candidate = tmp_path / "candidate.csv"
    candidate.write_text(
        "run_id,model,project,f1,training_cost,inference_cost,training_hours,latency_ms\n"
        "c1,ranker-v2,search,0.86,200,100,2,15\n"
    )
    # no mark for the model ranker-v2: its project's production run is the baseline
    done = mlprod("gate", "--from", str(candidate), "--row", "1", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["candidate"] == "ranker-v2"
    missing = mlprod("gate", "--from", str(candidate), "--row", "3", "--db", str(db))
    assert missing.returncode == 2 and "has 1 runs; there is no run 3" in missing.stderr

    from mlprod.comparison.noise import Noise

    seeds = pd.DataFrame({"f1": [0.7, 0.9, 0.8], "cer": [0.007, 0.009, 0.008],
                          "ter": [0.7, 0.9, 0.8], "psr": [0.07, 0.09, 0.08]})  # fmt: skip
    a = Run(0.80, 100, 0, 1, 10, name="a", noise=Noise.of("group=a", seeds, mean=False))
    b = Run(0.82, 100, 0, 1, 10, name="b", noise=Noise.of("group=b", seeds, mean=False))
    c = compare(a, b)  # B leads by 2.5%, seeds of either spread by ±12%
    assert c.within_noise
    assert decide(c, GateRules()).reasons == ["the difference is inside run-to-run spread"]
    assert decide(c, GateRules(spread_holds=False)).promote


def test_marks_are_kept_with_who_and_when_and_only_editors_of_the_project_mark(history):
    db, ids = history
    with Store(db) as store:
        viewer = Person("eve@team", "viewer")
        with pytest.raises(NotAllowed):
            store.mark_production(ids["prod"], scope_kind="model", scope="ranker", who=viewer)
        other = Person("bob@team", "editor", frozenset({"vision"}))
        with pytest.raises(NotAllowed):
            store.mark_production(ids["prod"], scope_kind="model", scope="ranker", who=other)
        editor = Person("ann@team", "editor", frozenset({"search"}))
        store.mark_production(ids["prod"], scope_kind="model", scope="ranker", who=editor)
        store.mark_production(ids["better"], scope_kind="model", scope="ranker", who=editor,
                              note="after the A/B test")  # fmt: skip
        mark = store.production(model="ranker")
        assert (mark.side, mark.marked_by, mark.note) == (
            ids["better"],
            "ann@team",
            "after the A/B test",
        )
        store.unmark_production(scope_kind="model", scope="ranker", who=editor)
        assert store.production(model="ranker") is None
        assert store.production_marks().empty
        log = store.production_log()
        assert [None if pd.isna(x) else x for x in log["side"]] == [
            None,
            ids["better"],
            ids["prod"],
        ]
        with pytest.raises(InvalidInput, match="model or a project"):
            store.mark_production("1", scope_kind="team", scope="x", who=editor)


def test_rules_come_from_the_gate_section_with_options_over_them():
    rules = rules_from({"max_cost_increase": 10, "min_quality_gain": 0.02, "weights": "2,1,1"},
                       min_quality_gain=0.01)  # fmt: skip
    assert (rules.max_cost_increase, rules.min_quality_gain) == (0.1, 0.01)
    assert dict(rules.weights) == {"cer": 2.0, "ter": 1.0, "psr": 1.0}
    with pytest.raises(InvalidInput, match="Unknown gate rule"):
        rules_from({"max_cost": 10})


def test_the_pr_comment_shows_names_as_text():
    """A model named with Markdown or HTML stays text in the comment (an inert cell)."""
    a = Run(0.8, 400, 100, 4, 20, name="prod|<img src=x onerror=alert(1)>")
    b = Run(0.9, 100, 100, 2, 10, name="**new** [link](http://x)")
    text = decide(compare(a, b), GateRules()).markdown()
    assert not re.search(r"(?<!\\)<img", text) and "\\<img src=x onerror=alert(1)\\>" in text
    assert "\\*\\*new\\*\\* \\[link\\](http://x)" in text
    assert "prod\\|" in text


def test_the_pr_comment_groups_thousands():
    a = Run(0.8, 4000, 1200, 40, 2500, name="prod")
    b = Run(0.82, 3000, 1000, 30, 1800, name="new")
    text = decide(compare(a, b), GateRules()).markdown()
    assert "| Total cost (USD) | 5,200 | 4,000 | -23.1% |  |" in text
    assert "| Latency (ms) | 2,500 | 1,800 | -28.0% |  |" in text


class TestPages:
    def test_history_shows_the_run_in_production_and_compare_offers_it_as_a(
        self, app, db_path, tmp_path
    ):
        path = tmp_path / "runs.csv"
        head = "run_id,model,project,f1,training_cost,inference_cost,training_hours,latency_ms"
        path.write_text("\n".join([head, *(",".join(map(str, r)) for r in ROWS)]) + "\n")
        assert mlprod("score", str(path), "--save", "--db", str(db_path), "-o",
                      str(tmp_path / "o.csv")).returncode == 0  # fmt: skip
        with Store(db_path) as store:
            ids = dict(zip(store.search("")["run_id"], store.search("")["id"], strict=True))
        app.run()
        app.switch_page("pages/history.py").run()
        assert not [b for b in app.button if b.key == "history-production-mark"]  # none ticked
        with Store(db_path) as store:
            store.mark_production(str(ids["prod"]), scope_kind="model", scope="ranker",
                                  who=Person.local("tester"), note="Q4")  # fmt: skip
        app.run()
        captions = " ".join(c.value for c in app.caption).replace("\\", "")
        assert f"In production — ranker: run {ids['prod']}, marked by tester on " in captions
        app.switch_page("pages/compare.py").run()
        assert not app.exception
        assert app.radio(key="compare-a-source").value == "History"
        assert app.selectbox(key="compare-a-pick").value == ids["prod"]
        assert app.selectbox(key="compare-b-pick").value == ids["pricier"]  # the newest run
        captions = " ".join(c.value for c in app.caption).replace("\\", "")
        assert "Model A is the run in production" in captions


def test_team_settings_behave_the_same_on_both_backends(store):
    """Production marks and the team's pricing on a DuckDB file and on PostgreSQL."""
    from mlprod.costs.pricing import Pricing

    admin = Person.local("lee")
    store.mark_production("group:seeds", scope_kind="project", scope="search", who=admin)
    store.mark_production("7", scope_kind="model", scope="ranker", who=admin, note="a")
    store.mark_production("8", scope_kind="model", scope="ranker", who=admin, note="b")
    marks = store.production_marks()
    assert list(zip(marks["scope_kind"], marks["scope"], marks["side"], strict=True)) == [
        ("model", "ranker", "8"), ("project", "search", "group:seeds")
    ]  # fmt: skip
    assert store.production(model="nobody", project="search").side == "group:seeds"
    assert len(store.production_log()) == 3
    store.set_team_pricing(Pricing("GCP", spot=True, gpu_prices={"X9": 2.0}), who=admin)
    kept = store.team_pricing()
    assert (kept.provider, kept.spot, dict(kept.gpu_prices)) == ("GCP", True, {"X9": 2.0})
