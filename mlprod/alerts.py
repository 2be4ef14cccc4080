"""Alerts when a saved run regresses, to a chat or any webhook (issue #37).

Configured in the secrets (``.streamlit/secrets.toml``, or the file ``MLPROD_SECRETS``
names)::

    [mlprod.alerts]
    url = "https://hooks.slack.com/services/..."   # or any URL that takes a JSON POST
    below_frontier = 0.02          # a saved run this much quality below its model's frontier
    worse_than_production = 10     # a ratio this many % worse than the run in production
    median_cer_drop = 20           # a batch's median CER this many % below the last batch's
    timeout_seconds = 2            # the most a save waits for the webhook, all tries together
    dashboard_url = "https://mlprod.internal"   # for the link in each message

After a save commits, each rule is asked of the saved batch; each event (a run below the
frontier, a run worse than production, a batch whose median CER dropped) is logged once in
the history (its key is unique there, so two processes never both send it) and posted: a
Slack-compatible body (``{"text": ...}``) to a Slack webhook, a plain JSON body (the event,
its numbers, the link) to anything else. Tries are retried with backoff within
``timeout_seconds``; what is still undelivered stays pending and goes with the next save.
Nothing here ever fails a save: a webhook that is down costs the save at most the timeout.
"""

from __future__ import annotations

import json
import math
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from mlprod.errors import InvalidInput
from mlprod.formatting import format_money, format_ratio
from mlprod.quality import metric_of

if TYPE_CHECKING:
    from mlprod.store import Store

__all__ = ["AlertRules", "Event", "deliver", "events_after", "notify", "rules_from"]

RATIOS = ("cer", "ter", "psr")


@dataclass(frozen=True)
class AlertRules:
    """Where alerts go and when (see the module's docstring). Shares are fractions."""

    url: str
    below_frontier: float | None = None
    worse_than_production: float | None = None
    median_cer_drop: float | None = None
    timeout_seconds: float = 2.0
    dashboard_url: str | None = None
    #: "slack" (a Slack-compatible body) or "json"; by default Slack for a Slack URL.
    format: str = "auto"

    @property
    def slack(self) -> bool:
        if self.format != "auto":
            return self.format == "slack"
        return (urlsplit(self.url).hostname or "").endswith("slack.com")


def rules_from(section: Mapping[str, Any]) -> AlertRules | None:
    """Rules from a ``[mlprod.alerts]`` section (None without a URL: alerts are off).

    >>> rules_from({"url": "http://127.0.0.1:9/hook", "worse_than_production": 10})
    AlertRules(url='http://127.0.0.1:9/hook', below_frontier=None, worse_than_production=0.1, median_cer_drop=None, timeout_seconds=2.0, dashboard_url=None, format='auto')
    """  # noqa: E501
    if not section or not section.get("url"):
        return None
    known = {"url", "below_frontier", "worse_than_production", "median_cer_drop",
             "timeout_seconds", "dashboard_url", "format"}  # fmt: skip
    if unknown := sorted(set(section) - known):
        raise InvalidInput("alerts", f"Unknown alert setting(s): {', '.join(unknown)}.")
    url = str(section["url"])
    if urlsplit(url).scheme not in ("http", "https"):
        raise InvalidInput("alerts", f"The alerts url must be http(s), got {url!r}.")

    def number(name: str, *, percent: bool = False) -> float | None:
        value = section.get(name)
        if value is None:
            return None
        found = float(value)
        if not math.isfinite(found) or found < 0:
            raise InvalidInput(name, f"{name} must be a number of at least 0, got {value!r}.")
        return found / 100 if percent else found

    timeout = number("timeout_seconds")
    return AlertRules(
        url=url,
        below_frontier=number("below_frontier"),
        worse_than_production=number("worse_than_production", percent=True),
        median_cer_drop=number("median_cer_drop", percent=True),
        timeout_seconds=2.0 if timeout is None else min(timeout, 30.0),
        dashboard_url=str(section["dashboard_url"]) if section.get("dashboard_url") else None,
        format=str(section.get("format", "auto")),
    )


def configured() -> AlertRules | None:
    """The team's alert rules from the secrets (None: alerts are off)."""
    from mlprod import config

    section = config.secrets().get("mlprod", {})
    alerts = section.get("alerts", {}) if isinstance(section, dict) else {}
    return rules_from(alerts if isinstance(alerts, dict) else {})


@dataclass(frozen=True)
class Event:
    """One thing worth telling the team, with its numbers and where to look."""

    key: str
    kind: str
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)
    link: str | None = None

    def body(self, rules: AlertRules) -> dict[str, Any]:
        """What is posted: Slack's ``{"text": ...}``, or the event as plain JSON."""
        if rules.slack:
            link = f"\n<{self.link}|Open in mlprod>" if self.link else ""
            return {"text": f"{self.text}{link}"}
        return {"event": self.kind, "key": self.key, "text": self.text,
                "numbers": self.numbers, "link": self.link}  # fmt: skip


def _link(rules: AlertRules, page: str, **params: Any) -> str | None:
    if not rules.dashboard_url:
        return None
    return f"{rules.dashboard_url.rstrip('/')}/{page}?{urlencode(params)}"


def _who(row: Mapping[str, Any]) -> str:
    name = row.get("run_name") or row.get("run_id") or f"run {row['id']}"
    return f"{row.get('model_name') or 'run'} · {name}"


