"""mlprod installed as a package: the wheel in a fresh virtual environment, used from
another folder, next to MLflow (the browser half is in e2e/test_installed_browser.py)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from mlprod.config import PROJECT_DIR
from tests.installed import tree

pytestmark = pytest.mark.slow  # a wheel built and installed into a fresh virtual environment

RUNS = PROJECT_DIR / "tests" / "data" / "mlflow_search_runs.csv"


def _gpu_runs(folder: Path) -> Path:
    """Runs with GPUs and no training cost: priced from the GPU table the copy ships."""
    path = folder / "gpu_runs.csv"
    path.write_text(
        "model_name,f1,gpu_model,gpu_count,training_hours,latency_ms,inference_cost\n"
        "bert,0.9,NVIDIA A100-SXM4-80GB,8,10,50,200\n"
    )
    return path


def test_the_wheel_carries_the_dashboard_and_its_tables_but_no_database(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for shipped in ("app.py", "pages/calculator.py", "pages/history.py", ".streamlit/config.toml",
                    "data/gpu_prices.csv", "data/gpu_aliases.csv", "data/fx_rates.csv",
                    "data/llm_prices.csv", "data/sample_runs.csv", "pages/guide.py"):  # fmt: skip
        assert f"mlprod/dashboard/{shipped}" in names
    assert "mlprod/py.typed" in names
    assert not [n for n in names if n.endswith((".duckdb", ".wal", ".pyc")) or "tests/" in n]


def test_the_command_scores_from_another_folder_and_writes_where_documented(installed, tmp_path):
    before = tree(installed.site_packages)
    work = tmp_path / "somewhere" / "else"
    work.mkdir(parents=True)

    scored = installed.run("score", str(RUNS), "-o", "scored.csv", "--save", "--json", cwd=work)
    assert scored.returncode == 1, scored.stderr  # the file has 8 bad rows on purpose
    report = json.loads(scored.stdout)
    assert (report["rows"], report["ok"], report["saved"]) == (300, 292, 292)
    assert (work / "scored.csv").exists()
    database = installed.home / ".local" / "share" / "mlprod" / "mlprod.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM calculations").fetchone()[0] == 292

    # The shipped GPU table prices a run with GPUs and no cost (cheapest A100 80 GB on-demand).
    priced = installed.run("score", str(_gpu_runs(work)), "-o", "-", cwd=work)
    assert priced.returncode == 0, priced.stderr
    row = next(csv.DictReader(priced.stdout.splitlines()))
    assert float(row["training_cost"]) == 8 * 10 * 1.79  # Lambda, 2026-10-01, in the table

    # ... and the team's own table overrides it.
    own = tmp_path / "our_prices.csv"
    own.write_text(
        "provider,gpu_model,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour,as_of,source\n"
        "OnPrem,A100-80GB,0.5,,2026-11-01,our cluster\n"
    )
    ours = installed.run(
        "score", str(_gpu_runs(work)), "-o", "-", cwd=work, MLPROD_GPU_PRICES=str(own)
    )
    assert ours.returncode == 0, ours.stderr
    assert float(next(csv.DictReader(ours.stdout.splitlines()))["training_cost"]) == 40.0

    assert tree(installed.site_packages) == before  # nothing written into site-packages


def test_every_command_answers_from_the_installed_copy(installed, tmp_path):
    for command in ([], ["calc"], ["score"], ["import", "mlflow"], ["backup"], ["restore"],
                    ["ui"]):  # fmt: skip
        done = installed.run(*command, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "usage: mlprod" in done.stdout
    calc = installed.run(
        "calc", "--f1", "0.9", "--training-cost", "1000", "--inference-cost", "200",
        "--training-hours", "10", "--latency-ms", "50", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(calc.stdout) == {"cer": 0.00075, "ter": 0.09, "psr": 0.018}
    version = installed.run("--version", cwd=tmp_path)
    assert version.stdout.strip() == "mlprod 0.1.0"


def test_it_resolves_next_to_mlflow(installed, tmp_path):
    """``pip install mlflow==3.17.2 mlprod`` finds a set of versions (nothing installed)."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q",
         "--report", str(report), "mlflow==3.17.2", str(installed.wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    chosen = {i["metadata"]["name"]: i["metadata"]["version"]
              for i in json.loads(report.read_text())["install"]}  # fmt: skip
    assert chosen["mlflow"] == "3.17.2" and chosen["mlprod"] == "0.1.0"
    assert int(chosen["pyarrow"].split(".")[0]) < 26  # MLflow's cap, inside our range


def test_the_library_is_typed_and_lazy(installed, tmp_path):
    """``import mlprod`` loads no numpy or DuckDB until a function needs them."""
    probe = (
        "import sys, mlprod; heavy = [m for m in ('numpy', 'duckdb', 'pandas', 'streamlit') "
        "if m in sys.modules]; mlprod.calculate; print(heavy, 'numpy' in sys.modules)"
    )
    done = subprocess.run([str(installed.bin / "python"), "-c", probe], cwd=tmp_path,
                          env=installed.env(), capture_output=True, text=True)  # fmt: skip
    assert done.stdout.split() == ["[]", "True"], done.stderr


def test_the_installed_copy_can_sign_in(installed, tmp_path):
    """st.login needs Streamlit's auth extra (Authlib, httpx): without it "Sign in" raised
    StreamlitMissingAuthlibError and the identity provider never got a request."""
    probe = (
        "from authlib.integrations import starlette_client; import httpx; "
        "from streamlit.web.server.starlette.starlette_auth_routes import _create_oauth_client; "
        "print('ok')"
    )
    done = subprocess.run([str(installed.bin / "python"), "-c", probe], cwd=tmp_path,
                          env=installed.env(), capture_output=True, text=True)  # fmt: skip
    assert done.stdout.strip() == "ok", done.stderr
