import os
import time

import wandb

run = wandb.init(
    project="asr",
    name="whisper-ft-crashed",
    config={"model": "whisper-small"},
    mode="offline",
    dir="/tmp/gen/wb2",
)
for step in range(3):
    run.log({"val/f1": 0.6 + step / 100})
time.sleep(2)
os._exit(1)
