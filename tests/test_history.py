"""History queries on a real DuckDB file: filters, frontier, trends, answers, deletes."""

from __future__ import annotations

import threading
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlprod.config import PROJECT_DIR
from mlprod.ingest import inspect, resolve_mapping, scored_batches
from mlprod.saving import save_batch
from mlprod.store import ROWS_PER_BATCH, HistoryFilter, Store
from tests.conftest import examples, fresh_history

ALL = HistoryFilter()


def runs(**columns):
    n = len(next(iter(columns.values())))
    base = {"model_name": ["m"] * n, "f1": [0.9] * n, "training_cost": [100.0] * n,
            "inference_cost": [0.0] * n, "training_hours": [1.0] * n,
            "latency_ms": [10.0] * n}  # fmt: skip
    frame = pd.DataFrame({**base, **columns})
    frame["cer"] = frame.f1 / (frame.training_cost + frame.inference_cost)
    frame["ter"] = frame.f1 / frame.training_hours
    frame["psr"] = frame.f1 / frame.latency_ms
    return frame


@pytest.fixture
def sample(store):
    inspection = inspect(PROJECT_DIR / "data" / "sample_runs.csv")
    save_batch(
        store, scored_batches(inspection, resolve_mapping(inspection)), source="batch", author="ann"
    )
    return store


def brute_force_frontier(points: list[tuple[float, float]]) -> set[tuple[float, float]]:
    """(f1, x) pairs no other pair beats: f1 >= and x <= with one strictly better."""
    front = set()
    for f1, x in points:
        dominated = any((g >= f1 and y <= x) and (g > f1 or y < x) for g, y in points)
        if not dominated:
            front.add((f1, x))
    return front


#: The ways the frontiers are read: from the stored frontier runs of the matching groups
#: (sliced first when they are many), or (dates, a text search) from the runs themselves
#: or the cheapest run per F1.
WAYS = {"stored": (True, False, None), "stored-sliced": (True, True, None),
        "per-f1": (False, None, True), "runs": (False, None, False)}  # fmt: skip


def read_as(s: Store, way: str) -> None:
    s.use_rollup, many, few = WAYS[way]
    if many is not None:
        s._many_frontier_runs = lambda: many
    if few is not None:
        s._few_f1_values = lambda: few


@pytest.mark.parametrize("way", list(WAYS))
@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 20).map(lambda v: v / 20),  # F1, with ties
            st.integers(1, 30).map(float),  # cost
            st.sampled_from(["a", "b", None]),  # model (none: a group of its own)
            st.booleans(),  # deleted
        ),
        min_size=1,
        max_size=40,
    ),
    st.booleans(),  # restore the deleted ones again
)
def test_frontier_matches_brute_force(tmp_path_factory, history_template, way, points, restore):
    """Runs of three models (one unnamed) in two batches, some deleted (and maybe restored):
    the frontier of all of them and of one model is exactly the brute-force one, however
    it is read (the stored frontier runs are each group's, kept up by every write)."""
    db = fresh_history(history_template, tmp_path_factory.mktemp("frontier"))
    half = len(points) // 2
    with Store(db) as s:
        read_as(s, way)
        ids = []
        for part in (points[:half], points[half:]):  # two batches
            if part:
                batch = s.append_calculations(
                    runs(f1=[p[0] for p in part], training_cost=[p[1] for p in part],
                         model_name=[p[2] for p in part]), source="t",
                )  # fmt: skip
                ids += [batch * ROWS_PER_BATCH + i for i in range(len(part))]
        gone = [i for i, p in zip(ids, points, strict=True) if p[3]]
        s.soft_delete(gone)
        if restore:
            s.restore(gone)
        live = [p for p in points if restore or not p[3]]
        for f, kept in (
            (ALL, live),
            (HistoryFilter(models=("a",)), [p for p in live if p[2] == "a"]),
        ):
            found = s.frontiers(f)["total_cost"]
            want = brute_force_frontier([(p[0], p[1]) for p in kept])
            assert set(zip(found.f1, found.x, strict=True)) == want
            assert found.x.is_monotonic_increasing and found.f1.is_monotonic_increasing


