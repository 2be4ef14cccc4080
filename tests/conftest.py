"""Fixtures: a fresh history per test (a DuckDB file, and a database on a real PostgreSQL
server for the store's tests), every connection closed afterwards."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import adbc_driver_manager
import duckdb
import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from hypothesis import settings
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from mlprod.config import PROJECT_DIR
from mlprod.costs.gpus import default_prices
from mlprod.metrics import calculate
from mlprod.store import ASSUMPTION_COLUMNS, Store
from tests.installed import Installed, install
from tests.mlflow_server import serve
from tests.pg_server import PostgresServer

REFERENCE = {
    "f1": 0.90,
    "training_cost": 1000.0,
    "inference_cost": 200.0,
    "training_hours": 10.0,
    "latency_ms": 50.0,
}


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Installed:
    """A wheel of this tree installed in a fresh virtual environment (tests/installed.py)."""
    return install(tmp_path_factory.mktemp("installed"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history.duckdb"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port for the whole session."""
    server = PostgresServer()
    yield server
    server.remove()


@pytest.fixture
def pg_uri(postgres: PostgresServer) -> Iterator[str]:
    """A new empty database on the session's PostgreSQL server (dropped afterwards)."""
    uri = postgres.database()
    yield uri
    postgres.drop(uri)


@pytest.fixture(params=["duckdb", "postgresql"])
def backend_db(request, db_path: Path) -> str:
    """A new history database on each backend: a DuckDB file, a PostgreSQL database."""
    if request.param == "duckdb":
        return str(db_path)
    return request.getfixturevalue("pg_uri")


# The inner loop's profile (`--hypothesis-profile=quick`, README): a few examples per
# property; the full run (CI) keeps each test's own count.
settings.register_profile("quick", max_examples=10)


def examples(n: int) -> int:
    """``n`` examples for a property test, or fewer under the quick profile."""
    quick = settings.get_current_profile_name() == "quick"
    return min(n, settings.default.max_examples) if quick else n


@pytest.fixture(scope="session")
def history_template(tmp_path_factory) -> Path:
    """An empty history file with every migration applied, made once: a test that needs
    many fresh histories copies it (~0.03 s) instead of migrating a new one (~0.18 s)."""
    path = tmp_path_factory.mktemp("template") / "template.duckdb"
    with Store(path):
        pass
    return path


def fresh_history(template: Path, folder: Path) -> Path:
    """A new, empty history in ``folder``: a copy of ``template``."""
    path = folder / "history.duckdb"
    shutil.copyfile(template, path)
    return path


@pytest.fixture
def duckdb_store(db_path: Path) -> Iterator[Store]:
    """A new history in a DuckDB file (for what only a file does: locks, settings)."""
    with Store(db_path) as opened:
        yield opened


#: What a statement the database refuses (NOT NULL, a unique key) raises, per backend.
CONSTRAINT_ERRORS = (duckdb.ConstraintException, adbc_driver_manager.IntegrityError)


@pytest.fixture
def store(backend_db: str) -> Iterator[Store]:
    """A new, empty history, on each backend in turn: the store behaves the same on both."""
    with Store(backend_db) as opened:
        yield opened


@pytest.fixture
def app(db_path, monkeypatch):
    monkeypatch.setenv("MLPROD_DB", str(db_path))
    # Our layout has pages/ beside app.py. AppTest resets Streamlit's "legacy pages/
    # folder" flag before every run, so each rerun would execute the page file without
    # app.py (no sidebar). A real server clears that flag for good the first time
    # st.navigation runs; do the same here.
    original_init = PagesManager.__init__

    def init_as_a_server_does(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init_as_a_server_does)
    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=30)
    at.session_state["sidebar-author"] = "tester"  # saves need a name (sign-in off)
    yield at
    st.cache_resource.clear()
    st.cache_data.clear()


