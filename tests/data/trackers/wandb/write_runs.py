import time

import wandb

# Known values, so that tests compute what they expect: the best val/f1 is not the last.
runs = {
    "whisper-ft-1": {"val/f1": [0.70, 0.86, 0.81, 0.84], "val/wer": [0.30, 0.12, 0.20, 0.15]},
    "whisper-ft-2": {"val/f1": [0.72, 0.78, 0.83, 0.80], "val/wer": [0.28, 0.22, 0.17, 0.19]},
}
for name, series in runs.items():
    run = wandb.init(
        project="asr",
        name=name,
        config={"model": "whisper-small", "lr": 3e-4, "seed": int(name[-1])},
        mode="offline",
        dir="/tmp/gen/wb2",
        tags=["speech"],
    )
    for step in range(4):
        run.log(
            {
                "val/f1": series["val/f1"][step],
                "val/wer": series["val/wer"][step],
                "train/loss": 1.0 / (step + 1),
                "latency_ms": 40.0,
            },
            step=step,
        )
        time.sleep(0.5)
    run.finish()
