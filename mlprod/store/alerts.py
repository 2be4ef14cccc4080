"""What alerts ask the history after a save (issue #37), and the log of every alert: each
event once (its key is the table's primary key, so two processes cannot both send it),
pending until a webhook took it. Mixed into ``Store``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from mlprod.store.connection import Connection
from mlprod.store.dialect import ROWS_PER_BATCH
from mlprod.store.schema import utc_now

__all__ = ["AlertLog"]

#: The columns of a run an alert names.
_RUN = "c.id, c.model_name, c.run_name, c.run_id, c.f1, c.training_cost + c.inference_cost"


def _batch_ids(batch_no: int) -> tuple[int, int]:
    return batch_no * ROWS_PER_BATCH, (batch_no + 1) * ROWS_PER_BATCH - 1


class AlertLog(Connection):
    """The questions alerts ask of a saved batch, and the alert log."""

    def batch_metric(self, batch_no: int) -> str:
        with self.cursor() as cur:
            row = cur.execute(
                "SELECT coalesce(metric, 'f1') FROM batches WHERE batch_no = ?", [batch_no]
            ).fetchone()
        return str(row[0]) if row else "f1"

    def below_frontier(self, batch_no: int, gap: float, *, limit: int = 20) -> pd.DataFrame:
        """Runs of the batch whose quality is more than ``gap`` below the best an earlier
        run of the same model (and metric) reached at no more total cost: ``id,
        model_name, run_name, run_id, f1, total_cost, best``, the widest gaps
        first. One pass over the models' runs sorted by cost (a running maximum), not a
        join of every run with every other."""
        lo, hi = _batch_ids(batch_no)
        with self.cursor() as cur:
            return cur.execute(
                f"WITH fresh AS (SELECT {_RUN} AS total_cost FROM calculations c "
                "WHERE c.id BETWEEN ? AND ? AND c.deleted_at IS NULL "
                "AND c.model_name IS NOT NULL), "
                # The earlier runs that matter are on their group's frontier (a run on the
                # model's frontier is on its own group's): the kept frontier runs, not all.
                "earlier AS (SELECT f.model_name, f.f1, f.total_cost FROM frontier_runs f "
                "JOIN batches b ON b.batch_no = f.batch_no WHERE f.batch_no <> ? "
                "AND f.model_name IN (SELECT DISTINCT model_name FROM fresh) "
                "AND coalesce(b.metric, 'f1') = (SELECT coalesce(metric, 'f1') FROM batches "
                "WHERE batch_no = ?)), "
                "runs AS (SELECT id, model_name, run_name, run_id, f1, total_cost, "
                "true AS fresh FROM fresh UNION ALL SELECT NULL, model_name, NULL, NULL, f1, "
                "total_cost, false FROM earlier), "
                "ranked AS (SELECT *, max(CASE WHEN fresh THEN NULL ELSE f1 END) OVER ("
                "PARTITION BY model_name ORDER BY total_cost, fresh ROWS BETWEEN UNBOUNDED "
                "PRECEDING AND CURRENT ROW) AS best FROM runs) "
                "SELECT id, model_name, run_name, run_id, f1, total_cost, best FROM ranked "
                "WHERE fresh AND best - f1 > ? ORDER BY best - f1 DESC, id LIMIT ?",
                [lo, hi, batch_no, batch_no, gap, limit],
            ).df()

    def batch_runs(self, batch_no: int, models: list[str], *, limit: int = 10_000) -> pd.DataFrame:
        """The live runs of the batch of these models, with their ratios."""
        lo, hi = _batch_ids(batch_no)
        with self.cursor() as cur:
            return cur.execute(
                f"SELECT {_RUN} AS total_cost, c.cer, c.ter, c.psr, c.training_hours, "
                "c.latency_ms FROM calculations c WHERE c.id BETWEEN ? AND ? "
                "AND c.deleted_at IS NULL AND c.model_name IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY c.id LIMIT ?",
                [lo, hi, models, limit],
            ).df()

    def batch_models(self, batch_no: int) -> list[str]:
        lo, hi = _batch_ids(batch_no)
        with self.cursor() as cur:
            return [
                r[0]
                for r in cur.execute(
                    "SELECT DISTINCT model_name FROM calculations WHERE id BETWEEN ? AND ? "
                    "AND model_name IS NOT NULL ORDER BY 1",
                    [lo, hi],
                ).fetchall()
            ]

    def median_cer(self, batch_no: int) -> dict[str, Any] | None:
        """The batch's median CER and that of the batch saved before it from the same
        source and file (a cron import's previous run; else from the same source), on the
        same metric: ``median, previous, previous_batch, runs``. None without both."""
        lo, hi = _batch_ids(batch_no)
        median = "percentile_cont(0.5) WITHIN GROUP (ORDER BY cer)"
        with self.cursor() as cur:
            now = cur.execute(
                f"SELECT {median}, count(*) FROM calculations WHERE id BETWEEN ? AND ? "
                "AND deleted_at IS NULL",
                [lo, hi],
            ).fetchone()
            before = cur.execute(
                "SELECT p.batch_no FROM batches p JOIN batches b ON b.batch_no = ? "
                "WHERE p.batch_no < b.batch_no AND p.source = b.source "
                "AND coalesce(p.metric, 'f1') = coalesce(b.metric, 'f1') AND p.row_count > 0 "
                "ORDER BY (p.file_name IS NOT DISTINCT FROM b.file_name) DESC, p.batch_no DESC "
                "LIMIT 1",
                [batch_no],
            ).fetchone()
            if not now or now[0] is None or before is None:
                return None
            plo, phi = _batch_ids(int(before[0]))
            previous = cur.execute(
                f"SELECT {median} FROM calculations WHERE id BETWEEN ? AND ? "
                "AND deleted_at IS NULL",
                [plo, phi],
            ).fetchone()
        if not previous or previous[0] is None:
            return None
        return {
            "median": float(now[0]),
            "runs": int(now[1]),
            "previous": float(previous[0]),
            "previous_batch": int(before[0]),
        }

    # -- the log -----------------------------------------------------------------------------

    def log_alerts(self, events: list[tuple[str, str, str]]) -> list[str]:
        """Record ``(key, kind, payload)`` events as pending; returns the keys that were
        new (an event already logged, by this or another process, is not sent again)."""
        if not events:
            return []
        now = utc_now()
        fresh = []
        with self.transaction() as cur:
            for key, kind, payload in events:
                added = cur.execute(
                    "INSERT INTO alert_log (event_key, kind, created_at, payload, status, "
                    "attempts) VALUES (?, ?, ?, ?, 'pending', 0) ON CONFLICT DO NOTHING "
                    "RETURNING event_key",
                    [key, kind, now, payload],
                ).fetchall()
                fresh += [r[0] for r in added]
        return fresh

    def pending_alerts(self, *, limit: int = 50) -> list[tuple[str, str, int]]:
        """Events not delivered yet, oldest first: ``(key, payload, attempts)``."""
        with self.cursor() as cur:
            return [
                (str(k), str(p), int(a))
                for k, p, a in cur.execute(
                    "SELECT event_key, payload, attempts FROM alert_log WHERE status = 'pending' "
                    "ORDER BY created_at, event_key LIMIT ?",
                    [limit],
                ).fetchall()
            ]

    def alert_tried(self, key: str, *, attempts: int, error: str | None) -> None:
        """After a delivery attempt: sent (``error`` None) or still pending, and why."""
        sent_at: datetime | None = utc_now() if error is None else None
        with self.transaction() as cur:
            cur.execute(
                "UPDATE alert_log SET attempts = attempts + ?, status = ?, last_error = ?, "
                "sent_at = ? WHERE event_key = ?",
                [attempts, "pending" if error else "sent", error, sent_at, key],
            )

    def alert_log(self, *, limit: int = 200) -> pd.DataFrame:
        """The newest alerts: key, kind, when, status, attempts, last error, when sent."""
        with self.cursor() as cur:
            return cur.execute(
                "SELECT event_key, kind, created_at, status, attempts, last_error, sent_at, "
                "payload FROM alert_log ORDER BY created_at DESC, event_key LIMIT ?",
                [limit],
            ).df()