@pytest.mark.parametrize("way", list(WAYS))
@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 20).map(lambda v: v / 20),  # F1, with ties
            st.integers(1, 30).map(float),  # cost
            st.integers(1, 30).map(float),  # latency
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([0.0, 0.05, 0.2]),
    st.integers(1, 30),
    st.integers(1, 30),
)
def test_answers_match_brute_force(
    tmp_path_factory, history_template, way, points, gap, budget, latency
):
    db = fresh_history(history_template, tmp_path_factory.mktemp("answers"))
    with Store(db) as s:
        read_as(s, way)
        s.append_calculations(
            runs(f1=[p[0] for p in points], training_cost=[p[1] for p in points],
                 latency_ms=[p[2] for p in points]),
            source="t",
        )  # fmt: skip
        under = s.best_under(ALL, budget=budget, latency_ms=latency)
        view = s.overview(ALL, f1_gap=gap, budget=budget, latency_ms=latency)
    cheapest = view.cheapest
    best_f1 = max(p[0] for p in points)
    near = [p for p in points if p[0] >= best_f1 - gap]
    want = min(near, key=lambda p: (p[1], -p[0]))
    assert (cheapest["f1"], cheapest["training_cost"]) == (want[0], want[1])
    fitting = [p for p in points if p[1] <= budget and p[2] <= latency]
    if not fitting:
        assert under is None and view.best_under is None
    else:
        top = max(fitting, key=lambda p: (p[0], -p[1]))
        assert (under["f1"], under["training_cost"]) == (top[0], top[1])
        assert under["latency_ms"] <= latency
    # The overview answers from its own scan, best_under with a query of its own: the
    # same answer (of runs equal in F1 and cost, either may be named).
    same = ("f1", "training_cost", "inference_cost")
    if under is not None:
        assert [view.best_under[k] for k in same] == [under[k] for k in same]


@pytest.mark.parametrize("digits", [6, 2], ids=["as-logged", "rounded"])
def test_frontier_of_many_runs_with_f1s_as_logged(store, digits):
    """4,000 runs, nearly every F1 its own value (or rounded to 2 digits: 50 values) and
    costs spread over three decades: the query drops the rows a cheaper slice of the axis
    beats before it sorts; what is left is still exactly the frontier (a plain sort and
    running maximum in numpy), on both backends, read from the runs or from the cheapest
    run of each F1 value, whichever the history's F1s call for."""
    rng = np.random.default_rng(3)
    n = 4000
    frame = runs(f1=rng.uniform(0.5, 0.99, n).round(digits),
                 training_cost=np.exp(rng.uniform(np.log(5), np.log(5000), n)).round(2),
                 latency_ms=rng.uniform(1, 200, n).round(1))  # fmt: skip
    store.append_calculations(frame, source="t")
    assert store._few_f1_values() is (digits == 2)
    view = store.overview(ALL, f1_gap=0.02)
    for x, values in (("total_cost", frame.training_cost), ("latency_ms", frame.latency_ms)):
        order = np.lexsort((-frame.f1.to_numpy(), values.to_numpy()))
        f1 = frame.f1.to_numpy()[order]
        best_before = np.maximum.accumulate(np.concatenate([[-np.inf], f1[:-1]]))
        keep = f1 > best_before
        found = view.frontiers[x]
        assert found.f1.tolist() == f1[keep].tolist()
        assert found.x.tolist() == values.to_numpy()[order][keep].tolist()
        assert 3 < len(found) < 200  # a frontier, not every run
    near = frame[frame.f1 >= frame.f1.max() - 0.02]
    assert view.cheapest["training_cost"] == near.training_cost.min()


