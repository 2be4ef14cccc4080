"""Alerts when a saved run regresses (issue #37): received by an HTTP server the tests run
on loopback, one message per event with the numbers the tests work out; a receiver that is
down or hangs never loses an alert nor holds a save past the rules' timeout."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from mlprod import alerts
from mlprod.access import Person
from mlprod.config import PROJECT_DIR
from mlprod.saving import save_batch
from mlprod.store import ROWS_PER_BATCH, HistoryFilter, Store
from tests.mlflow_server import free_port


class Receiver:
    """A webhook on loopback: keeps every JSON body posted to it; ``hold`` makes it wait
    that long before answering (a receiver that hangs)."""

    def __init__(self, port: int | None = None, *, hold: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.answered = threading.Event()
        received = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.bodies.append(json.loads(self.rfile.read(length)))
                if hold:
                    threading.Event().wait(hold)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")
                received.answered.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


def runs(*rows: tuple[str, str, float, float, float]) -> pd.DataFrame:
    """Runs of (model, run name, F1, training cost, latency ms); 10 h, $0 inference."""
    return pd.DataFrame(
        [
            {"model_name": m, "run_name": n, "f1": f1, "training_cost": cost,
             "inference_cost": 0.0, "training_hours": 10.0, "latency_ms": latency}
            for m, n, f1, cost, latency in rows
        ]
    )  # fmt: skip


def save(store: Store, frame: pd.DataFrame, name: str = "runs.csv") -> int:
    import mlprod

    scored = mlprod.score(frame)
    import pyarrow as pa

    return save_batch(store, pa.Table.from_pandas(scored), source="cli", file_name=name)


def secrets_file(tmp_path: Path, url: str, **rules: object) -> Path:
    lines = ["[mlprod.alerts]", f'url = "{url}"', 'dashboard_url = "https://mlprod.test"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in rules.items()]
    path = tmp_path / "secrets.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_cli_save_below_the_frontier_sends_one_message_with_its_numbers(
    receiver, tmp_path, db_path
):
    with Store(db_path) as store:
        save(store, runs(("bert", "bert-cheap", 0.90, 500.0, 20.0)))  # the frontier
    new = tmp_path / "new.csv"
    runs(("bert", "bert-dear", 0.85, 800.0, 20.0), ("bert", "bert-best", 0.93, 900.0, 20.0),
         ("vit", "vit-1", 0.5, 10.0, 20.0)).to_csv(new, index=False)  # fmt: skip
    env = {**os.environ, "MLPROD_SECRETS": str(secrets_file(tmp_path, receiver.url,
                                                             below_frontier=0.02))}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "mlprod", "score", str(new), "--save", "--db", str(db_path),
         "-o", str(tmp_path / "o.csv")],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(receiver.bodies) == 1  # bert-dear only: bert-best is above, vit is alone
    body = receiver.bodies[0]
    assert body["event"] == "below_frontier" and body["numbers"]["gap"] == pytest.approx(0.05)
    assert (body["numbers"]["quality"], body["numbers"]["frontier"]) == (0.85, 0.90)
    assert "bert · bert-dear is 0.05 F1 below its model's frontier" in body["text"]
    assert body["link"].startswith("https://mlprod.test/history?run=")
    with Store(db_path) as store:  # logged as sent, once
        log = store.alert_log()
        assert log["status"].tolist() == ["sent"] and log["attempts"].tolist() == [1]
        batch = int(log["event_key"][0].split(":")[1]) // ROWS_PER_BATCH
        rules = alerts.rules_from({"url": receiver.url, "below_frontier": 0.02})
        again = alerts.notify(store, batch, rules)
    assert again is not None and again.sent == 0 and len(receiver.bodies) == 1  # not twice


def test_worse_than_production_and_a_median_cer_drop_each_say_their_numbers(receiver, db_path):
    rules = alerts.rules_from(
        {"url": receiver.url, "worse_than_production": 20, "median_cer_drop": 25,
         "format": "slack", "dashboard_url": "https://mlprod.test"}
    )  # fmt: skip
    with Store(db_path) as store:
        first = save(store, runs(("bert", "prod", 0.9, 1000.0, 50.0)), "nightly.csv")
        store.mark_production(str(first * ROWS_PER_BATCH), scope_kind="model", scope="bert",
                              who=Person.local("ann"))  # fmt: skip
        second = save(store, runs(("bert", "dearer", 0.9, 2000.0, 50.0)), "nightly.csv")
        done = alerts.notify(store, second, rules)
    assert done is not None and done.sent == 2 and len(receiver.bodies) == 2
    texts = [b["text"] for b in receiver.bodies]  # Slack-compatible bodies: text only
    assert all(set(b) == {"text"} for b in receiver.bodies)
    worse = next(t for t in texts if "production" in t)  # CER 0.9 / 2,000 against 0.9 / 1,000
    assert "bert · dearer has a CER 50% below the run in production for bert" in worse
    assert "(0.00045 against 0.0009; F1 0.9 against 0.9)" in worse
    drop = next(t for t in texts if "median CER" in t)
    assert f"Batch {second}'s median CER fell 50%: 0.00045 over 1 runs" in drop
    assert f"against 0.0009 in batch {first}" in drop
    assert "<https://mlprod.test/compare?a=" in worse  # the link, as Slack writes one


def test_a_down_webhook_never_fails_a_save_and_its_alert_goes_with_the_next_save(tmp_path, db_path):
    port = free_port()  # nothing listens here yet
    rules = alerts.rules_from({"url": f"http://127.0.0.1:{port}/hook", "below_frontier": 0.0,
                               "timeout_seconds": 1})  # fmt: skip
    with Store(db_path) as store:
        save(store, runs(("bert", "a", 0.9, 100.0, 20.0)))
        batch = save(store, runs(("bert", "b", 0.8, 200.0, 20.0)))
        done = alerts.notify(store, batch, rules)
        assert done is not None and (done.sent, done.pending) == (0, 1)
        assert len(store.history_page(HistoryFilter())) == 2  # the save itself stood
        log = store.alert_log()
        assert log["status"].tolist() == ["pending"] and log["attempts"][0] >= 1
        receiver = Receiver(port)  # the receiver comes back
        try:
            later = save(store, runs(("vit", "c", 0.5, 10.0, 20.0)))
            done = alerts.notify(store, later, rules)
        finally:
            receiver.stop()
    assert done is not None and done.sent == 1 and len(receiver.bodies) == 1  # nothing lost
    assert receiver.bodies[0]["numbers"]["quality"] == 0.8


def test_a_receiver_that_hangs_holds_the_save_no_longer_than_the_timeout(db_path):
    hanging = Receiver(hold=30.0)
    rules = alerts.rules_from({"url": hanging.url, "below_frontier": 0.0, "timeout_seconds": 1})
    try:
        with Store(db_path) as store:
            save(store, runs(("bert", "a", 0.9, 100.0, 20.0)))
            batch = save(store, runs(("bert", "b", 0.8, 200.0, 20.0)))
            done = alerts.notify(store, batch, rules)
            # the save's part is over while the receiver still holds the request
            assert not hanging.answered.is_set()
            assert done is not None and done.pending == 1
            assert store.alert_log()["status"].tolist() == ["pending"]
    finally:
        hanging.stop()


def test_the_rules_are_asked_alike_of_both_backends(store, receiver):
    """The same saves on the DuckDB file and on a PostgreSQL server: the same events."""
    rules = alerts.rules_from(
        {"url": receiver.url, "below_frontier": 0.01, "worse_than_production": 20,
         "median_cer_drop": 25}
    )  # fmt: skip
    prod, cheap = ("bert", "prod", 0.9, 1000.0, 50.0), ("bert", "cheap", 0.92, 500.0, 50.0)
    first = save(store, runs(prod, cheap), "nightly.csv")
    store.mark_production(str(first * ROWS_PER_BATCH), scope_kind="model", scope="bert",
                          who=Person.local("ann"))  # fmt: skip
    second = save(store, runs(("bert", "dearer", 0.9, 2000.0, 50.0)), "nightly.csv")
    found = {e.kind: e for e in alerts.events_after(store, second, rules)}
    assert set(found) == {"below_frontier", "worse_than_production", "median_cer_drop"}
    assert found["below_frontier"].numbers["gap"] == pytest.approx(0.02)
    assert found["worse_than_production"].numbers["change"] == pytest.approx(-0.5)
    assert found["median_cer_drop"].numbers["median"] == pytest.approx(0.9 / 2000)
    before = (0.9 / 1000 + 0.92 / 500) / 2  # the median of two runs
    assert found["median_cer_drop"].numbers["previous"] == pytest.approx(before)


class TestDashboard:
    def test_a_calculator_save_below_the_frontier_is_sent(self, app, db_path, tmp_path,
                                                          receiver, monkeypatch):  # fmt: skip
        monkeypatch.setenv(
            "MLPROD_SECRETS", str(secrets_file(tmp_path, receiver.url, below_frontier=0.01))
        )
        with Store(db_path) as store:
            save(store, runs(("resnet", "cheap", 0.95, 100.0, 50.0)))
        app.run()
        app.text_input(key="calc-model-name").input("resnet")  # F1 0.9 for $1,200
        app.button(key="calc-submit").click().run()
        app.button(key="calc-save").click().run()
        assert "Saved" in app.success[0].value
        assert len(receiver.bodies) == 1 and receiver.bodies[0]["event"] == "below_frontier"
        assert receiver.bodies[0]["numbers"]["gap"] == pytest.approx(0.05)


def test_a_mistyped_alerts_section_never_fails_a_save(tmp_path, db_path, monkeypatch, capsys):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[mlprod.alerts]\nurl = "http://127.0.0.1:9/hook"\nbelow_frontir = 0.1\n')
    monkeypatch.setenv("MLPROD_SECRETS", str(secrets))
    with Store(db_path) as store:
        save(store, runs(("bert", "a", 0.9, 100.0, 20.0)))
        assert len(store.history_page(HistoryFilter())) == 1  # saved
    said = capsys.readouterr().err
    assert "alerts are off" in said and "Unknown alert setting(s): below_frontir" in said