# What the history holds, read straight from the tables: the tests' own view of a save,
# independent of the history page's queries.
_RECENT = (
    "SELECT h.*, f.precision, f.recall, f.tp, f.fp, f.fn, "
    + ", ".join(f"a.{c}" for c in ASSUMPTION_COLUMNS)
    + " "
    "FROM history h LEFT JOIN f1_inputs f ON f.calculation_id = h.id "
    "LEFT JOIN cost_assumptions a ON a.calculation_id = h.id {where} "
    "ORDER BY h.created_at DESC, h.id DESC LIMIT ?"
)


def recent(store: Store, limit: int = 20, *, include_deleted: bool = False):
    """The newest stored calculations first, every stored column (a DataFrame)."""
    where = "" if include_deleted else "WHERE h.deleted_at IS NULL"
    with store.cursor() as cur:
        return cur.execute(_RECENT.format(where=where), [limit]).df()


def count(store: Store, *, include_deleted: bool = False) -> int:
    """How many calculations are stored (live ones only, by default)."""
    where = "" if include_deleted else " WHERE deleted_at IS NULL"
    with store.cursor() as cur:
        return int(cur.execute(f"SELECT count(*) FROM calculations{where}").fetchone()[0])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """The address of a real MLflow tracking server with the runs of
    :func:`tests.mlflow_server.log_runs`, for the whole session."""
    yield from serve(tmp_path_factory)


