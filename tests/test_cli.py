"""``python -m mlprod`` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlprod.store import Store
from tests.conftest import count, recent

REFERENCE_ARGS = ["--f1", "0.9", "--training-cost", "1000", "--inference-cost", "200",
                  "--training-hours", "10", "--latency-ms", "50"]  # fmt: skip


def run(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "mlprod", *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def test_calc_prints_the_reference_ratios():
    out = run("calc", *REFERENCE_ARGS)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split()[:2] == ["CER", "0.00075"]
    assert lines[1].split()[:2] == ["TER", "0.09"]
    assert lines[2].split()[:2] == ["PSR", "0.018"]
    assert "0.75 F1 per $1,000" in out.stdout


def test_calc_json():
    out = run("calc", *REFERENCE_ARGS, "--json")
    assert json.loads(out.stdout) == {"cer": 0.00075, "ter": 0.09, "psr": 0.018}


def test_f1_from_counts():
    args = [a for a in REFERENCE_ARGS if a not in ("--f1", "0.9")]
    out = run("calc", *args, "--tp", "90", "--fp", "10", "--fn", "10", "--json")
    assert json.loads(out.stdout)["cer"] == 0.00075


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [("--f1", "90", "did you mean 0.90?"), ("--latency-ms", "0", "Latency (ms) must be above 0"),
     ("--training-cost", "-1", "Training cost cannot be negative"),
     ("--training-hours", "inf", "Training time (hours) is infinite"),
     ("--f1", "nan", "F1 score is not a number")],
)  # fmt: skip
def test_bad_input_exit_2_with_message(flag, value, words, tmp_path):
    args = list(REFERENCE_ARGS)
    args[args.index(flag) + 1] = value
    db = tmp_path / "h.duckdb"
    out = run("calc", *args, "--save", "--db", str(db))
    assert out.returncode == 2
    assert words in out.stderr and "Traceback" not in out.stderr
    assert not db.exists()  # nothing saved, not even an empty file


def test_not_a_number_is_a_usage_error():
    args = list(REFERENCE_ARGS)
    args[1] = "high"
    out = run("calc", *args)
    assert out.returncode == 2 and "invalid float value: 'high'" in out.stderr


def test_save_stores_one_row(tmp_path):
    db = tmp_path / "h.duckdb"
    out = run("calc", *REFERENCE_ARGS, "--save", "--db", str(db), "--model-name", "bert")
    assert out.returncode == 0, out.stderr
    with Store(db) as s:
        row, stored = recent(s).iloc[0], count(s)
    assert (row.model_name, row.source, row.cer, stored) == ("bert", "cli", 0.00075, 1)


def test_calc_save_waits_for_a_process_at_work_then_gives_up_with_exit_3(tmp_path, monkeypatch):
    db = tmp_path / "h.duckdb"
    monkeypatch.setenv("MLPROD_DB_WAIT", "0.5")
    with Store(db) as holder, holder.held():  # another process at work the whole time
        out = run("calc", *REFERENCE_ARGS, "--save", "--db", str(db))
    assert out.returncode == 3
    assert "is in use by" in out.stderr and "waited 0.5 s" in out.stderr
    assert "Traceback" not in out.stderr


def test_calc_save_beside_a_process_that_has_the_file_open(tmp_path):
    """A Store holds the file only while it works: the dashboard (or a notebook) with the
    history open keeps nobody from saving."""
    db = tmp_path / "h.duckdb"
    with Store(db) as dashboard:
        assert count(dashboard) == 0
        out = run("calc", *REFERENCE_ARGS, "--save", "--db", str(db))
        assert out.returncode == 0, out.stderr
        assert count(dashboard) == 1


# -- score -------------------------------------------------------------------------------

CANONICAL = "run_id,model_name,f1,training_cost,inference_cost,training_hours,latency_ms\n"


def runs_file(tmp_path, body):
    path = tmp_path / "runs.csv"
    path.write_text(CANONICAL + body)
    return path


def read_csv(path):
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_score_all_good_exit_0(tmp_path):
    path = runs_file(tmp_path, "r1,bert,0.9,1000,200,10,50\nr2,gpt,0.8,100,0,4,20\n")
    out = run("score", str(path), "-o", str(tmp_path / "out.csv"))
    assert out.returncode == 0, out.stderr
    rows = read_csv(tmp_path / "out.csv")
    assert [r["run_id"] for r in rows] == ["r1", "r2"]
    assert (rows[0]["cer"], rows[0]["ter"], rows[0]["psr"]) == ("0.00075", "0.09", "0.018")
    assert {"line", "status", "error", "cer", "ter", "psr", "model_name"} <= rows[0].keys()
    assert "2 rows, 2 scored, 0 with errors" in out.stdout


def test_score_some_errors_exit_1_good_rows_still_written_in_order(tmp_path):
    path = runs_file(tmp_path, "r1,a,0.9,1000,200,10,50\nr2,=HYPERLINK(1),90,1,1,1,1\n"
                               "r3,c,0.5,1,1,1,1\n")  # fmt: skip
    out = run("score", str(path))  # default output beside the input
    assert out.returncode == 1
    rows = read_csv(tmp_path / "runs.scored.csv")
    assert [(r["line"], r["status"]) for r in rows] == [("2", "ok"), ("3", "error"), ("4", "ok")]
    assert "did you mean 0.90?" in rows[1]["error"]
    assert rows[1]["model_name"] == "'=HYPERLINK(1)"  # formula-safe
    assert "1 run (line 3): F1 score must be between 0 and 1" in out.stdout
    # A bad row has no ratios: empty cells, not "nan" text in a spreadsheet.
    assert (rows[1]["cer"], rows[1]["ter"], rows[1]["psr"]) == ("", "", "")
    assert rows[1]["f1"] == "90"


def test_score_to_stdout_keeps_the_summary_out_of_the_csv(tmp_path):
    path = runs_file(tmp_path, "r1,a,0.9,1000,200,10,50\nr2,b,x,1,1,1,1\n")
    out = run("score", str(path), "-o", "-")
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith('"line"')
    assert lines[2].startswith('3,"error","F1 score \'x\' is not a number."')
    assert lines[2].endswith(",,,,,,,,")  # no ratios, no F1 parts: empty cells, not "nan"
    assert "2 rows, 1 scored, 1 with errors" in out.stderr


def test_score_unusable_file_exit_2(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(CANONICAL)
    out = run("score", str(path))
    assert out.returncode == 2 and "header but no rows" in out.stderr
    assert "Traceback" not in out.stderr
    missing = run("score", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    folder = run("score", str(tmp_path))
    assert folder.returncode == 2 and "is a folder" in folder.stderr


def test_score_map_overrides_and_json(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("name,metrics.val_f1,cost_a,inference_cost,training_hours,latency_ms\n"
                    "x,0.9,1000,200,10,50\n")  # fmt: skip
    out = run("score", str(path), "--map", "f1=metrics.val_f1", "--map",
              "training_cost=cost_a", "--json", "-o", "-")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stderr)["ok"] == 1
    assert "0.00075" in out.stdout  # the scored CSV on stdout
    bad = run("score", str(path), "--map", "f1")
    assert bad.returncode == 2 and "FIELD=COLUMN" in bad.stderr


def test_score_save_stores_one_batch(tmp_path):
    path = runs_file(tmp_path, "r1,a,0.9,1000,200,10,50\nr2,b,0,0,0,0,0\n")
    db = tmp_path / "h.duckdb"
    out = run("score", str(path), "--save", "--db", str(db), "--author", "cli-user")
    assert out.returncode == 1
    with Store(db) as s:
        rows = recent(s)
    assert rows["run_id"].tolist() == ["r1"]
    assert (rows.iloc[0].source, rows.iloc[0].author, rows.iloc[0].file_name) == (
        "cli", "cli-user", "runs.csv")  # fmt: skip


def test_score_locked_database_exit_3_file_still_written(tmp_path):
    path = runs_file(tmp_path, "r1,a,0.9,1000,200,10,50\n")
    db = tmp_path / "h.duckdb"
    with Store(db) as holder, holder.held():
        out = run("score", str(path), "--save", "--db", str(db), "-o", str(tmp_path / "o.csv"),
                  "--wait", "0.5")  # fmt: skip
    with Store(db) as holder:
        assert count(holder) == 0
    assert out.returncode == 3
    assert "is in use by" in out.stderr and "PID" in out.stderr
    assert read_csv(tmp_path / "o.csv")[0]["cer"] == "0.00075"


# -- costs built from GPUs, traffic and tokens (issue #6) -----------------------------------

GPU_ARGS = ["--f1", "0.9", "--gpu", "A100-80GB", "--gpus", "8", "--training-hours", "10",
            "--requests-per-month", "2000000", "--cost-per-1k-requests", "0.1", "--months", "1",
            "--latency-ms", "50"]  # fmt: skip


def test_calc_builds_costs_and_prints_them():
    out = run("calc", *GPU_ARGS)
    assert out.returncode == 0, out.stderr
    assert (
        "Training cost = 8 GPUs × 10 h × $1.79/GPU-h (Lambda on-demand, 2026-10-01)" in out.stdout
    )
    assert (
        "Inference cost = 2,000,000 requests/month × $0.1 per 1,000 × 1 month = $200" in out.stdout
    )
    as_json = json.loads(run("calc", *GPU_ARGS, "--json").stdout)
    assert as_json["training_cost"] == pytest.approx(8 * 10 * 1.79)
    assert as_json["cer"] == pytest.approx(0.9 / (8 * 10 * 1.79 + 200), rel=1e-11)


def test_calc_spot_provider_tokens_and_currency():
    args = ["--f1", "0.9", "--gpu", "V100", "--gpus", "2", "--training-hours", "5", "--spot",
            "--provider", "GCP", "--tokens-in", "1000000", "--tokens-out", "1000000",
            "--price-in-per-1m", "1", "--price-out-per-1m", "3", "--months", "2",
            "--latency-ms", "10", "--currency", "EUR", "--json"]  # fmt: skip
    got = json.loads(run("calc", *args).stdout)
    assert got["training_cost"] == pytest.approx(2 * 5 * 0.89 * 0.92)
    assert got["inference_cost"] == pytest.approx((1 * 1 + 1 * 3) * 2)


def test_calc_unknown_gpu_and_missing_costs_exit_2():
    bad = run("calc", *[("X9000" if a == "A100-80GB" else a) for a in GPU_ARGS])
    assert bad.returncode == 2 and "known: A100-40GB, A100-80GB" in bad.stderr
    missing = run("calc", "--f1", "0.9", "--training-hours", "1", "--latency-ms", "1",
                  "--inference-cost", "1")  # fmt: skip
    assert missing.returncode == 2 and "--gpu and --gpus" in missing.stderr


def test_calc_save_keeps_the_assumptions(tmp_path):
    db = tmp_path / "h.duckdb"
    assert run("calc", *GPU_ARGS, "--save", "--db", str(db)).returncode == 0
    with Store(db) as s:
        row = recent(s, 1).iloc[0]
    assert (row.gpu_model, row.gpu_count, row.price_provider) == ("A100-80GB", 8, "Lambda")
    assert row.requests_per_month == 2_000_000


def test_score_wait_saves_once_the_holder_lets_go(tmp_path):
    import time as clock

    path = runs_file(tmp_path, "r1,a,0.9,1000,200,10,50\n")
    db = tmp_path / "h.duckdb"
    holder = Store(db)
    held = holder.held()
    held.__enter__()  # a long save, say
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlprod", "score", str(path), "--save", "--db", str(db),
         "-o", str(tmp_path / "o.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    clock.sleep(1.5)
    assert proc.poll() is None  # still waiting for the lock, with no flag
    held.__exit__(None, None, None)
    holder.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with Store(db) as s:
        assert count(s) == 1


def test_an_output_that_cannot_be_written_stops_the_save(tmp_path):
    """A disk that is full stops the run with its reason in words, and nothing is stored
    (the scored file is written before each block is handed to the save)."""
    path = runs_file(tmp_path, "".join(f"r{i},bert,0.9,1000,200,10,50\n" for i in range(500)))
    db = tmp_path / "h.duckdb"
    out = run("score", str(path), "-o", "/dev/full", "--save", "--db", str(db))
    assert out.returncode == 2 and "internal error" not in out.stderr
    assert "Cannot write the scored rows to /dev/full: No space left on device." in out.stderr
    assert "Saved" not in out.stdout
    with Store(db) as s:
        assert count(s) == 0


def test_an_output_in_a_missing_folder_is_said_in_words(tmp_path):
    path = runs_file(tmp_path, "r1,bert,0.9,1000,200,10,50\n")
    target = tmp_path / "no-such-folder" / "scored.csv"
    out = run("score", str(path), "-o", str(target))
    assert out.returncode == 2 and "internal error" not in out.stderr
    assert f"Cannot write the scored rows to {target}: No such file or directory." in out.stderr
    assert not list(tmp_path.glob("**/*.part"))  # no partial file left behind


def test_score_wait_gives_up_with_exit_3(tmp_path):
    path = runs_file(tmp_path, "r1,a,0.9,1000,200,10,50\n")
    db = tmp_path / "h.duckdb"
    with Store(db) as holder, holder.held():
        out = run("score", str(path), "--save", "--db", str(db), "--wait", "0.5")
    assert out.returncode == 3 and "is in use by" in out.stderr


@pytest.mark.parametrize(
    ("argv", "loaded", "not_loaded"),
    [
        (["--help"], [], ["numpy", "pandas", "pyarrow", "duckdb", "streamlit"]),
        (["score", "RUNS", "-o", "OUT"], ["pyarrow"], ["duckdb", "streamlit"]),
        (["score", "RUNS", "-o", "OUT", "--save", "--db", "DB"], ["duckdb"], ["streamlit"]),
    ],
)
def test_each_command_imports_only_what_it_needs(argv, loaded, not_loaded, tmp_path):
    """A pipeline's ``mlprod --help`` or ``score`` does not pay for DuckDB or Streamlit."""
    path = runs_file(tmp_path, "r1,bert,0.9,1000,200,10,50\n")
    argv = [str(path) if a == "RUNS" else str(tmp_path / "out.csv") if a == "OUT"
            else str(tmp_path / "h.duckdb") if a == "DB" else a for a in argv]  # fmt: skip
    probe = (
        "import sys\nfrom mlprod.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\n"
        "print('LOADED', *sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'duckdb', "
        "'streamlit') if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True)
    modules = done.stderr.rsplit("LOADED", 1)[1].split()
    assert set(loaded) <= set(modules) and not set(not_loaded) & set(modules), done.stderr


class TestTerminalEscapes:
    """Names and cells were printed raw: a run name holding ``ESC]52`` wrote the clipboard,
    ``ESC[2J`` cleared the screen, a line break forged a "Saved" line. Every human-readable
    line shows them as escapes; ``--json`` and the scored CSV keep them exactly."""

    CLIPBOARD = "bert\x1b]52;c;ZXZpbA==\x07"
    CLEAR = "evil\x1b[2J\nSaved 99 rows to the history as batch 7."
    TURNED = "\u202elave"  # a right-to-left override: shows "eval" the wrong way round
    C1 = "csi\x9b31m"  # a one-byte CSI some terminals obey

    def file(self, tmp_path):
        path = tmp_path / "runs.csv"
        path.write_text(
            "run_id,model_name,run_name,f1,training_cost,inference_cost,training_hours,"
            "latency_ms,notes\x1b[8m\n"
            f'r1,"{self.CLIPBOARD}","{self.CLEAR}",0.9,1000,200,10,50,x\n'
            f'r2,"{self.TURNED}","{self.C1}",abc{self.TURNED}\x1b[31m,1,1,1,1,y\n',
            encoding="utf-8",
        )
        return path

    @staticmethod
    def inert(text: str) -> None:
        unshown = [c for c in text if (ord(c) < 32 and c not in "\n\r\t")
                   or 0x7F <= ord(c) <= 0x9F or c in "\u202a\u202b\u202c\u202d\u202e"]  # fmt: skip
        assert unshown == [], text
        assert not any(line.startswith("Saved 99") for line in text.splitlines())

    def test_score_and_save_lines_show_escapes(self, tmp_path):
        out = run("score", str(self.file(tmp_path)), "-o", str(tmp_path / "o.csv"), "--save",
                  "--db", str(tmp_path / "h.duckdb"), "--author", "ann\x1b[2J")  # fmt: skip
        assert out.returncode == 1, out.stderr  # one row with an error
        self.inert(out.stdout + out.stderr)
        assert "bert\\x1b]52;c;ZXZpbA==\\x07" in out.stdout  # shown, as escapes
        assert "evil\\x1b[2J\\nSaved 99 rows" in out.stdout
        assert "abc\\u202elave\\x1b[31m" in out.stdout  # the cell a row error quotes
        with Store(tmp_path / "h.duckdb") as s:  # stored exactly
            assert recent(s, 1)[["model_name", "run_name"]].values.tolist() == [
                [self.CLIPBOARD, self.CLEAR]
            ]

    def test_json_and_csv_stay_exact(self, tmp_path):
        import csv
        import io

        out = run("score", str(self.file(tmp_path)), "-o", "-", "--json")  # CSV out, JSON err
        found = json.loads(out.stderr)
        assert found["best"]["cer"]["model_name"] == self.CLIPBOARD
        assert found["best"]["cer"]["run_name"] == self.CLEAR
        rows = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
        assert [r["model_name"] for r in rows] == [self.CLIPBOARD, self.TURNED]
        assert [r["run_name"] for r in rows] == [self.CLEAR, self.C1]

    def test_calc_and_errors_show_escapes(self, tmp_path):
        out = run("calc", *REFERENCE_ARGS, "--model-name", self.CLEAR, "--save", "--db",
                  str(tmp_path / "h.duckdb"), "--author", "x")  # fmt: skip
        self.inert(out.stdout + out.stderr)
        bad = run("score", str(tmp_path / "no\x1b[2Jsuch.csv"))
        assert bad.returncode == 2 and "no\\x1b[2Jsuch.csv" in bad.stderr
        self.inert(bad.stdout + bad.stderr)