@pytest.mark.slow  # 4,000 runs deleted and restored in blocks: ~30 s on PostgreSQL
def test_stored_frontier_runs_follow_saves_deletes_and_restores(store, monkeypatch):
    """4,000 runs of two models and three projects saved in blocks of 500 (a database
    server keeps each block's frontier runs), then the runs on the frontiers deleted and
    restored: on both backends, the frontiers read from the stored frontier runs equal
    those read from every run, under no filter, a model, a project and a date."""
    from mlprod.store import writes

    monkeypatch.setattr(writes, "INSERT_ROWS", 500)
    rng = np.random.default_rng(11)
    n = 4000
    store.append_calculations(
        runs(f1=rng.uniform(0.5, 0.99, n), training_cost=rng.uniform(5, 5000, n),
             latency_ms=rng.uniform(1, 200, n), model_name=rng.choice(["a", "b"], n),
             project=rng.choice(["x", "y", None], n)),
        source="t",
    )  # fmt: skip
    today = date.today()
    filters = [ALL, HistoryFilter(models=("b",)), HistoryFilter(projects=("x",)),
               HistoryFilter(date_from=today, date_to=today)]  # fmt: skip

    def same_either_way() -> list[int]:
        on_front = []
        for f in filters:
            stored = store.frontiers(f, details=False)
            store.use_rollup = False
            try:
                read = store.frontiers(f, details=False)
            finally:
                store.use_rollup = True
            for x in ("total_cost", "latency_ms"):
                pd.testing.assert_frame_equal(stored[x], read[x])
                assert 3 < len(stored[x]) < 200
                on_front += stored[x]["id"].tolist()
        return on_front

    before = same_either_way()
    gone = sorted(set(before))
    assert len(store.soft_delete(gone)) == len(gone)
    after = same_either_way()
    assert not set(after) & set(gone)  # runs that were beaten before are the frontier now
    store.restore(gone)
    assert sorted(same_either_way()) == sorted(before)


def test_frontier_runs_as_an_upgraded_history_holds_them(store):
    """A history migrated to frontier runs on a server holds every live run as one (a
    superset: migration 7); its frontiers are the same, and a delete narrows the batch to
    its real frontier runs."""
    from mlprod.store.dialect import POSTGRES
    from mlprod.store.schema import MIGRATIONS, migrations

    rng = np.random.default_rng(5)
    store.append_calculations(runs(f1=rng.uniform(0.5, 0.99, 500),
                                   training_cost=rng.uniform(5, 500, 500)), source="t")  # fmt: skip
    expected = store.frontiers(ALL, details=False)
    steps = migrations(POSTGRES)[7] if store.sql.name == "postgresql" else MIGRATIONS[7]
    with store.transaction() as cur:
        cur.execute("DELETE FROM frontier_runs")
        cur.execute(next(s for s in steps if s.startswith("INSERT")))
        superset = cur.execute("SELECT count(*) FROM frontier_runs").fetchone()[0]
    if store.sql.name == "postgresql":
        assert superset == 500  # every live run
    for x, front in store.frontiers(ALL, details=False).items():
        pd.testing.assert_frame_equal(front, expected[x])
    store.soft_delete([int(expected["total_cost"]["id"].iloc[-1])])
    with store.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM frontier_runs").fetchone()[0] < 100


def test_how_many_f1_values_is_counted_again_once_runs_are_added(store):
    store.append_calculations(runs(f1=[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]), source="t")
    assert store._few_f1_values()  # 1 value, 8 runs
    store.append_calculations(runs(f1=np.linspace(0.1, 0.9, 40).round(4)), source="t")
    assert not store._few_f1_values()  # 41 values, 48 runs


def test_latency_frontier(store):
    store.append_calculations(
        runs(f1=[0.9, 0.8, 0.95, 0.85], latency_ms=[10.0, 5.0, 40.0, 20.0]), source="t"
    )
    assert store.frontiers(ALL)["latency_ms"][["f1", "x"]].values.tolist() == [
        [0.8, 5.0], [0.9, 10.0], [0.95, 40.0]]  # fmt: skip


