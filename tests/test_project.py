"""The project's own promises: lint-clean, CI runs the README's test command, layering."""

from __future__ import annotations

import re
import subprocess
import sys

from mlprod.config import PROJECT_DIR


def readme_commands() -> list[str]:
    text = (PROJECT_DIR / "README.md").read_text()
    return re.findall(r"```(?:bash|sh)\n(.+?)\n```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_command = next(c for c in readme_commands() if "pytest" in c)
    ci_lines = (PROJECT_DIR / ".ci" / "run").read_text().splitlines()
    assert test_command.strip() in [line.strip() for line in ci_lines]


def test_readme_start_command_serves_app():
    assert any("streamlit run app.py" in c for c in readme_commands())


def test_ruff_is_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        out = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=PROJECT_DIR, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_the_package_type_checks_strictly():
    """mypy --strict over the whole package (the settings are in pyproject.toml): the
    package ships py.typed, so a notebook's checker trusts these types."""
    out = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=PROJECT_DIR, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def core_modules():
    """Every module of the core, subpackages included."""
    found = sorted((PROJECT_DIR / "mlprod").rglob("*.py"))
    assert len(found) > 20 and any(p.parent.name == "store" for p in found)
    return found


def test_core_never_imports_streamlit_and_pages_never_import_duckdb():
    ui = PROJECT_DIR / "mlprod" / "ui"
    for path in core_modules():
        if ui not in path.parents:
            assert not re.search(r"^\s*(import|from)\s+streamlit", path.read_text(), re.M), path
    for path in [PROJECT_DIR / "app.py", *(PROJECT_DIR / "pages").glob("*.py")]:
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+duckdb", text, re.M), path
        assert "unsafe_allow_html" not in text, path


def test_server_config_keeps_the_protections_on():
    import tomllib

    config = tomllib.loads((PROJECT_DIR / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] == "none"  # details go to the server log
    assert config["server"]["maxUploadSize"] <= 200
    for path in core_modules():
        assert "unsafe_allow_html" not in path.read_text(), path


def test_server_config_spends_no_cpu_on_development_helpers():
    """Watching the sources and a full garbage collection after every script run cost
    the server 0.47 of its 0.64 s of CPU per History visit (tests/benchmarks/browser.py),
    and the watcher ran on the event loop, holding every message back."""
    import tomllib

    from mlprod.cli.launch import streamlit_flags

    path = PROJECT_DIR / ".streamlit" / "config.toml"
    config = tomllib.loads(path.read_text())
    assert config["server"]["fileWatcherType"] == "none"
    assert config["runner"]["postScriptGC"] is False
    # `mlprod ui` from an installed copy runs with the same settings
    flags = streamlit_flags(path)
    assert "--server.fileWatcherType=none" in flags and "--runner.postScriptGC=false" in flags


def test_only_the_store_writes_sql():
    sql = re.compile(r"\b(SELECT .+ FROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b")
    store = PROJECT_DIR / "mlprod" / "store"
    outside = [p for p in core_modules() if store not in p.parents and sql.search(p.read_text())]
    assert outside == []
    for path in [PROJECT_DIR / "app.py", *(PROJECT_DIR / "pages").glob("*.py")]:
        assert not sql.search(path.read_text()), path


def test_every_save_goes_through_the_one_save_path():
    """Outside the store, only mlprod/saving.py calls the store's write methods."""
    writes = re.compile(r"\.(append_calculations|save_calculation)\(")
    callers = [
        p.relative_to(PROJECT_DIR).as_posix()
        for p in [*core_modules(), PROJECT_DIR / "app.py", *(PROJECT_DIR / "pages").glob("*.py")]
        if writes.search(p.read_text()) and "store" not in p.relative_to(PROJECT_DIR).parts
    ]
    assert callers == ["mlprod/saving.py"]


def test_no_module_imports_another_modules_private_name():
    """A name with a leading underscore belongs to its module: what another module needs
    is public (and named for what it is), so a split never hides a dependency."""
    found = {}
    for path in [*core_modules(), PROJECT_DIR / "app.py", *(PROJECT_DIR / "pages").glob("*.py")]:
        for match in re.finditer(r"^\s*from mlprod[\w.]* import (\([^)]*\)|.*)$",
                                 path.read_text(), re.M):  # fmt: skip
            names = re.findall(r"\b(\w+)\b(?: as \w+)?", match[1].strip("()"))
            hidden = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if hidden:
                found[path.relative_to(PROJECT_DIR).as_posix()] = hidden
    assert found == {}


def test_the_store_asks_its_dialect_what_differs_between_backends():
    """Outside the backend's own modules, no part of the store tests which database it
    talks to: what differs is a method or a property of the dialect."""
    asks = re.compile(
        r"isinstance\([^)]*PostgresCursor\)|\.name\s*[!=]=\s*['\"](postgresql|duckdb)"
    )
    own = {"dialect.py", "postgres.py", "connection.py"}
    found = [
        p.name
        for p in (PROJECT_DIR / "mlprod" / "store").glob("*.py")
        if p.name not in own and asks.search(p.read_text())
    ]
    assert found == []


def test_a_benchmark_records_its_figures_in_the_one_benchmarks_document(tmp_path):
    """tests/benchmarks/record.py puts what a benchmark printed in its own block of the
    document, replacing the last recording and leaving every other block as it was."""
    from tests.benchmarks.record import record

    document = tmp_path / "BENCHMARKS.md"
    document.write_text("# Benchmarks\n\n## Measurement log\n\nolder figures\n")
    record("run.py", ["python", "tests/benchmarks/run.py"], '{"rows_per_s": 1000000}\n', document)
    record("history.py", ["python", "tests/benchmarks/history.py"], "overview 65 ms\n", document)
    record("run.py", ["python", "tests/benchmarks/run.py"], '{"rows_per_s": 1200000}\n', document)
    text = document.read_text()
    assert text.count("<!-- recorded: run.py -->") == 1 and "1200000" in text
    assert "1000000" not in text and "overview 65 ms" in text
    assert text.index("history.py") < text.index("## Measurement log") < text.index("older")


def test_no_test_module_imports_another():
    """Helpers that several test modules share live in a conftest, so a test module can be
    moved, renamed or deleted without breaking another."""
    imports = re.compile(r"^\s*from (?:tests(?:\.e2e)?\.|\.)(test_\w+) import", re.M)
    found = {
        p.relative_to(PROJECT_DIR).as_posix(): imports.findall(p.read_text())
        for p in (PROJECT_DIR / "tests").rglob("test_*.py")
        if imports.search(p.read_text())
    }
    assert found == {}