def text(markdown: str) -> str:
    """A markdown element as a person reads it: escapes and the invisible word joiners that
    keep addresses from becoming links (see mlprod.text.md) removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def record(**change):
    inputs = {**REFERENCE, **change}
    return {**inputs, **calculate(**inputs).as_dict(), "model_name": "resnet"}


#: When the tracker runs of ``search_runs_frame`` start.
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def search_runs_frame(n: int = 4) -> pd.DataFrame:
    """What ``mlflow.search_runs()`` returns for runs logged without a cost."""
    gpus = ["NVIDIA A100-SXM4-80GB", "Tesla T4", "NVIDIA H100 80GB HBM3", "H100 SXM"]
    return pd.DataFrame({
        "run_id": [f"run{i}" for i in range(n)],
        "experiment_id": ["1"] * n,
        "status": ["FINISHED"] * n,
        "start_time": pd.to_datetime([START + timedelta(hours=i) for i in range(n)], utc=True),
        "end_time": pd.to_datetime(
            [START + timedelta(hours=i, minutes=30 * (i + 1)) for i in range(n)], utc=True
        ),
        "metrics.val_f1": [0.8 + i / 100 for i in range(n)],
        "metrics.latency_ms": [20.0 + i for i in range(n)],
        "params.model": [f"bert-{i}" for i in range(n)],
        "params.gpu": [gpus[i % len(gpus)] for i in range(n)],
        "params.gpus": [str(1 + i % 2) for i in range(n)],
        "tags.mlflow.runName": [f"r{i}" for i in range(n)],
    })  # fmt: skip


def expected_cer(frame: pd.DataFrame, inference: float) -> list[float]:
    """CER computed here from the price table: cheapest on-demand × GPUs × hours."""
    table = default_prices()
    out = []
    for row in frame.to_dict("records"):
        hours = (row["end_time"] - row["start_time"]).total_seconds() / 3600
        price = table.price(table.canonical(row["params.gpu"])).on_demand
        cost = price * int(row["params.gpus"]) * hours + inference
        out.append(row["metrics.val_f1"] / cost)
    return out


def scored_rows(n: int, *, seed: int = 0, prefix: str = "run") -> pa.Table:
    """``n`` scored rows as the batch path hands them to the store."""
    f1 = [0.5 + (i * 7919 + seed) % 400 / 1000 for i in range(n)]
    return pa.table({
        "run_id": [f"{prefix}-{seed}-{i}" for i in range(n)],
        "model_name": [f"model-{i % 5}" for i in range(n)],
        "f1": f1, "training_cost": [100.0 + i % 50 for i in range(n)],
        "inference_cost": [20.0] * n, "training_hours": [2.0] * n,
        "latency_ms": [10.0 + i % 30 for i in range(n)],
        "cer": [f / 120 for f in f1], "ter": [f / 2 for f in f1], "psr": [f / 10 for f in f1],
        "status": ["ok"] * n,
    })  # fmt: skip


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, as an image viewer reads it."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def api_70b_vs_ft_7b_on_two_l4s():
    """The reviewer's question: a 70B model through an API, per token, or a fine-tuned 7B
    on two L4s that serve all month."""
    from mlprod.comparison.compare import Run
    from mlprod.costs.scenario import CostScenario, build_costs

    api = build_costs(
        CostScenario(training_cost=0, llm_model="llama-3.3-70b-instruct",
                     tokens_in_per_month=600e6, tokens_out_per_month=200e6, months=1),
        training_hours=1,
    )  # fmt: skip
    own = build_costs(
        CostScenario(gpu_model="A100-80GB", gpu_count=8, gpu_hours=6, serving_gpu="L4",
                     serving_gpus=2, replicas=1, months=1, requests_per_month=2e6),
        training_hours=6,
    )  # fmt: skip
    a = Run(0.91, api.training_cost, api.inference_cost, 1, 900, name="70B via API",
            assumptions=api.assumptions | {"requests_per_month": 2e6})  # fmt: skip
    b = Run(0.89, own.training_cost, own.inference_cost, 6, 120, name="fine-tuned 7B",
            assumptions=own.assumptions)  # fmt: skip
    return a, b


def save_reviewer_runs(db) -> dict[str, int]:
    """The two runs of :func:`api_70b_vs_ft_7b_on_two_l4s`, saved to the history at
    ``db``: their ids by model name."""
    from mlprod.store import Store

    with Store(db) as store:
        for key, run in zip("ab", api_70b_vs_ft_7b_on_two_l4s(), strict=True):
            store.save_calculation(
                {"model_name": run.name, "f1": run.f1, "training_cost": run.training_cost,
                 "inference_cost": run.inference_cost, "training_hours": run.training_hours,
                 "latency_ms": run.latency_ms, **run.ratios.as_dict(), **run.assumptions},
                calc_key=key,
            )  # fmt: skip
        return {str(k): int(v) for k, v in
                store.latest_per_model(2).set_index("model_name")["id"].items()}  # fmt: skip


def batch_page_with_runs(app, tmp_path):
    """The Batch page (AppTest) with an MLflow search_runs export uploaded."""
    path = tmp_path / "runs.csv"
    search_runs_frame().to_csv(path, index=False)
    app.run()
    app.switch_page("pages/batch.py").run()
    app.file_uploader(key="batch-upload").upload("runs.csv", path.read_bytes(), "text/csv")
    app.run()
    assert not app.exception
    return app


#: Browser test modules in the first of two lanes (the rest in the second), balanced by
#: their durations: a lane runs one browser test at a time.
_FIRST_LANE = {"test_reliability_browser", "test_installed_browser", "test_history_browser",
               "test_compare_browser", "test_safe_defaults_browser"}  # fmt: skip


def pytest_collection_modifyitems(items):
    """Browser tests run in two lanes (``-n 2 --dist loadgroup``), a module's tests in one
    lane, since they share its server; the other tests fill both workers around them."""
    for item in items:
        if item.get_closest_marker("e2e"):
            lane = "1" if item.module.__name__.rsplit(".", 1)[-1] in _FIRST_LANE else "2"
            item.add_marker(pytest.mark.xdist_group(f"browser-{lane}"))


def upload_tracker_files(app, tool: str, files, metric: str | None = None) -> None:
    """On the Batch page: "Tracker files", ``tool`` picked (and ``metric``), ``files``
    uploaded as a person drops them."""
    app.run()
    app.switch_page("pages/batch.py").run()
    app.radio(key="batch-source").set_value("Tracker files").run()
    if metric is not None:
        app.selectbox(key="batch-metric").set_value(metric).run()
    app.selectbox(key="batch-tracker-name").set_value(tool).run()
    uploader = app.file_uploader(key="batch-tracker-files")
    for path in files:
        uploader.upload(path.name, path.read_bytes(), "application/octet-stream")
    uploader.run()
    assert not app.exception and not app.error