class TestFilters:
    def test_each_filter(self, sample):
        everything = sample.summary(ALL)["runs"]
        assert everything == 420
        by_model = sample.summary(HistoryFilter(models=("xgboost",)))["runs"]
        assert 0 < by_model < everything
        page = sample.history_page(HistoryFilter(models=("xgboost",)), page_size=500)
        assert set(page.model_name) == {"xgboost"} and len(page) == by_model
        spot = sample.history_page(HistoryFilter(tags=("spot",)), page_size=500)
        assert len(spot) and all("spot" in t.split(", ") for t in spot.tags)
        july = HistoryFilter(date_from=date(2026, 7, 1), date_to=date(2026, 7, 31))
        days = sample.history_page(july, page_size=500).created_at
        assert days.min() >= datetime(2026, 7, 1) and days.max() < datetime(2026, 8, 1)
        assert sample.summary(HistoryFilter(authors=("ann",)))["runs"] == everything
        assert sample.summary(HistoryFilter(authors=("bob",)))["runs"] == 0
        assert sample.summary(HistoryFilter(sources=("batch",)))["runs"] == everything
        assert len(sample.history_page(HistoryFilter(text="augment"), page_size=500)) > 0
        vision = HistoryFilter(projects=("vision-qc",), models=("resnet50",))
        assert set(sample.best_per_model(vision).model_name) == {"resnet50"}
        assert sample.summary(HistoryFilter(projects=("vision-qc",), models=("xgboost",)))[
            "runs"] == 0  # fmt: skip

    def test_pages_are_newest_first_and_do_not_overlap(self, sample):
        first = sample.history_page(ALL, page=0, page_size=50)
        second = sample.history_page(ALL, page=1, page_size=50)
        assert first.created_at.is_monotonic_decreasing
        assert first.created_at.iloc[-1] >= second.created_at.iloc[0]
        assert not set(first.id) & set(second.id)
        assert {"author", "source", "total_cost"} <= set(first.columns)

    def test_filter_options(self, sample):
        options = sample.filter_options()
        assert "xgboost" in options["models"] and "vision-qc" in options["projects"]
        assert "spot" in options["tags"] and options["authors"] == ["ann"]


class TestChartsData:
    def test_trend_buckets_and_models(self, sample):
        trend = sample.trend(ALL, "week", max_models=3)
        assert set(trend.ratio) == {"CER", "TER", "PSR"}
        assert trend.model_name.nunique() == 3
        assert (trend.bucket.dt.day_of_week == 0).all()  # weeks start on Monday
        with pytest.raises(ValueError):
            sample.trend(ALL, "hour")

    def test_runs_without_a_model_name_are_in_the_trend_and_best_runs(self, store):
        # The calculator's prefilled run has no model name: saving it must not leave the
        # history page with an empty trend chart.
        store.append_calculations(runs(model_name=[None, "m"]), source="t")
        trend = store.trend(ALL, "day")
        assert set(trend.model_name) == {"(no model name)", "m"}
        assert set(store.best_per_model(ALL).model_name) == {"(no model name)", "m"}

    def test_scatter_samples_beyond_the_limit(self, sample):
        points, total = sample.scatter(ALL, limit=100)
        assert total == 420 and 0 < len(points) <= 100
        assert {"f1", "total_cost", "latency_ms", "model_name"} <= set(points.columns)
        again, _ = sample.scatter(ALL, limit=100, total=420)
        assert sorted(points.id) == sorted(again.id)  # repeatable
        everything, _ = sample.scatter(ALL, limit=1000)
        assert len(everything) == 420

    def test_best_per_model(self, sample):
        best = sample.best_per_model(ALL)
        xgb = best[(best.model_name == "xgboost") & (best.ratio == "CER")].iloc[0]
        page = sample.history_page(HistoryFilter(models=("xgboost",)), page_size=500)
        assert xgb.value == page.cer.max()


