"""Recounts of one batch on PostgreSQL, serialized two ways (#31): the advisory lock per
batch that is built, or SERIALIZABLE with the store's retries (the alternative, patched in
here). Two replicas delete 2,000 runs each of one 200k-run batch at the same moment, 3
rounds, each way twice; one JSON line per try: the deletes' seconds, and integrity.

    python tests/benchmarks/pg_recounts.py
"""

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from mlprod.store import Store  # noqa: E402
from tests.conftest import scored_rows  # noqa: E402
from tests.pg_server import PostgresServer  # noqa: E402

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[5])
mode, me, uri, t0 = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
from mlprod.store import Store
from mlprod.store import dialect, postgres
if mode == "serializable":
    dialect.POSTGRES.lock_batches = lambda cur, batches: None
    real = postgres.PostgresCursor.execute
    def execute(self, sql, *a, **k):
        if sql == "BEGIN TRANSACTION":
            sql = "BEGIN ISOLATION LEVEL SERIALIZABLE"
        return real(self, sql, *a, **k)
    postgres.PostgresCursor.execute = execute
with Store(uri) as s:
    for r in range(3):
        time.sleep(max(0, t0 + r * 2.5 - time.time()))
        mine = [1_000_000_000 + r * 20_000 + me * 10_000 + i for i in range(0, 10_000, 5)]
        began = time.perf_counter()
        n = len(s.soft_delete(mine, by=f"r{me}"))
        print(n, round(time.perf_counter() - began, 3), flush=True)
"""
server = PostgresServer()
try:
    for mode in ("lock", "serializable", "lock", "serializable"):
        uri = server.database()
        with Store(uri) as s:
            s.append_calculations(scored_rows(200_000), source="cli")
        t0 = time.time() + 3
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, mode, str(me), uri, str(t0), str(ROOT)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for me in (0, 1)
        ]
        out = [p.communicate(timeout=300) for p in procs]
        times = sorted(float(line.split()[1]) for o, _ in out for line in o.splitlines())
        counts = [int(line.split()[0]) for o, _ in out for line in o.splitlines()]
        with Store(uri) as s:
            ok = s.integrity()["rollup_mismatches"] == 0
        print(
            json.dumps(
                {
                    "mode": mode,
                    "seconds": times,
                    "deleted": sum(counts),
                    "integrity_ok": ok,
                    "errors": [e[-200:] for _, e in out if e.strip()],
                }
            )
        )
        server.drop(uri)
finally:
    server.stop()
    server.remove()