def events_after(store: Store, batch_no: int, rules: AlertRules) -> list[Event]:
    """What the saved batch ``batch_no`` tells the team under ``rules``."""
    events: list[Event] = []
    quality = metric_of(store.batch_metric(batch_no)).score_label
    if rules.below_frontier is not None:
        for row in store.below_frontier(batch_no, rules.below_frontier).to_dict("records"):
            gap = row["best"] - row["f1"]
            events.append(
                Event(
                    f"below-frontier:{row['id']}",
                    "below_frontier",
                    f"{_who(row)} is {format_ratio(gap, 3)} {quality} below its model's "
                    f"frontier: {format_ratio(row['f1'], 4)} where an earlier run reached "
                    f"{format_ratio(row['best'], 4)} for at most "
                    f"{format_money(row['total_cost'])}.",
                    {
                        "run": int(row["id"]),
                        "quality": row["f1"],
                        "frontier": row["best"],
                        "gap": gap,
                        "total_cost": row["total_cost"],
                    },
                    _link(rules, "history", run=int(row["id"])),
                )
            )
    if rules.worse_than_production is not None:
        events += _worse_than_production(store, batch_no, rules, quality)
    if rules.median_cer_drop is not None and (found := store.median_cer(batch_no)):
        drop = 1 - found["median"] / found["previous"] if found["previous"] > 0 else 0.0
        if drop > rules.median_cer_drop:
            events.append(
                Event(
                    f"median-cer:{batch_no}",
                    "median_cer_drop",
                    f"Batch {batch_no}'s median CER fell {drop:.0%}: "
                    f"{format_ratio(found['median'], 4)} over {found['runs']:,} runs, against "
                    f"{format_ratio(found['previous'], 4)} in batch {found['previous_batch']}.",
                    {**found, "batch": batch_no, "drop": drop},
                    _link(rules, "history"),
                )
            )
    return events


def _worse_than_production(
    store: Store, batch_no: int, rules: AlertRules, quality: str
) -> list[Event]:
    """Runs of the batch with a ratio more than the rule's share below the ratio of the
    run in production for their model (the worst ratio of each run counts)."""
    from mlprod.comparison.links import parse_side
    from mlprod.comparison.sides import side_run

    events = []
    for model in store.batch_models(batch_no):
        mark = store.production(model=model)
        if mark is None:
            continue
        production = side_run(parse_side(mark.side), store, noise=False)
        if production.metric.key != store.batch_metric(batch_no):
            continue  # a ratio of another metric is no baseline
        base = production.ratios.as_dict()
        runs = store.batch_runs(batch_no, [model])
        for row in runs.to_dict("records"):
            if production.calculation_id == row["id"]:
                continue
            changes = {r: row[r] / base[r] - 1 for r in RATIOS if base[r] > 0}
            worst = min(changes, key=lambda r: changes[r])
            if changes[worst] >= -rules.worse_than_production:  # type: ignore[operator]
                continue
            events.append(
                Event(
                    f"worse-than-production:{row['id']}",
                    "worse_than_production",
                    f"{_who(row)} has a {worst.upper()} {-changes[worst]:.0%} below the run in "
                    f"production for {model} ({format_ratio(row[worst], 4)} against "
                    f"{format_ratio(base[worst], 4)}; {quality} {format_ratio(row['f1'], 4)} "
                    f"against {format_ratio(production.f1, 4)}).",
                    {
                        "run": int(row["id"]),
                        "production": mark.side,
                        "ratio": worst,
                        "value": row[worst],
                        "production_value": base[worst],
                        "change": changes[worst],
                    },
                    _link(rules, "compare", a=mark.side, b=int(row["id"])),
                )
            )
    return events


@dataclass
class Delivery:
    """What one delivery did: events sent, still pending, and the time it took."""

    sent: int = 0
    pending: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def _post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        if answer.status >= 300:
            raise urllib.error.HTTPError(url, answer.status, "not accepted", answer.headers, None)


def deliver(store: Store, rules: AlertRules, *, budget: float | None = None) -> Delivery:
    """Post every pending event (this save's and any an earlier save could not deliver),
    oldest first, each tried with backoff, all within ``budget`` seconds (the rules'
    timeout): what is still undelivered then stays pending for the next save."""
    budget = rules.timeout_seconds if budget is None else budget
    started = time.monotonic()
    done = Delivery()
    pending = store.pending_alerts()
    for index, (key, payload, _) in enumerate(pending):
        attempts, error, wait = 0, None, 0.1
        while True:
            left = budget - (time.monotonic() - started)
            if left <= 0.05:
                error = error or "no time left in this save's alert budget"
                break
            attempts += 1
            try:
                _post(rules.url, payload.encode(), timeout=min(left, 5.0))
            except (OSError, urllib.error.URLError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                time.sleep(min(wait, max(0.0, budget - (time.monotonic() - started))))
                wait *= 2
                continue
            error = None
            break
        store.alert_tried(key, attempts=attempts, error=error)
        if error is None:
            done.sent += 1
        else:
            done.pending += len(pending) - index  # the rest wait for the next save
            done.errors.append(error)
            break
    done.seconds = time.monotonic() - started
    return done


def notify(store: Store, batch_no: int, rules: AlertRules | None = None) -> Delivery | None:
    """After a save committed: log this batch's events once and deliver what is pending.
    Never raises (a save is never failed by its alerts); a problem is said on stderr."""
    try:
        rules = rules or configured()
        if rules is None:
            return None
        events = events_after(store, batch_no, rules)
        store.log_alerts([(e.key, e.kind, json.dumps(e.body(rules))) for e in events])
        done = deliver(store, rules)
    except Exception as exc:  # an alert never fails the save it follows
        print(f"mlprod: alerts not sent: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if done.errors:
        print(
            f"mlprod: {done.pending} alert(s) not delivered yet ({done.errors[-1]}); they go "
            "with the next save.",
            file=sys.stderr,
        )
    return done