class TestQuestions:
    def test_cheapest_within_and_best_under(self, store):
        store.append_calculations(
            runs(f1=[0.95, 0.94, 0.90, 0.80], training_cost=[1000.0, 300.0, 100.0, 10.0],
                 latency_ms=[50.0, 30.0, 5.0, 1.0], run_id=["a", "b", "c", "d"]),
            source="t",
        )  # fmt: skip
        for gap, run in ((0.01, "b"), (0.0, "a"), (0.06, "c"), (0.2, "d")):
            assert store.overview(ALL, f1_gap=gap).cheapest["run_id"] == run
        assert store.best_under(ALL, budget=500, latency_ms=40)["run_id"] == "b"
        assert store.best_under(ALL, budget=500, latency_ms=10)["run_id"] == "c"
        assert store.best_under(ALL, budget=5, latency_ms=10) is None


class TestDeletes:
    def test_delete_hides_from_every_query_and_restore_brings_back(self, sample):
        xgb = HistoryFilter(models=("xgboost",))
        ids = sample.history_page(xgb, page_size=500).id.tolist()
        assert sample.soft_delete(ids, by="ann") == sorted(ids)
        assert sample.summary(xgb)["runs"] == 0
        assert "xgboost" not in set(sample.best_per_model(ALL).model_name)
        gone = sample.history_page(xgb, deleted=True, page_size=500)
        assert len(gone) == len(ids) and set(gone.deleted_by) == {"ann"}
        assert len(sample.restore(ids[:2], by="bob")) == 2
        assert sample.summary(xgb)["runs"] == 2

    def test_two_sessions_deleting_the_same_rows(self, sample):
        ids = sample.history_page(ALL, page_size=20).id.tolist()
        results = []
        barrier = threading.Barrier(2)

        def delete(who):
            barrier.wait()
            results.append(len(sample.soft_delete(ids, by=who)))

        threads = [threading.Thread(target=delete, args=(w,)) for w in ("ann", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [0, 20]  # one did it, the other is told nothing was left
        assert len(sample.deletion_log()) == 20


def test_sample_runs_file_is_realistic():
    frame = pd.read_csv(PROJECT_DIR / "data" / "sample_runs.csv")
    assert frame.model_name.nunique() >= 6 and frame.project.nunique() >= 3
    span = pd.to_datetime(frame.created_at).agg(["min", "max"])
    assert (span["max"] - span["min"]).days > 90
    assert np.isfinite(frame[["f1", "training_cost", "latency_ms"]].to_numpy()).all()


def test_export_of_the_filtered_history_round_trips(sample):
    import io

    import pyarrow.parquet as pq

    from mlprod.export import ParquetOut, csv_bytes

    xgb = HistoryFilter(models=("xgboost",))
    table = sample.export_filtered(xgb)
    assert table.num_rows == sample.summary(xgb)["runs"]
    assert set(table.column("model_name").to_pylist()) == {"xgboost"}
    written = io.BytesIO()
    out = ParquetOut(written)
    out.write(table)
    out.close()
    back = pq.read_table(io.BytesIO(written.getvalue()))
    assert back.column("cer").to_pylist() == table.column("cer").to_pylist()
    assert csv_bytes(table).decode().splitlines()[0].startswith('"id","created_at"')


def test_overview_has_every_figure(sample):
    view = sample.overview(ALL, f1_gap=0.01, budget=1000, latency_ms=50)
    assert view.summary["runs"] == 420 and view.bucket == "week"
    assert set(view.frontiers) == {"total_cost", "latency_ms"}
    assert len(view.points) == 420 and view.best.model_name.nunique() == 9
    assert view.cheapest["f1"] >= view.summary["best_f1"] - 0.01
    assert view.best_under["latency_ms"] <= 50
    # The page's one-pass overview says what the standalone queries say.
    every = sample.export_filtered(ALL).to_pandas()
    near = every[every.f1 >= every.f1.max() - 0.01]
    cheapest = near.assign(total=near.training_cost + near.inference_cost).sort_values(
        ["total", "f1"], ascending=[True, False]
    )
    assert view.cheapest["id"] == cheapest["id"].iloc[0]
    assert view.best_under["id"] == sample.best_under(ALL, budget=1000, latency_ms=50)["id"]
    pd.testing.assert_frame_equal(view.trend, sample.trend(ALL, "week"))
    pd.testing.assert_frame_equal(view.best, sample.best_per_model(ALL))
    for x, front in sample.frontiers(ALL).items():
        pd.testing.assert_frame_equal(view.frontiers[x], front)
    empty = sample.overview(HistoryFilter(text="nothing like this"))
    assert empty.summary["runs"] == 0 and empty.trend is None


def _compare_rollup_to_rows(store: Store, f: HistoryFilter) -> None:
    """The summary, trend, best runs and filter choices read from the rollup equal the
    same figures computed from the calculations themselves."""
    rolled = (store.summary(f), {b: store.trend(f, b) for b in ("day", "week", "month")},
              store.best_per_model(f, details=False), store.filter_options())  # fmt: skip
    store.use_rollup = False
    try:
        raw = (store.summary(f), {b: store.trend(f, b) for b in ("day", "week", "month")},
               store.best_per_model(f, details=False))  # fmt: skip
        with store.cursor() as cur:
            live_models = sorted(
                r[0] for r in cur.execute(
                    "SELECT DISTINCT model_name FROM calculations "
                    "WHERE deleted_at IS NULL AND model_name IS NOT NULL").fetchall()
            )  # fmt: skip
    finally:
        store.use_rollup = True
    assert rolled[0] == raw[0]  # counts, dates and maxima: exact
    for bucket, trend in rolled[1].items():
        expected = raw[1][bucket]
        assert trend[["bucket", "model_name", "ratio"]].equals(
            expected[["bucket", "model_name", "ratio"]]
        ), bucket
        assert trend["value"].to_numpy() == pytest.approx(expected["value"].to_numpy(), rel=1e-12)
        assert trend["runs"].tolist() == expected["runs"].tolist()
    best, expected = rolled[2], raw[2]
    assert best[["model_name", "ratio"]].equals(expected[["model_name", "ratio"]])
    assert best["value"].tolist() == expected["value"].tolist()
    # Ties may name another run of the same best value: check the run holds that value.
    named = store.calculations_by_id(best["id"].tolist())
    value = {r: named.set_index("id")[r.lower()] for r in ("CER", "TER", "PSR")}
    assert [value[r][i] for r, i in zip(best["ratio"], best["id"], strict=True)] == best[
        "value"
    ].tolist()
    assert rolled[3]["models"] == live_models


@pytest.mark.parametrize("seed", range(12))
def test_rollup_stays_equal_to_the_rows_through_saves_deletes_and_restores(store, seed):
    rng = np.random.default_rng(seed)
    models = np.array(["bert", "resnet", None, "xgb"], dtype=object)
    for i in range(int(rng.integers(2, 5))):
        n = int(rng.integers(1, 300))
        days = rng.integers(0, 120, n).astype("timedelta64[D]") + np.datetime64("2026-01-01")
        frame = runs(
            model_name=list(models[rng.integers(0, 4, n)]),
            project=list(np.array(["nlp", "cv", None], dtype=object)[rng.integers(0, 3, n)]),
            tags=list(np.array(["prod", "spot, prod", None], dtype=object)[rng.integers(0, 3, n)]),
            f1=np.round(rng.uniform(0.5, 1, n), 2),
            training_cost=np.round(rng.uniform(1, 500, n)),
            latency_ms=np.round(rng.uniform(1, 100, n)),
            created_at=pd.to_datetime(days) + pd.to_timedelta(rng.integers(0, 86400, n), "s"),
        )
        store.append_calculations(
            frame, source=["batch", "cli"][i % 2], author=["ann", "bob"][i % 2]
        )
        if rng.random() < 0.5:
            store.save_calculation(runs(f1=[0.77]).iloc[0].to_dict(), calc_key=f"{seed}-{i}")
    ids = store.history_page(ALL, page_size=10_000)["id"].to_numpy()
    deleted = rng.choice(ids, size=min(len(ids), int(rng.integers(1, 60))), replace=False)
    store.soft_delete(deleted.tolist())
    store.restore(deleted[: len(deleted) // 2].tolist())
    filters = [
        ALL,
        HistoryFilter(models=("bert", "xgb")),
        HistoryFilter(projects=("nlp",), tags=("spot",)),
        HistoryFilter(authors=("bob",)),
        HistoryFilter(sources=("batch",), date_from=date(2026, 2, 1), date_to=date(2026, 3, 15)),
        HistoryFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 1)),
        HistoryFilter(models=("nothing",)),
    ]
    for f in filters:
        _compare_rollup_to_rows(store, f)
    assert store.integrity()["rollup_mismatches"] == 0


def test_integrity_names_a_rollup_that_drifted(store):
    store.append_calculations(runs(f1=[0.9, 0.8]), source="t")
    assert store.integrity()["rollup_mismatches"] == 0
    with store.cursor() as cur:  # as a bug would: a row changed behind the rollup's back
        cur.execute("UPDATE calculations SET deleted_at = now() WHERE f1 = 0.8")
    assert store.integrity()["rollup_mismatches"] == 1


@pytest.mark.parametrize("runs", [300_000, 1_000_000])
def test_the_frontier_charts_get_their_sample_dots_at_any_size(tmp_path, runs):
    """At 1M runs the block sample (about one 2,048-row vector) came back empty: the
    frontier charts drew their line and no dot (#18)."""
    import pyarrow as pa

    rng = np.random.default_rng(1)
    f1, cost, hours, latency = (rng.uniform(a, b, runs) for a, b in
                                ((0.5, 0.99), (10, 1000), (1, 10), (5, 100)))  # fmt: skip
    table = pa.table({
        "status": pa.array(["ok"] * runs), "model_name": [f"m{i % 9}" for i in range(runs)],
        "f1": f1, "training_cost": cost, "inference_cost": np.zeros(runs),
        "training_hours": hours, "latency_ms": latency, "cer": f1 / cost, "ter": f1 / hours,
        "psr": f1 / latency,
    })  # fmt: skip
    with Store(tmp_path / "h.duckdb") as store:
        save_batch(store, table, source="cli")
        for where in (ALL, HistoryFilter(models=("m3",))):
            points, total = store.scatter(where, limit=2000)
            assert len(points) == 2000 and total > 2000
            assert points["id"].is_unique and set(points["model_name"]) <= set(
                table["model_name"].to_pylist()[:9]
            )
        again, _ = store.scatter(ALL, limit=2000)
        assert (
            again["id"].tolist() == store.scatter(ALL, limit=2000)[0]["id"].tolist()
        )  # repeatable


def test_the_streamed_download_is_the_whole_export_block_by_block(sample):
    """The History download is written block by block (a 1M-run CSV had been built whole in
    memory, ~1 GB per click); the file is the same as the whole export's, on both backends."""
    import io

    import pyarrow.parquet as pq

    from mlprod.export import CsvOut, ParquetOut, csv_bytes

    xgb = HistoryFilter(models=("xgboost",))
    blocks = list(sample.export_blocks(xgb, rows=7))  # several blocks, and a short last one
    assert len(blocks) > 2 and all(b.num_rows <= 7 for b in blocks)
    whole = sample.export_filtered(xgb)
    csv, parquet = io.BytesIO(), io.BytesIO()
    for out in (CsvOut(csv), ParquetOut(parquet)):
        for block in sample.export_blocks(xgb, rows=7):
            out.write(block)
        out.close()
    assert csv.getvalue() == csv_bytes(whole)
    assert pq.read_table(io.BytesIO(parquet.getvalue())).equals(whole)


def test_a_download_is_estimated_before_it_is_made(sample):
    """The page offers a download only when its file fits in a turn of the memory budget:
    the estimate is within a fifth of the real CSV's size."""
    from mlprod.export import csv_bytes

    per_run = sample.export_bytes_per_run()
    real = len(csv_bytes(sample.export_filtered(ALL))) / sample.summary(ALL)["runs"]
    assert 0.8 * real < per_run < 1.25 * real
