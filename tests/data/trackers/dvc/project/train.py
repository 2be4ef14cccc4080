import json
import time

import yaml

p = yaml.safe_load(open("params.yaml"))["train"]
time.sleep(1)
f1 = round(0.8 + 10 * p["lr"] * (p["lr"] < 0.05), 4)
json.dump(
    {"val": {"f1": f1, "accuracy": f1 + 0.02}, "latency_ms": 21.0, "training_hours": 1.5},
    open("metrics.json", "w"),
)
